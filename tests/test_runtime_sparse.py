"""storage "csr" and "kb4" in the runtime (docs/FORMAT.md): FullyConnected and 1x1 Conv2D
with CSR (or 4x1-blocked) or 1x4 K-blocked weights give bit-identical outputs to the same
weights stored dense, on every ISA variant and thread count, also when `run: "dense"`
expands them at load; a malformed sparse structure is refused at load."""
import numpy as np
import pytest

import qengine
from qengine import ModelFormatError
from qengine import kernels as K
from qengine.builder import GraphBuilder

from modelgen import random_fc


def _sparse(w, rng, sparsity):
    w = w.copy()
    w[rng.random(w.shape) < sparsity] = 0
    return w


def _model(rng, storage, block=1, sparsity=0.8, run=None):
    """1x1 conv (ReLU) -> reshape -> FC on [2, 5, 3, C]: both layers sparse or dense."""
    rng = np.random.default_rng(rng)
    b, h, w_, c, o, n = 2, 5, 3, 37, 19, 11
    g = GraphBuilder()
    g.input("x", (b, h, w_, c), 0.05, 3)
    conv = random_fc(rng, c, o, 3)
    conv["weight"] = _sparse(conv["weight"], rng, sparsity)
    fc = random_fc(rng, h * w_ * o, n, -7)
    fc["weight"] = _sparse(fc["weight"], rng, sparsity)
    g.value("c", (b, h, w_, o), 0.1, -7)
    g.value("f", (b, h * w_ * o), 0.1, -7)
    g.value("y", (b, n), 0.2, 1)

    def consts(d, conv):
        if storage == "dense":
            wd = d["weight"].reshape(d["weight"].shape + ((1, 1, 1) if conv else ()))
            wd = wd.reshape((wd.shape[0], 1, 1, -1)) if conv else wd
            return dict(d, weight=wd), {}
        out = {k: v for k, v in d.items() if k != "weight"}
        attrs = {"k": int(d["weight"].shape[1])} if run is None else \
            {"k": int(d["weight"].shape[1]), "run": run}
        if storage == "kb4":
            ptr, idx, val = K.dense_to_kblock(d["weight"])
            out.update(weight_kptr=ptr, weight_kindices=idx, weight_kvalues=val)
            return out, dict(attrs, storage="kb4")
        ptr, idx, val = K.dense_to_csr(d["weight"])
        out.update(weight_indptr=ptr, weight_indices=idx, weight_values=val)
        return out, dict(attrs, storage="csr", block=block)

    cc, ca = consts(conv, True)
    g.node("Conv2D", "conv", ["x"], ["c"], cc, stride=[1, 1], padding=[0, 0, 0, 0],
           dilation=[1, 1], groups=1, qmin=-7, qmax=127, **ca)
    g.node("Reshape", "flat", ["c"], ["f"])
    fcc, fca = consts(fc, False)
    g.node("FullyConnected", "fc", ["f"], ["y"], fcc, qmin=-128, qmax=127, **fca)
    g.output("y")
    return g


@pytest.mark.parametrize("storage,block,run", [("csr", 1, None), ("csr", 4, None),
                                               ("kb4", 1, None), ("csr", 1, "dense"),
                                               ("kb4", 1, "dense"), ("kb4", 1, "sparse")])
@pytest.mark.parametrize("sparsity", [0.0, 0.8, 1.0])
def test_sparse_bit_identical_to_dense(isa, tmp_path, storage, block, run, sparsity):
    dense = _model(5, "dense", sparsity=sparsity).save(str(tmp_path / "d.qmodel"))
    sparse = _model(5, storage, block, sparsity, run).save(str(tmp_path / "s.qmodel"))
    x = np.random.default_rng(2).integers(-128, 128, size=(2, 5, 3, 37), dtype=np.int8)
    want = qengine.load(dense, num_threads=1).run(x, raw=True)
    for threads in (1, 2, 3):
        m = qengine.load(sparse, num_threads=threads)
        np.testing.assert_array_equal(m.run(x, raw=True), want)
        kernels = " ".join(r[2] for r in m.profile(x.astype(np.float32), runs=1))
        assert ("spmm" in kernels) == (run != "dense"), kernels


def test_kb4_block_pruned_conv_bit_identical(isa, tmp_path):
    """1x4-block-pruned weights (most channels empty) through the kb4 step."""
    rng = np.random.default_rng(3)
    g = {}
    for storage in ("dense", "kb4"):
        b = _model(5, storage, sparsity=0.0)
        for node in b.nodes:
            roles = node["constants"]
            if storage == "dense" and "weight" in roles:
                w = b.constants[roles["weight"]]
                b.constants[roles["weight"]] = K.kblock_prune(
                    w.reshape(w.shape[0], -1), 0.9).reshape(w.shape)
        g[storage] = b
    # the kb4 model's weights come from the pruned dense ones
    for nd, ns in zip(g["dense"].nodes, g["kb4"].nodes):
        if "weight" in nd["constants"]:
            w = g["dense"].constants[nd["constants"]["weight"]]
            ptr, idx, val = K.dense_to_kblock(w.reshape(w.shape[0], -1))
            for role, arr in (("weight_kptr", ptr), ("weight_kindices", idx),
                              ("weight_kvalues", val)):
                g["kb4"].constants[ns["constants"][role]] = arr
    x = rng.integers(-128, 128, size=(2, 5, 3, 37), dtype=np.int8)
    want = qengine.load(g["dense"].save(str(tmp_path / "d.qmodel"))).run(x, raw=True)
    path = g["kb4"].save(str(tmp_path / "s.qmodel"))
    for threads in (1, 2):
        np.testing.assert_array_equal(qengine.load(path, num_threads=threads).run(x, raw=True),
                                      want)


