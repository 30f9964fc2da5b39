"""Fuzz the .qmodel loader: mutations of valid files end in ModelFormatError or a clean
run, never a crash, hang, other exception or huge allocation.

Run by tests/test_fuzz.py in a subprocess (a crash then fails that test instead of killing
pytest):  python tests/fuzz_loader.py WORKDIR [EXAMPLES]
Mutations: truncation, byte flips, splices, character edits of the header text, and
structured header edits (any field replaced by an adversarial JSON value or deleted; wrong
dtypes, shapes, offsets, sizes; cycles, duplicated, dropped and reordered nodes; missing
tensors; NaN/inf scales; huge but consistent shapes), and edits of constant bytes (weights
-128, m0/sh out of range)."""
import copy
import json
import os
import sys

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qengine  # noqa: E402
from qengine import ModelFormatError  # noqa: E402
from qengine import format as F  # noqa: E402
from qengine.builder import GraphBuilder  # noqa: E402

import modelgen  # noqa: E402
from fuzz_common import limit_memory, report, seeded  # noqa: E402

COUNTS = {}


def seeds(folder):
    """Valid files to mutate: an MLP, a Reshape feeding an FC, and a small CNN (conv,
    depthwise, pools, add, concat, fc, softmax)."""
    rng = np.random.default_rng(7)
    g, _ = modelgen.mlp(rng, sizes=(16, 8, 4), batch=2)
    paths = [g.save(os.path.join(folder, "seed_mlp.qmodel"))]
    g = GraphBuilder()
    g.input("x", (2, 4, 4), 0.1, 3)
    g.value("flat", (2, 16), 0.1, 3)
    g.value("y", (2, 5), 0.2, -7)
    g.node("Reshape", "r", ["x"], ["flat"])
    g.node("FullyConnected", "fc", ["flat"], ["y"], modelgen.random_fc(rng, 16, 5, 3),
           qmin=-7, qmax=127)
    g.output("y")
    paths.append(g.save(os.path.join(folder, "seed_reshape.qmodel")))
    try:
        import netgen
        paths.append(netgen.small_cnn(3).save(os.path.join(folder, "seed_cnn.qmodel")))
    except (ImportError, AttributeError):  # a tree without the runtime's conv ops
        pass
    return [open(p, "rb").read() for p in paths]


def split(raw):
    _, _, _, _, hlen, data_off, _ = F.PREAMBLE.unpack_from(raw, 0)
    return json.loads(raw[64:64 + hlen]), raw[data_off:]


def join(header, data, text=None):
    """A file with `header` (verbatim, NaN allowed) over the data section `data`."""
    blob = text if text is not None else json.dumps(header).encode()
    off = (64 + len(blob) + 63) // 64 * 64
    pre = F.PREAMBLE.pack(F.MAGIC, 1, 0, 0, len(blob), off, off + len(data))
    return pre + blob + b"\0" * (off - 64 - len(blob)) + data


def paths_of(obj, prefix=()):
    """Every path into the JSON tree (dict keys and list indices)."""
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += paths_of(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += paths_of(v, prefix + (i,))
    return out


def get(obj, path):
    for k in path:
        obj = obj[k]
    return obj


ODD_INTS = st.sampled_from([-1, 0, 1, 3, 7, 63, 64, 65, 255, 2**31 - 1, 2**31, 2**32,
                            2**62, 2**63, 2**64, -2**63, 10**30, -(10**30)])
ODD_FLOATS = st.sampled_from([float("nan"), float("inf"), float("-inf"), 0.0, -0.0, 1e-45,
                              1e308, -1.0, 0.5])
LEAF = st.one_of(ODD_INTS, st.integers(-300, 300), ODD_FLOATS, st.booleans(), st.none(),
                 st.sampled_from(["", "int8", "int4", "float64", "FullyConnected",
                                  "Reshape", "x", "h1", "fc1.weight", "csr", "dense"]),
                 st.text(max_size=4))
ADVERSARIAL = st.recursive(LEAF, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=3), kids, max_size=3)),
    max_leaves=8)


