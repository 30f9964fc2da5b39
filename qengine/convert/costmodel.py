"""The per-layer time model that picks dense or sparse storage (docs/SPARSE.md, "Cost
model"). Every constant lives here; refit them with `python -m benchmarks.sparse_cost_model
[--isa NAME]` after a kernel changes and paste the printed numbers.

Times in ns for one call, single thread, warm caches. Mp = round_up(M, 32), P = packed
pairs of nonzeros (about nnz/2 + half a dummy per row for CSR; pairs of 4x1 blocks for
block 4); Mq = round_up(M, 16), B = nonzero 1x4 K-blocks (4 consecutive input channels of
one output channel):
    CSR / 4x1, M >= 4:  c_in * Mp*K + c_out * Mp*N + c_pair * Mp*P
    CSR / 4x1, M < 4:   c_mv_pair * M*P + c_mv_out * M*N
    kb4, M >= 4:        c_call + c_pack * Mq*K + c_out * Mq*N + c_blk * Mq*B
    kb4, M < 4:         c_call + c_mv_blk * M*B + c_mv_out * M*N
    dense, M >= 4:      c_mac * M*Np*Kp + c_dout * M*Np
    dense, M < 4:       c_mv_w * M*N*K   (a matrix-vector product streams W; c_mv_w from
                        the FC layer, N = 1000, K = 1280, timed alone)
Np, Kp = N, K rounded up to the dense kernel's tile (DENSE_TILE), as the constants were
fitted: a dense layer of N = 16 costs what N = 32 costs on AVX-512 (M = 3136, K = 32:
22 us and 27 us; N = 40: 49 us).
The dense and CSR models have no per-call term (fitted without one), the kb4 model has
(c_call): on tiny layers this leans to dense, the safe side.
"""
import numpy as np

# avx512vnni refitted on AMD EPYC (Zen 4, 2 shared cores), 2026-12-06: the CSR, 4x1 and kb4
# (M >= 4) rows are the mean of two runs of benchmarks/sparse_cost_model.py (MobileNetV2 1x1
# layers at 50-95%), the dense row a fit over those layers plus a grid of M in {196, 784,
# 3136}, N in {16, 24, 64, 160}, K in {32, 96, 320} and the 112 x 112 layers (no call term:
# small layers lean dense). The matrix-vector constants (c_mv_*) are the earlier Zen 4 fit.
# avx2: the earlier fit on an Intel machine.
CONSTANTS = {
    "avx512vnni": {
        "csr": dict(c_in=0.066, c_out=0.238, c_pair=0.0366, c_mv_pair=0.468, c_mv_out=2.62),
        "csr4x1": dict(c_in=0.069, c_out=0.217, c_pair=0.071, c_mv_pair=1.005, c_mv_out=0.0),
        "kb4": dict(c_call=730, c_pack=0.0316, c_out=0.1187, c_blk=0.0259, c_mv_blk=0.0866,
                    c_mv_out=4.36),
        "dense": dict(c_mac=0.00481, c_dout=0.1375, c_mv_w=0.0153),
    },
    "avx2": {
        "csr": dict(c_in=0.0683, c_out=0.1938, c_pair=0.0647, c_mv_pair=0.518, c_mv_out=1.728),
        "csr4x1": dict(c_in=0.0725, c_out=0.2024, c_pair=0.1357, c_mv_pair=1.08, c_mv_out=0.0),
        "kb4": dict(c_call=1500, c_pack=0.058, c_out=0.17, c_blk=0.070, c_mv_blk=0.33,
                    c_mv_out=3.3),
        "dense": dict(c_mac=0.01316, c_dout=0.2952, c_mv_w=0.023),
    },
}
# ISAs without their own fit use the closest one (NEON: 16-bit products like AVX2)
FALLBACK = {"scalar": "avx2", "neon": "avx2", "neondot": "avx2"}
# sparse only where predicted this much faster than dense (the model errs by up to ~30% on
# small layers). Chosen on two sets of 200 measured layers (MobileNetV2 1x1 shapes, 50-95%,
# unstructured and 1x4 pruning): the chosen format's total time over the fastest one's was
# 1.011 with these constants and 0.15, against 1.022 with the previous constants and 0.25
MARGIN = 0.15
MV_MAX_M = 4
# sparse formats are for pruned layers: an unpruned one (quantization leaves a few zeros)
# stays dense even where the 1x4 kernel would beat the dense kernel on its dense weights,
# as it does for N < 32 (the AVX-512 dense tile computes 32 columns: M = 4096, N = 8,
# K = 36 takes 34 us dense, 21 us 1x4) -- the dense kernel's gap, not a storage question
MIN_SPARSITY = 0.2
# (NR, KR) of each ISA's dense kernel, qe_qs8_gemm_minmax_<MR>x<NR>c<KR>__<isa>: a layer
# computes and stores N rounded up to NR and K to KR (tests/test_prune.py checks these
# against the kernels of the machine)
DENSE_TILE = {"avx512vnni": (32, 4), "avx2": (16, 2), "neondot": (16, 4), "neon": (4, 16),
              "scalar": (4, 1)}