def test_csr_profile_names_the_sparse_kernel(tmp_path):
    path = _model(5, "csr").save(str(tmp_path / "s.qmodel"))
    m = qengine.load(path)
    text = str(m.profile(np.zeros((2, 5, 3, 37), np.float32), runs=1))
    assert "qe_qs8_spmm_minmax" in text


def _edit_csr(tmp_path, fn):
    g = _model(5, "csr")
    node = next(n for n in g.nodes if n["op"] == "FullyConnected")
    fn(g, node)
    return g.save(str(tmp_path / "bad.qmodel"))


def _const(g, node, role):
    return g.constants[node["constants"][role]]


def _set(g, node, role, arr):
    g.constants[node["constants"][role]] = arr


def _with(role, fn):
    return lambda g, n: _set(g, n, role, fn(_const(g, n, role)))


BAD = [
    ("indptr not monotone", _with("weight_indptr", lambda p: _swap(p)), "non-decreasing"),
    ("indptr end", _with("weight_indptr", lambda p: p // 2), "must equal len"),
    ("index out of range", _with("weight_indices", lambda i: i + 600), "must lie in"),
    ("unsorted", _with("weight_indices", lambda i: i[::-1].copy()), "strictly increasing"),
    ("index dtype", _with("weight_indices", lambda i: i.astype(np.int16)), "uint16"),
    ("values length", _with("weight_values", lambda v: v[1:].copy()), "shape"),
    ("value -128", _with("weight_values", lambda v: np.full_like(v, -128)), "-128"),
    ("k attr", lambda g, n: n["attrs"].__setitem__("k", 3), "'k'"),
    ("block attr", lambda g, n: n["attrs"].__setitem__("block", 3), "block"),
    ("missing role", lambda g, n: n["constants"].pop("weight_values"), "weight_values"),
    ("bias length", _with("bias", lambda b: b[1:].copy()), "'bias' has shape"),
]


def _swap(ptr):
    ptr = ptr.copy()
    ptr[3], ptr[4] = ptr[4], ptr[3] - 1
    return ptr


@pytest.mark.parametrize("case,fn,match", BAD, ids=[b[0] for b in BAD])
def test_malformed_csr_refused(tmp_path, case, fn, match):
    path = _edit_csr(tmp_path, fn)
    with pytest.raises(ModelFormatError, match=match):
        qengine.load(path)


def _edit_kb4(tmp_path, fn, op="FullyConnected"):
    g = _model(5, "kb4", sparsity=0.5)
    node = next(n for n in g.nodes if n["op"] == op)
    fn(g, node)
    return g.save(str(tmp_path / "bad.qmodel"))


def _kb4_tail(g, n):
    """a nonzero weight past K in the last block of a conv row (K = 37: 3 padding columns)"""
    ptr, idx, val = (_const(g, n, r) for r in ("weight_kptr", "weight_kindices",
                                               "weight_kvalues"))
    val = val.copy()
    val[idx == idx.max(), 3] = 5
    _set(g, n, "weight_kvalues", val)


BAD_KB4 = [
    ("kptr not monotone", _with("weight_kptr", lambda p: _swap(p)), "non-decreasing"),
    ("kptr end", _with("weight_kptr", lambda p: p // 2), "must equal len"),
    ("kptr length", _with("weight_kptr", lambda p: p[1:].copy()), "'bias' has shape|kptr"),
    ("block index out of range", _with("weight_kindices", lambda i: i + 600), "must lie in"),
    ("unsorted", _with("weight_kindices", lambda i: i[::-1].copy()), "strictly increasing"),
    ("index dtype", _with("weight_kindices", lambda i: i.astype(np.int16)), "uint16"),
    ("values shape", _with("weight_kvalues", lambda v: v[:, :3].copy()), "shape"),
    ("value -128", _with("weight_kvalues", lambda v: np.full_like(v, -128)), "-128"),
    ("k attr", lambda g, n: n["attrs"].__setitem__("k", 3), "'k'"),
    ("missing role", lambda g, n: n["constants"].pop("weight_kvalues"), "weight_kvalues"),
    ("dense weight too", lambda g, n: n["constants"].__setitem__(
        "weight", g.const("extra", np.zeros((11, 285), np.int8))), "not a dense"),
    ("run attr", lambda g, n: n["attrs"].__setitem__("run", "fast"), "'run'"),
    ("storage attr", lambda g, n: n["attrs"].__setitem__("storage", "kb8"), "storage"),
]


@pytest.mark.parametrize("case,fn,match", BAD_KB4, ids=[b[0] for b in BAD_KB4])
def test_malformed_kb4_refused(tmp_path, case, fn, match):
    with pytest.raises(ModelFormatError, match=match):
        qengine.load(_edit_kb4(tmp_path, fn))


def test_kb4_values_past_k_refused(tmp_path):
    with pytest.raises(ModelFormatError, match="past K"):
        qengine.load(_edit_kb4(tmp_path, _kb4_tail, op="Conv2D"))


def test_csr_conv_must_be_pointwise(tmp_path):
    g = _model(5, "csr")
    conv = next(n for n in g.nodes if n["op"] == "Conv2D")
    conv["attrs"]["stride"] = [2, 2]
    with pytest.raises(ModelFormatError, match="1x1"):
        qengine.load(g.save(str(tmp_path / "bad.qmodel")))
