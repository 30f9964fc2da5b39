"""storage "csr" in the runtime (docs/FORMAT.md): FullyConnected and 1x1 Conv2D with CSR
(or 4x1-blocked) weights give bit-identical outputs to the same weights stored dense, on
every ISA variant and thread count; a malformed CSR structure is refused at load."""
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


def _model(rng, storage, block=1, sparsity=0.8):
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
        ptr, idx, val = K.dense_to_csr(d["weight"])
        out = {k: v for k, v in d.items() if k != "weight"}
        out.update(weight_indptr=ptr, weight_indices=idx, weight_values=val)
        return out, {"storage": "csr", "k": int(d["weight"].shape[1]), "block": block}

    cc, ca = consts(conv, True)
    g.node("Conv2D", "conv", ["x"], ["c"], cc, stride=[1, 1], padding=[0, 0, 0, 0],
           dilation=[1, 1], groups=1, qmin=-7, qmax=127, **ca)
    g.node("Reshape", "flat", ["c"], ["f"])
    fcc, fca = consts(fc, False)
    g.node("FullyConnected", "fc", ["f"], ["y"], fcc, qmin=-128, qmax=127, **fca)
    g.output("y")
    return g


@pytest.mark.parametrize("block", [1, 4])
def test_csr_bit_identical_to_dense(isa, tmp_path, block):
    dense = _model(5, "dense").save(str(tmp_path / "d.qmodel"))
    sparse = _model(5, "csr", block).save(str(tmp_path / "s.qmodel"))
    x = np.random.default_rng(2).integers(-128, 128, size=(2, 5, 3, 37), dtype=np.int8)
    want = qengine.load(dense, num_threads=1).run(x, raw=True)
    for threads in (1, 2, 3):
        m = qengine.load(sparse, num_threads=threads)
        np.testing.assert_array_equal(m.run(x, raw=True), want)


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


def test_csr_conv_must_be_pointwise(tmp_path):
    g = _model(5, "csr")
    conv = next(n for n in g.nodes if n["op"] == "Conv2D")
    conv["attrs"]["stride"] = [2, 2]
    with pytest.raises(ModelFormatError, match="1x1"):
        qengine.load(g.save(str(tmp_path / "bad.qmodel")))
