"""The per-layer time model that picks dense or sparse storage (docs/SPARSE.md, "Cost
model"). Every constant lives here; refit them with `python -m benchmarks.sparse_cost_model
[--isa NAME]` after a kernel changes and paste the printed numbers.

Times in ns for one call, single thread, warm caches; Mp = round_up(M, 32), P = packed
pairs of nonzeros (about nnz/2 + half a dummy per row for CSR; pairs of 4x1 blocks for
block 4):
    sparse, M >= 4:  c_in * Mp*K + c_out * Mp*N + c_pair * Mp*P
    sparse, M < 4:   c_mv_pair * M*P + c_mv_out * M*N
    dense:           c_mac * M*N*K + c_dout * M*N
"""
import numpy as np

# fitted on an x86 machine with AVX-512 VNNI (2 shared cores), MobileNetV2 1x1 layers at
# 0-95% sparsity (benchmarks/sparse_cost_model.py)
CONSTANTS = {
    "avx512vnni": {
        "csr": dict(c_in=0.0751, c_out=0.1855, c_pair=0.0343, c_mv_pair=0.468, c_mv_out=2.62),
        "csr4x1": dict(c_in=0.0846, c_out=0.2017, c_pair=0.0572, c_mv_pair=1.005, c_mv_out=0.0),
        "dense": dict(c_mac=0.00306, c_dout=0.147),
    },
    "avx2": {
        "csr": dict(c_in=0.0683, c_out=0.1938, c_pair=0.0647, c_mv_pair=0.518, c_mv_out=1.728),
        "csr4x1": dict(c_in=0.0725, c_out=0.2024, c_pair=0.1357, c_mv_pair=1.08, c_mv_out=0.0),
        "dense": dict(c_mac=0.01316, c_dout=0.2952),
    },
}
# ISAs without their own fit use the closest one (NEON: 16-bit products like AVX2)
FALLBACK = {"scalar": "avx2", "neon": "avx2", "neondot": "avx2"}
# sparse only where predicted this much faster than dense (the model errs by up to ~30%)
MARGIN = 0.25
MV_MAX_M = 4


def constants(isa):
    return CONSTANTS.get(isa) or CONSTANTS[FALLBACK.get(isa, "avx2")]


def pairs(w, block=1):
    """Packed pairs P of weights W [N, K] (int8, zeros = pruned) for block 1 or 4."""
    nz = w.reshape(w.shape[0], -1) != 0
    if block == 4:
        pad = np.zeros((-(-nz.shape[0] // 4) * 4, nz.shape[1]), bool)
        pad[:nz.shape[0]] = nz
        per_row = pad.reshape(-1, 4, nz.shape[1]).any(axis=1).sum(axis=1)
    else:
        per_row = nz.sum(axis=1)
    return int(np.sum((per_row + 1) // 2))


def predict(fmt, m, n, k, p, isa):
    """Predicted ns of one call: fmt "dense" | "csr" | "csr4x1"."""
    c = constants(isa)[fmt]
    if fmt == "dense":
        return c["c_mac"] * m * n * k + c["c_dout"] * m * n
    if m < MV_MAX_M:
        return c["c_mv_pair"] * m * p + c["c_mv_out"] * m * n
    mp = -(-m // 32) * 32
    return c["c_in"] * mp * k + c["c_out"] * mp * n + c["c_pair"] * mp * p


def choose(w, m, isa):
    """("dense" | "csr" | "csr4x1", {format: predicted ns}) for int8 weights W [N, K] run on
    M rows: the fastest, sparse only when more than MARGIN faster than dense."""
    n, k = w.shape[0], int(np.prod(w.shape[1:]))
    times = {"dense": predict("dense", m, n, k, 0, isa)}
    if np.count_nonzero(w) < w.size:
        for fmt, block in (("csr", 1), ("csr4x1", 4)):
            times[fmt] = predict(fmt, m, n, k, pairs(w, block), isa)
    best = min(times, key=times.get)
    if best != "dense" and times[best] > (1 - MARGIN) * times["dense"]:
        best = "dense"
    return best, times