FORMATS = ("dense", "csr", "csr4x1", "kb4")


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


def kblocks(w):
    """Nonzero 1x4 K-blocks B of weights W [N, K]."""
    nz = w.reshape(w.shape[0], -1) != 0
    n, k = nz.shape
    pad = np.zeros((n, -(-k // 4) * 4), bool)
    pad[:, :k] = nz
    return int(pad.reshape(n, -1, 4).any(axis=2).sum())


def dense_padded(n, k, isa):
    """N and K as the dense kernel of `isa` computes them: rounded up to its tile."""
    nr, kr = DENSE_TILE.get(isa, (1, 1))
    return -(-n // nr) * nr, -(-k // kr) * kr


def predict(fmt, m, n, k, p, isa):
    """Predicted ns of one call: fmt "dense" | "csr" | "csr4x1" | "kb4"; p is P (pairs)
    for csr / csr4x1, B (1x4 blocks) for kb4, unused for dense."""
    c = constants(isa)[fmt]
    if fmt == "dense":
        if m < MV_MAX_M:
            return c["c_mv_w"] * m * n * k
        n, k = dense_padded(n, k, isa)
        return c["c_mac"] * m * n * k + c["c_dout"] * m * n
    if fmt == "kb4":
        if m < MV_MAX_M:
            return c["c_call"] + c["c_mv_blk"] * m * p + c["c_mv_out"] * m * n
        mq = -(-m // 16) * 16
        return c["c_call"] + c["c_pack"] * mq * k + c["c_out"] * mq * n + c["c_blk"] * mq * p
    if m < MV_MAX_M:
        return c["c_mv_pair"] * m * p + c["c_mv_out"] * m * n
    mp = -(-m // 32) * 32
    return c["c_in"] * mp * k + c["c_out"] * mp * n + c["c_pair"] * mp * p


def choose(w, m, isa, formats=FORMATS):
    """(format, {format: predicted ns}) for int8 weights W [N, K] run on M rows: the fastest
    of `formats`, sparse only when more than MARGIN faster than dense and only for a pruned
    layer (at least MIN_SPARSITY zeros)."""
    n, k = w.shape[0], int(np.prod(w.shape[1:]))
    times = {"dense": predict("dense", m, n, k, 0, isa)}
    if np.count_nonzero(w) <= (1 - MIN_SPARSITY) * w.size:
        for fmt in formats:
            if fmt in ("csr", "csr4x1"):
                times[fmt] = predict(fmt, m, n, k, pairs(w, 4 if fmt == "csr4x1" else 1), isa)
            elif fmt == "kb4":
                times[fmt] = predict(fmt, m, n, k, kblocks(w), isa)
    best = min(times, key=times.get)
    if best != "dense" and times[best] > (1 - MARGIN) * times["dense"]:
        best = "dense"
    return best, times
