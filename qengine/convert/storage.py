"""Per-layer weight storage of the written model: dense, CSR (docs/FORMAT.md
`storage: "csr"`, run as CSR or as 4x1 blocks) or 1x4 K-blocks (`storage: "kb4"`), chosen
by the cost model (costmodel.py) so that sparsity is used only where it makes the layer
faster.

    chosen = choose_storage(builder)        # edits the GraphBuilder's nodes in place
    chosen["fc1"] -> ("csr", 1234)          # storage, bytes of the weight arrays

policy: "auto" (default): the kernel the cost model predicts fastest; where that is the
dense kernel but a sparse format is smaller than dense, the layer is stored in that format
with attrs `run: "dense"` (the loader expands it and runs the dense kernel: the small file
without the slow kernel; storage shown as e.g. "csr>dense"). "dense": never sparse.
"sparse": the smallest of CSR and kb4 wherever it is smaller than dense, run by the sparse
kernels whatever the speed.
"""
import math

from qengine import kernels as K
from qengine import _native
from qengine.convert import costmodel

POLICIES = ("auto", "dense", "sparse")


def sparse_capable(node):
    """FullyConnected, or a 1x1 stride-1 unpadded groups-1 Conv2D (docs/FORMAT.md)."""
    a = node["attrs"]
    if node["op"] == "FullyConnected":
        return True
    return node["op"] == "Conv2D" and a.get("groups", 1) == 1 and \
        a.get("stride") == [1, 1] and a.get("padding") == [0, 0, 0, 0] and \
        a.get("dilation", [1, 1]) == [1, 1]


def choose_storage(builder, policy="auto", isa=None):
    """Rewrite eligible weighted nodes of `builder` to CSR where `policy` says so; returns
    {node name: (storage, weight bytes)} for every FullyConnected / Conv2D."""
    if policy not in POLICIES:
        raise ValueError(f"storage={policy!r}: choose one of {', '.join(POLICIES)}")
    isa = isa or _native.isa_selected()
    out = {}
    for node in builder.nodes:
        if node["op"] not in ("FullyConnected", "Conv2D") or "weight" not in node["constants"]:
            continue
        w = builder.constants[node["constants"]["weight"]]
        dense_bytes = int(w.size)
        if not sparse_capable(node) or policy == "dense":
            out[node["name"]] = ("dense", dense_bytes)
            continue
        w2 = w.reshape(w.shape[0], -1)
        sizes = K.sparse_storage(w2)
        sizes["kb4"] = sizes["kblock1x4"]
        rows = math.prod(builder.values[node["inputs"][0]]["shape"][:-1])
        smallest = min(("dense", "csr", "kb4"), key=lambda f: sizes[f])
        run_dense = False
        if policy == "sparse":
            fmt = smallest
        else:
            fmt, _ = costmodel.choose(w2, rows, isa)
            if fmt == "dense" and smallest != "dense":
                fmt, run_dense = smallest, True
        if fmt == "dense":
            out[node["name"]] = ("dense", dense_bytes)
            continue
        if fmt == "kb4":
            _to_kb4(builder, node, w2)
        else:
            _to_csr(builder, node, w2, block=4 if fmt == "csr4x1" else 1)
        if run_dense:
            node["attrs"]["run"] = "dense"
        out[node["name"]] = (fmt + (">dense" if run_dense else ""),
                             int(sizes["kb4" if fmt == "kb4" else "csr"]))
    return out


def _replace_weight(builder, node, arrays):
    del builder.constants[node["constants"].pop("weight")]
    for role, arr in arrays.items():
        node["constants"][role] = builder.const(f"{node['name']}.{role}", arr)


def _to_csr(builder, node, w2, block):
    ptr, idx, val = K.dense_to_csr(w2)
    _replace_weight(builder, node, {"weight_indptr": ptr, "weight_indices": idx,
                                    "weight_values": val})
    node["attrs"].update(storage="csr", k=int(w2.shape[1]), block=block)


def _to_kb4(builder, node, w2):
    ptr, idx, val = K.dense_to_kblock(w2)
    _replace_weight(builder, node, {"weight_kptr": ptr, "weight_kindices": idx,
                                    "weight_kvalues": val})
    node["attrs"].update(storage="kb4", k=int(w2.shape[1]))