def structured(data, header):
    """One structured edit of the header (a deep copy)."""
    h = copy.deepcopy(header)
    kind = data.draw(st.sampled_from(
        ["replace", "replace", "delete", "cycle", "dup_node", "drop_node", "shuffle",
         "missing", "scale", "huge_batch", "huge_shape", "add_key"]), label="edit")
    nodes = h.get("nodes", [])
    if kind in ("replace", "delete"):
        paths = [p for p in paths_of(h) if p]
        path = data.draw(st.sampled_from(paths), label="path")
        parent = get(h, path[:-1])
        if kind == "replace":
            parent[path[-1]] = data.draw(ADVERSARIAL, label="value")
        elif isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent.pop(path[-1])
    elif kind == "cycle" and nodes:
        i = data.draw(st.integers(0, len(nodes) - 1))
        j = data.draw(st.integers(i, len(nodes) - 1))
        nodes[i]["inputs"] = list(nodes[j]["outputs"])     # reads itself or a later value
    elif kind == "dup_node" and nodes:
        nodes.insert(data.draw(st.integers(0, len(nodes))),
                     copy.deepcopy(data.draw(st.sampled_from(nodes))))
    elif kind == "drop_node" and nodes:
        nodes.pop(data.draw(st.integers(0, len(nodes) - 1)))
    elif kind == "shuffle" and nodes:
        h["nodes"] = data.draw(st.permutations(nodes))
    elif kind == "missing":
        refs = [(n, r) for n in nodes for r in n.get("constants", {})]
        if refs:
            n, r = data.draw(st.sampled_from(refs))
            n["constants"][r] = data.draw(st.sampled_from(["nope", "", n["constants"][r] + "x"]))
        elif h.get("constants"):
            h["constants"].pop(next(iter(h["constants"])))
    elif kind == "scale":
        v = data.draw(st.sampled_from(sorted(h["values"])))
        h["values"][v]["scale"] = data.draw(ODD_FLOATS)
    elif kind == "huge_batch":
        # consistent shapes (every value's batch scaled): valid graph, absurd arena
        b = data.draw(st.sampled_from([2**20, 2**26, 2**30, 2**31 - 1]))
        for v in h["values"].values():
            v["shape"][0] = b
    elif kind == "huge_shape":
        v = data.draw(st.sampled_from(sorted(h["values"])))
        h["values"][v]["shape"] = data.draw(st.lists(
            st.sampled_from([0, 1, 2**16, 2**31 - 1, 2**31]), min_size=0, max_size=9))
    else:  # add_key
        path = data.draw(st.sampled_from([p for p in paths_of(h)
                                          if isinstance(get(h, p), dict)]))
        get(h, path)[data.draw(st.text(max_size=6))] = data.draw(ADVERSARIAL)
    return h


def constant_bytes(data, header, body):
    """Overwrite one constant element with an edge value (weights -128, sh 0/63, m0 < 0)."""
    table = header["constants"]
    name = data.draw(st.sampled_from(sorted(table)))
    c = table[name]
    arr = np.frombuffer(body, np.dtype(F.DTYPES[c["dtype"]]), count=c["nbytes"] //
                        np.dtype(F.DTYPES[c["dtype"]]).itemsize, offset=c["offset"]).copy()
    if arr.size:
        info = np.iinfo(arr.dtype) if arr.dtype.kind in "iu" else None
        edge = [info.min, info.max, 0, -1, 63] if info else [np.nan, np.inf]
        arr[data.draw(st.integers(0, arr.size - 1))] = data.draw(st.sampled_from(edge))
    b = bytearray(body)
    b[c["offset"]:c["offset"] + c["nbytes"]] = arr.tobytes()
    return bytes(b)


def attempt(blob, out):
    with open(out, "wb") as f:
        f.write(blob)
    try:
        m = qengine.load(out)
    except ModelFormatError:
        return "refused"
    # a file that loads must also run cleanly, raw and from floats (unless its inputs
    # are too big for this harness to build; the loader's memory limit is tested apart)
    if sum(i.size for i in m.inputs) > 1 << 22:
        return "loaded"
    m.run({i.name: np.zeros(i.shape, i.dtype) for i in m.inputs}, raw=True)
    m.run({i.name: np.full(i.shape, np.nan, np.float32) for i in m.inputs})
    return "ran"


def main(folder, examples):
    limit_memory()
    raws = seeds(folder)
    out = os.path.join(folder, "mutant.qmodel")
    for raw in raws:
        assert attempt(raw, out) == "ran"

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def fuzz(data):
        raw = raws[data.draw(st.integers(0, len(raws) - 1), label="seed")]
        kind = data.draw(st.sampled_from(["truncate", "flip", "splice", "text", "json",
                                          "json", "json", "const"]), label="kind")
        header, body = split(raw)
        b = bytearray(raw)
        if kind == "truncate":
            del b[data.draw(st.integers(0, len(b) - 1)):]
        elif kind == "flip":
            for _ in range(data.draw(st.integers(1, 8))):
                b[data.draw(st.integers(0, len(b) - 1))] = data.draw(st.integers(0, 255))
        elif kind == "splice":
            i = data.draw(st.integers(0, len(b) - 1))
            b[i:i] = data.draw(st.binary(min_size=1, max_size=32))
        elif kind == "text":
            text = bytearray(json.dumps(header).encode())
            for _ in range(data.draw(st.integers(1, 4))):
                i = data.draw(st.integers(0, len(text) - 1))
                text[i] = data.draw(st.sampled_from(b'0123456789-[]{}",:.eNa\\\x00\xff'))
            b = join(None, body, bytes(text))
        elif kind == "json":
            b = join(structured(data, header), body)
        else:
            b = join(header, constant_bytes(data, header, body))
        result = attempt(bytes(b), out)
        COUNTS[f"{kind}:{result}"] = COUNTS.get(f"{kind}:{result}", 0) + 1

    seeded(fuzz)()
    report("loader", COUNTS)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 300)
