"""Fuzz the converter with malformed or adversarial ONNX files: each ends in a clear error
(UnsupportedOpError, ModelFormatError or another ValueError) or a clean conversion, the
input file is never modified, and no partial output file is left behind.

    python tests/fuzz_convert.py WORKDIR [EXAMPLES]
Stages fuzzed: import_onnx (read, constant folding, canonicalisation), calibrate and
quantize_graph; and qengine.convert.convert() when it exists. Mutations: truncated and
byte-flipped protobuf, wrong initializer shapes, cycles, missing inputs, unknown ops,
absurd attributes (zero or negative strides, huge kernels and pads, group 0, ...)."""
import hashlib
import os
import sys

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx  # noqa: E402
from onnx import helper, numpy_helper  # noqa: E402

import qengine  # noqa: E402
from qengine import convert as C  # noqa: E402
from fuzz_common import limit_memory, report, seeded  # noqa: E402

DATA = os.path.join(os.path.dirname(qengine.__file__), "data")
SEEDS = ["digits_mlp.onnx", "digits_cnn.onnx"]
COUNTS = {}
ODD_INTS = [0, -1, -2**31, 2**31 - 1, 2**40, 3, 1000]


def mutate_structure(data, m):
    """One structured edit of ModelProto m (in place)."""
    g = m.graph
    kind = data.draw(st.sampled_from(["init_shape", "cycle", "missing_input", "unknown_op",
                                      "attr", "drop_node", "dup_output", "no_inputs",
                                      "init_dtype", "opset"]), label="edit")
    nodes = list(g.node)
    node = data.draw(st.sampled_from(nodes), label="node") if nodes else None
    if kind == "init_shape" and g.initializer:
        t = data.draw(st.sampled_from(list(g.initializer)), label="initializer")
        arr = numpy_helper.to_array(t)
        shape = data.draw(st.sampled_from([(arr.size,), (1,) + arr.shape, arr.shape[::-1],
                                           (arr.size // 2,) if arr.size > 1 else (0,)]))
        flat = arr.reshape(-1)[:int(np.prod(shape))]
        t.CopyFrom(numpy_helper.from_array(flat.reshape(shape), t.name))
    elif kind == "init_dtype" and g.initializer:
        t = data.draw(st.sampled_from(list(g.initializer)), label="initializer")
        dt = data.draw(st.sampled_from([np.int64, np.float64, np.int8, np.bool_, np.float16]))
        t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(dt), t.name))
    elif kind == "cycle" and node is not None:
        later = nodes[data.draw(st.integers(nodes.index(node), len(nodes) - 1))]
        node.input[0] = later.output[0]
    elif kind == "missing_input" and node is not None:
        node.input[data.draw(st.integers(0, len(node.input) - 1))] = "does_not_exist"
    elif kind == "unknown_op" and node is not None:
        node.op_type = data.draw(st.sampled_from(["Frobnicate", "LSTM", "Loop", "", "conv"]))
    elif kind == "attr" and node is not None:
        name = data.draw(st.sampled_from(["strides", "pads", "kernel_shape", "dilations",
                                          "group", "axis", "transB", "alpha", "beta"]))
        ints = name in ("strides", "pads", "kernel_shape", "dilations")
        count = data.draw(st.integers(1, 5))
        if ints:
            value = [data.draw(st.sampled_from(ODD_INTS)) for _ in range(count)]
        elif name in ("alpha", "beta"):
            value = data.draw(st.sampled_from([float("nan"), float("inf"), 0.0, -1.0, 1e30]))
        else:
            value = data.draw(st.sampled_from(ODD_INTS))
        keep = [a for a in node.attribute if a.name != name]
        del node.attribute[:]
        node.attribute.extend(keep + [helper.make_attribute(name, value)])
    elif kind == "drop_node" and node is not None:
        g.node.remove(node)
    elif kind == "dup_output" and len(nodes) > 1:
        nodes[0].output[0] = nodes[-1].output[0]
    elif kind == "no_inputs":
        del g.input[:]
    elif kind == "opset":
        m.opset_import[0].version = data.draw(st.sampled_from([1, 6, 10, 99]))
    return kind


def run_converter(path, out, calib):
    g = C.import_onnx(path)
    ranges = C.calibrate(g, calib, method="minmax")
    C.quantize_graph(g, ranges)
    if hasattr(C, "convert"):
        C.convert(path, out, calibration=calib, recover=False)


def main(folder, examples):
    limit_memory()
    seeds = [open(os.path.join(DATA, s), "rb").read() for s in SEEDS]
    digits = np.load(os.path.join(DATA, "digits.npz"))
    calib = digits[digits.files[0]][:16].astype(np.float32)
    src = os.path.join(folder, "in.onnx")
    out = os.path.join(folder, "out.qmodel")

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def fuzz(data):
        seed = data.draw(st.integers(0, len(seeds) - 1), label="seed")
        kind = data.draw(st.sampled_from(["truncate", "flip", "structure", "structure"]),
                         label="kind")
        raw = seeds[seed]
        if kind == "truncate":
            blob = raw[:data.draw(st.integers(0, len(raw) - 1))]
        elif kind == "flip":
            b = bytearray(raw)
            for _ in range(data.draw(st.integers(1, 6))):
                b[data.draw(st.integers(0, len(b) - 1))] = data.draw(st.integers(0, 255))
            blob = bytes(b)
        else:
            m = onnx.load_from_string(raw)
            kind = "structure:" + mutate_structure(data, m)
            blob = m.SerializeToString()
        with open(src, "wb") as f:
            f.write(blob)
        before = hashlib.sha256(blob).hexdigest()
        if os.path.exists(out):
            os.unlink(out)
        x = calib.reshape((len(calib), 1, 8, 8)) if seed == 1 else calib
        try:
            run_converter(src, out, x)
            result = "converted"
        except (qengine.UnsupportedOpError, ValueError) as exc:
            assert str(exc).strip(), "an error without a message"
            result = "refused"
            assert not os.path.exists(out), "a failed conversion left an output file"
        except Exception as exc:
            if not os.environ.get("QENGINE_FUZZ_SURVEY"):
                raise
            import traceback
            tb = traceback.extract_tb(exc.__traceback__)[-1]
            result = f"BUG {type(exc).__name__} {os.path.basename(tb.filename)}:{tb.lineno}"
        with open(src, "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == before, "the input was modified"
        leftovers = [p for p in os.listdir(folder) if p not in ("in.onnx", "out.qmodel")]
        assert not leftovers, f"temporary files left behind: {leftovers}"
        COUNTS[f"{kind}:{result}"] = COUNTS.get(f"{kind}:{result}", 0) + 1

    seeded(fuzz)()
    report("convert", COUNTS)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 100)
