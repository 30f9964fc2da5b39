"""spmm_csr / pack_spmm: every ISA variant and every format (CSR, 4x1 BSR, K-blocked 1x4)
bit-exact against dense qgemm of the same weights and against the numpy reference of
DESIGN.md §3; malformed CSR / blocks are a ValueError."""
import numpy as np
import pytest

from qengine import kernels as K

import reference as R
from helpers import assert_same, random_requant

DENSITIES = [0.0, 0.01, 0.1, 0.5, 1.0]


def _sparse_weights(rng, n, k, density, rows_zero=True):
    w = rng.integers(-127, 128, size=(n, k), dtype=np.int8)
    w[rng.random((n, k)) >= density] = 0
    if rows_zero and n > 2:
        w[rng.integers(0, n)] = 0  # an all-zero output channel
    return w


def _case(rng, m, n, k, density):
    a = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
    w = _sparse_weights(rng, n, k, density)
    bias = rng.integers(-2**20, 2**20, size=n).astype(np.int32)
    m0, _ = random_requant(rng, n)
    typical = max(1.0, 60.0 * 60.0 * np.sqrt(max(k * density, 1)) + 2**19)
    base = 31 + int(np.ceil(np.log2(typical / 64)))
    sh = np.clip(base + rng.integers(-3, 4, size=n), 1, 62).astype(np.int32)
    return a, w, bias, m0, sh


def _check(a, w, bias, m0, sh, zo=0, qmin=-128, qmax=127, threads=(1,), blocks=(1, 4, "1x4")):
    want, acc = R.qgemm(a, w, bias, m0, sh, zo, qmin, qmax)
    dense = K.qgemm(a, w, bias, m0, sh, zo, qmin=qmin, qmax=qmax)
    assert_same(dense, want, acc)
    indptr, indices, values = K.dense_to_csr(w)
    ctx = dict(isa=K.isa()["selected"], shape=(a.shape[0], w.shape[0], a.shape[1]), zo=zo)
    for t in threads:
        got = K.spmm_csr(a, indptr, indices, values, w.shape[1], bias, m0, sh, zo,
                         qmin=qmin, qmax=qmax, num_threads=t)
        assert got.dtype == np.int8
        assert_same(got, dense, acc, threads=t, **ctx)
        for block in blocks:
            packed = K.pack_spmm(indptr, indices, values, w.shape[1], bias, m0, sh, block=block)
            assert_same(packed.run(a, zo, qmin, qmax, t), dense, acc, threads=t, block=block,
                        kernel=packed.kernel_name, **ctx)
            if block == "1x4":  # the channel-major layout: A^T [K, M] in, C^T [N, M] out
                got = packed.run_channel_major(np.ascontiguousarray(a.T), zo, qmin, qmax, t)
                assert_same(got, np.ascontiguousarray(dense.T), acc.T, threads=t,
                            layout="channel-major", kernel=packed.kernel_name, **ctx)
                # the blocked layout [ceil(K/4), M, 4], junk in the input channels past K
                ab = K.to_blocked(np.ascontiguousarray(a.T))
                if a.shape[1] % 4 and a.shape[0]:
                    ab[-1, :, a.shape[1] % 4:] = 77
                got = packed.run_blocked(ab, zo, qmin, qmax, t)
                if w.shape[0] % 4 and a.shape[0]:
                    assert not got[-1, :, w.shape[0] % 4:].any(), "channels past N must be 0"
                assert_same(K.from_blocked(got, w.shape[0]), np.ascontiguousarray(dense.T),
                            acc.T, threads=t, layout="blocked", kernel=packed.kernel_name, **ctx)


@pytest.mark.parametrize("density", DENSITIES)
def test_random_shapes(isa, rng, density):
    for _ in range(12):
        m, n, k = (int(v) for v in rng.integers(1, 200, size=3))
        _check(*_case(rng, m, n, k, density), zo=int(rng.integers(-128, 128)))


@pytest.mark.parametrize("dim", ["m", "n", "k"])
def test_sweep_one_dim_around_tiles(isa, rng, dim):
    for size in [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 257]:
        m, n, k = {"m": (size, 13, 37), "n": (35, size, 37), "k": (35, 13, size)}[dim]
        _check(*_case(rng, m, n, k, 0.3), zo=int(rng.integers(-128, 128)))


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_threads_identical(isa, rng, threads):
    for m, n, k, d in [(1, 1000, 1280, 0.1), (3136, 24, 96, 0.1), (49, 160, 960, 0.05),
                       (196, 65, 33, 0.5), (5, 3, 1, 1.0)]:
        a, w, bias, m0, sh = _case(rng, m, n, k, d)
        _check(a, w, bias, m0, sh, 3, threads=(1, threads))


def test_empty_matrices(isa, rng):
    for m, n, k in [(4, 5, 0), (0, 5, 7), (6, 0, 7), (1, 3, 0), (40, 6, 9)]:
        a = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
        w = np.zeros((n, k), np.int8)
        bias = rng.integers(-2**20, 2**20, size=n).astype(np.int32)
        m0, sh = np.full(n, 2**30, np.int32), np.full(n, 14, np.int32)
        if m == 0:
            indptr, indices, values = K.dense_to_csr(w)
            out = K.spmm_csr(a, indptr, indices, values, k, bias, m0, sh, 0)
            assert out.shape == (0, n)
        else:
            _check(a, w, bias, m0, sh, zo=5)


def test_extreme_values_and_wrapping(isa, rng):
    for k in (1, 17, 300):
        for av, wv in [(-128, -127), (-128, 127), (127, 127)]:
            a = np.full((40, k), av, np.int8)
            w = np.full((9, k), wv, np.int8)
            w[:, ::3] = 0
            bias = np.array([0, 2**31 - 1, -2**31, 12345, -1, 2**31 - 1000, 7, 1, -2**31 + 5],
                            np.int32)
            for m0v, shv in [(2**31 - 1, 1), (2**30, 31), (0, 5), (2**31 - 1, 62)]:
                _check(a, w, bias, np.full(9, m0v, np.int32), np.full(9, shv, np.int32),
                       zo=int(rng.integers(-128, 128)))


def test_clamps_and_zero_points(isa, rng):
    a, w, bias, m0, sh = _case(rng, 37, 41, 53, 0.2)
    for zo, qmin, qmax in [(-128, -128, 127), (127, -128, 127), (0, 0, 127), (-5, -5, 6),
                           (10, 3, 3)]:
        _check(a, w, bias, m0, sh, zo, qmin, qmax)


def test_random_params_full_range(isa, rng):
    for _ in range(6):
        m, n, k = (int(v) for v in rng.integers(1, 80, size=3))
        a = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
        w = _sparse_weights(rng, n, k, 0.3)
        bias = rng.integers(-2**31, 2**31, size=n, dtype=np.int64).astype(np.int32)
        m0, sh = random_requant(rng, n)
        _check(a, w, bias, m0, sh, int(rng.integers(-128, 128)))


def test_k_above_65536_int32_indices(isa, rng):
    k = 70001
    for m in (1, 9):
        a = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
        w = _sparse_weights(rng, 6, k, 0.01)
        w[1, -1] = 77  # a column index above 65535
        bias = rng.integers(-2**20, 2**20, size=6).astype(np.int32)
        m0, sh = np.full(6, 2**30, np.int32), np.full(6, 22, np.int32)
        indptr, indices, values = K.dense_to_csr(w)
        assert indices.dtype == np.int32
        _check(a, w, bias, m0, sh, zo=1, threads=(1, 2))


def test_bsr_from_blocks_matches_dense(isa, rng):
    w = _sparse_weights(rng, 10, 50, 0.2)
    a = rng.integers(-128, 128, size=(33, 50), dtype=np.int8)
    bias = np.zeros(10, np.int32)
    m0, sh = np.full(10, 2**30, np.int32), np.full(10, 12, np.int32)
    bptr, bidx, bvals = K.csr_to_bsr(*K.dense_to_csr(w), 50, block=4)
    # rebuild the dense matrix from the blocks
    rebuilt = np.zeros((12, 50), np.int8)
    for r in range(3):
        for b in range(bptr[r], bptr[r + 1]):
            rebuilt[4 * r:4 * r + 4, bidx[b]] = bvals[b]
    assert_same(rebuilt[:10], w)
    packed = K.pack_spmm_bsr(bptr, bidx, bvals, 10, 50, bias, m0, sh)
    assert packed.block == 4
    assert_same(packed.run(a, 0, -128, 127, 2), K.qgemm(a, w, bias, m0, sh, 0))


def test_storage_report():
    w = np.zeros((8, 100), np.int8)
    w[0, :10] = 1
    w[5, 3] = -2
    s = K.sparse_storage(w)
    assert s["dense"] == 800 and s["nnz"] == 11
    assert s["csr"] == 4 * 9 + 3 * 11
    assert s["blocks4x1"] == 11 and s["bsr4x1"] == 4 * 3 + 6 * 11
    assert s["sparsity"] == pytest.approx(1 - 11 / 800)


def test_kernel_names(isa):
    w = np.eye(4, dtype=np.int8)
    p1 = K.pack_spmm(*K.dense_to_csr(w), 4, np.zeros(4, np.int32), np.full(4, 2**30, np.int32),
                     np.full(4, 1, np.int32))
    assert p1.kernel_name.startswith("qe_qs8_spmm_minmax_")
    # neondot runs the NEON kernels (16-bit products: the dot-product instructions do not help)
    assert p1.kernel_name.split("__")[1] == ("neon" if isa == "neondot" else isa)


# ---- malformed CSR and bad arguments: a clear ValueError, never a crash -------------------

def _good():
    w = np.array([[0, 1, 0, 2], [0, 0, 0, 0], [3, 0, 0, -4]], np.int8)
    indptr, indices, values = K.dense_to_csr(w)
    return dict(a=np.ones((2, 4), np.int8), indptr=indptr, indices=indices, values=values, k=4,
                bias=np.zeros(3, np.int32), m0=np.full(3, 2**30, np.int32),
                sh=np.full(3, 8, np.int32), zo=0)


def _i32(*v):
    return np.array(v, np.int32)


def _u16(*v):
    return np.array(v, np.uint16)


@pytest.mark.parametrize("change, message", [
    (dict(indptr=_i32(0, 2, 1, 4)), "non-decreasing"),
    (dict(indptr=_i32(1, 2, 2, 4)), r"indptr\[0\] must be 0"),
    (dict(indptr=_i32(0, 2, 2, 3)), r"indptr\[-1\] must equal"),
    (dict(indptr=_i32(0, 2, 2, 5)), r"indptr\[-1\] must equal"),
    (dict(indptr=_i32(0, 2, 4)), r"shape|bias must have shape"),
    (dict(indptr=np.array([0, 2, 2, 4], np.int64)), "int32"),
    (dict(indptr=[0, 2, 2, 4]), "int32"),
    (dict(indptr=np.zeros((2, 2), np.int32)), "1-D"),
    (dict(indices=_u16(1, 4, 0, 3)), r"must lie in \[0, K=4\)"),
    (dict(indices=_u16(3, 1, 0, 3)), "strictly increasing"),
    (dict(indices=_u16(1, 1, 0, 3)), "strictly increasing"),
    (dict(indices=_u16(1, 3, 0)), "indptr\\[-1\\] must equal"),
    (dict(indices=np.array([1, 3, 0, 3], np.int64)), "uint16 .* or int32"),
    (dict(indices=np.array([1, 3, 0, 3], np.float32)), "uint16 .* or int32"),
    (dict(indices=np.array([-1, 3, 0, 3], np.int32)), r"must lie in \[0, K=4\)"),
    (dict(indices=[1, 3, 0, 3]), "numpy array"),
    (dict(values=np.array([1, 2, 3], np.int8)), "values must have shape"),
    (dict(values=np.array([1, 2, 3, 4], np.int16)), "values must have dtype int8"),
    (dict(values=np.array([1, 2, -128, 4], np.int8)), r"\[-127, 127\]"),
    (dict(k=5), "k=5"),
    (dict(k=-1), "k must lie in"),
    (dict(k=2.0), "k must be an integer"),
    (dict(a=np.ones((2, 4), np.float32)), "a must have dtype int8"),
    (dict(bias=np.zeros(2, np.int32)), r"bias must have shape \(3,\)"),
    (dict(m0=np.full(3, -1, np.int32)), "m0 values"),
    (dict(sh=np.full(3, 0, np.int32)), "sh values"),
    (dict(zo=200), "zo must lie in"),
    (dict(qmin=5, qmax=4), "must not exceed"),
    (dict(num_threads=0), "num_threads"),
])
def test_malformed_raises_value_error(change, message):
    args = {**_good(), **change}
    with pytest.raises(ValueError, match=message):
        K.spmm_csr(**args)


def test_uint16_indices_with_large_k_rejected():
    with pytest.raises(ValueError, match="needs int32"):
        K.pack_spmm(_i32(0, 1), _u16(3), np.ones(1, np.int8), 70000, np.zeros(1, np.int32),
                    np.full(1, 2**30, np.int32), np.full(1, 8, np.int32))


def test_malformed_bsr_raises():
    g = _good()
    args = (np.zeros(3, np.int32), np.full(3, 2**30, np.int32), np.full(3, 8, np.int32))
    ok = (_i32(0, 2), _u16(0, 3), np.ones((2, 4), np.int8), 3, 4)
    K.pack_spmm_bsr(*ok, *args)
    for bad, msg in [((_i32(0, 2, 2),) + ok[1:], "bptr must have shape"),
                     ((ok[0], _u16(3, 0)) + ok[2:], "strictly increasing"),
                     (ok[:2] + (np.ones((2, 3), np.int8),) + ok[3:], "bvalues must be"),
                     (ok[:2] + (np.ones((3, 4), np.int8),) + ok[3:], "bvalues must have shape"),
                     (ok[:3] + (-1, 4), "n must lie")]:
        with pytest.raises(ValueError, match=msg):
            K.pack_spmm_bsr(*bad, *args)
    with pytest.raises(ValueError, match="block must be"):
        K.pack_spmm(g["indptr"], g["indices"], g["values"], 4, *args, block=3)


def test_packed_run_checks_its_arguments():
    g = _good()
    packed = K.pack_spmm(g["indptr"], g["indices"], g["values"], 4, g["bias"], g["m0"], g["sh"])
    with pytest.raises(ValueError, match="K=5"):
        packed.run(np.zeros((2, 5), np.int8), 0, -128, 127, 1)
    with pytest.raises(ValueError, match="zo"):
        packed.run(np.zeros((2, 4), np.int8), 300, -128, 127, 1)
    with pytest.raises(ValueError):
        packed.run(np.zeros((2, 4), np.float32), 0, -128, 127, 1)


def test_run_into_out_and_reuse(isa, rng):
    a, w, bias, m0, sh = _case(rng, 70, 20, 33, 0.3)
    want = K.qgemm(a, w, bias, m0, sh, 2)
    packed = K.pack_spmm(*K.dense_to_csr(w), 33, bias, m0, sh)
    out = np.empty((70, 20), np.int8)
    assert packed.run(a, 2, -128, 127, 1, out=out) is out
    assert_same(out, want)
    assert_same(packed.run(a[:5].copy(), 2, -128, 127, 2), want[:5])  # smaller M, same scratch
    assert_same(packed.run(a, 2, -128, 127, 3), want)
    for bad in (np.empty((70, 21), np.int8), np.empty((70, 20), np.int16),
                np.empty((20, 70), np.int8).T, [[0]]):
        with pytest.raises(ValueError, match="out must be"):
            packed.run(a, 2, -128, 127, 1, out=bad)


def test_npairs_and_packed_size(rng):
    w = _sparse_weights(rng, 9, 40, 0.3, rows_zero=False)
    w[2] = 0
    w[3, :3] = [1, 0, 2]
    w[3, 3:] = 0  # 2 nonzeros: one pair
    indptr, indices, values = K.dense_to_csr(w)
    counts = np.diff(indptr)
    p = K.pack_spmm(indptr, indices, values, 40, np.zeros(9, np.int32),
                    np.full(9, 2**30, np.int32), np.full(9, 30, np.int32))
    assert p.npairs == int(np.sum((counts + 1) // 2))
    assert p.nbytes % 64 == 0


# ---- K-blocked 1x4 format -------------------------------------------------------------------

def _kblock_case(rng, m, n, k, density, structured):
    a, w, bias, m0, sh = _case(rng, m, n, k, 1.0 if structured else density)
    if structured:
        w = K.kblock_prune(w, 1.0 - density)
    return a, w, bias, m0, sh


@pytest.mark.parametrize("density", DENSITIES)
@pytest.mark.parametrize("structured", [False, True])
def test_kblock_shapes_around_tiles(isa, rng, density, structured):
    # K not a multiple of 4, M not a multiple of any position tile (16, 32, 64), N not of 16
    for m, n, k in [(1, 1, 1), (3, 5, 2), (15, 17, 3), (17, 16, 5), (63, 31, 6), (64, 16, 8),
                    (65, 33, 9), (129, 47, 63), (200, 40, 130), (49, 70, 255), (7, 3, 257)]:
        a, w, bias, m0, sh = _kblock_case(rng, m, n, k, density, structured)
        _check(a, w, bias, m0, sh, zo=int(rng.integers(-128, 128)), blocks=("1x4",))


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_kblock_threads_identical(isa, rng, threads):
    for m, n, k, d in [(3136, 24, 96, 0.1), (49, 160, 960, 0.1), (196, 65, 33, 0.5),
                       (130, 300, 30, 0.3), (1, 1000, 1280, 0.1)]:
        a, w, bias, m0, sh = _kblock_case(rng, m, n, k, d, structured=True)
        _check(a, w, bias, m0, sh, -3, threads=(1, threads), blocks=("1x4",))


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("empty", ["some", "all", "none"])
def test_kblock_empty_channels(isa, rng, threads, empty):
    # channels without blocks output eq. 5 of the bias (made at pack time without zo, clamped
    # to +-2^15): extreme biases and shifts, every zo, clamps inside [-128, 127]
    for m, n, k in [(1, 37, 24), (2, 16, 16), (3, 40, 7), (49, 144, 24), (197, 33, 32),
                    (64, 96, 64), (130, 17, 4)]:
        a, w, bias, m0, sh = _kblock_case(rng, m, n, k, 0.3, structured=True)
        if empty == "all":
            w[:] = 0
        elif empty == "some":
            w[rng.random(n) < 0.5] = 0
        else:
            w[:, 0] = rng.integers(1, 128, size=n).astype(np.int8)  # one block in every row
        bias[::3] = rng.choice([2**31 - 1, -2**31, 2**20, -2**20], size=bias[::3].shape)
        sh[::4] = rng.choice([1, 2, 31, 33, 40, 62], size=sh[::4].shape)
        for zo, qmin, qmax in [(0, -128, 127), (-128, -128, 127), (127, -100, 90),
                               (int(rng.integers(-128, 128)), 0, 127)]:
            _check(a, w, bias, m0, sh, zo, qmin, qmax, threads=(threads,), blocks=("1x4",))


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_kblock_matrix_vector_section(isa, rng, threads):
    # M < 4 runs from the matrix-vector section where the kernel has one (AVX-512), else
    # from the blocks: both bit-identical to dense. Rows of many 32-k-block chunks with a
    # tail, channels not a multiple of 16, structured and unstructured, empty channels.
    for m, n, k, d in [(1, 1000, 1280, 0.1), (2, 17, 1281, 0.5), (3, 64, 4100, 0.05),
                       (1, 40, 700, 1.0), (1, 33, 128, 0.3), (2, 5, 3, 0.5)]:
        for structured in (True, False):
            a, w, bias, m0, sh = _kblock_case(rng, m, n, k, d, structured)
            w[rng.random(n) < 0.2] = 0
            dense = K.qgemm(a, w, bias, m0, sh, 7, qmin=-100, qmax=120)
            kb = K.dense_to_kblock(w)
            with_mv = K.pack_spmm_kblock(*kb, n, k, bias, m0, sh)
            without = K.pack_spmm_kblock(*kb, n, k, bias, m0, sh, mv=False)
            assert with_mv.nbytes > without.nbytes
            for packed in (with_mv, without):
                assert_same(packed.run(a, 7, -100, 120, threads), dense, m=m, n=n, k=k,
                            nbytes=packed.nbytes)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_kblock_panels(isa, rng, threads):
    # channel-major and blocked (both checked by _check) run panels of positions (about 32
    # KiB of input each: 1344 positions at K = 24, 192 at K = 144, 64 at K >= 512; AVX-512
    # 128 KiB: 5440, 896, 128 at K = 1000) or, with few panels per thread, chunks of
    # channels; tails of 1..63 positions; blocked runs
    # chunks of up to 1024 positions and flips a panel once when its rows are read 8+ times;
    # panels of 8+ tiles store the constant rows between the other channels' tiles (a tail
    # of 24 positions at 600 and 1944, a chunk of channels without or with only those rows,
    # more of those rows than 8 lines per tile at 650)
    for m, n, k, d in [(3136, 144, 24, 0.05), (1345, 40, 24, 0.3), (193, 24, 144, 0.1),
                       (600, 70, 24, 0.05), (1944, 37, 24, 0.1), (1000, 300, 8, 0.15),
                       (650, 200, 24, 0.01), (1000, 60, 144, 0.03), (5500, 30, 24, 0.05),
                       (191, 17, 144, 0.5), (385, 33, 144, 0.1), (65, 70, 600, 0.1),
                       (130, 16, 1000, 0.02), (20, 300, 16, 0.5), (4, 9, 5, 1.0),
                       (49, 260, 320, 0.1), (300, 64, 96, 0.9), (700, 40, 96, 0.9),
                       (2, 7, 9, 0.5)]:
        _check(*_kblock_case(rng, m, n, k, d, structured=True), zo=-7, qmin=-120, qmax=100,
               threads=(threads,), blocks=("1x4",))


def _small_kb4(rng, n, k):
    w = K.kblock_prune(rng.integers(-127, 128, size=(n, k), dtype=np.int8), 0.5)
    return K.pack_spmm(*K.dense_to_csr(w), k, np.zeros(n, np.int32),
                       np.full(n, 2**30, np.int32), np.full(n, 33, np.int32), block="1x4")


def test_kblock_channel_major_arguments(rng):
    packed = _small_kb4(rng, 5, 12)
    a = rng.integers(-128, 128, size=(12, 7), dtype=np.int8)
    out = np.full((5, 7), 99, np.int8)
    assert packed.run_channel_major(a, 3, -128, 127, 1, out=out) is out
    assert_same(out, packed.run(np.ascontiguousarray(a.T), 3, -128, 127, 1).T)
    with pytest.raises(ValueError, match=r"K=7 rows \(channel-major \[K, M\]\)"):
        packed.run_channel_major(np.ascontiguousarray(a.T), 3, -128, 127, 1)
    with pytest.raises(ValueError, match=r"shape \(5, 7\)"):
        packed.run_channel_major(a, 3, -128, 127, 1, out=np.empty((7, 5), np.int8))
    assert packed.run_channel_major(np.empty((12, 0), np.int8), 0, -128, 127, 1).shape == (5, 0)


def test_kblock_blocked_arguments(rng):
    packed = _small_kb4(rng, 5, 10)
    a_t = rng.integers(-128, 128, size=(10, 7), dtype=np.int8)
    ab = K.to_blocked(a_t)
    assert ab.shape == (3, 7, 4) and not ab[2, :, 2:].any()
    assert np.array_equal(K.from_blocked(ab, 10), a_t)
    out = np.full((2, 7, 4), 99, np.int8)
    assert packed.run_blocked(ab, 3, -128, 127, 1, out=out) is out
    assert_same(K.from_blocked(out, 5), packed.run_channel_major(a_t, 3, -128, 127, 1))
    assert not out[1, :, 1:].any()
    with pytest.raises(ValueError, match=r"blocked \[ceil\(K/4\), M, 4\] = \[3, M, 4\]"):
        packed.run_blocked(ab[:2], 3, -128, 127, 1)
    with pytest.raises(ValueError, match=r"shape \(2, 7, 4\)"):
        packed.run_blocked(ab, 3, -128, 127, 1, out=np.empty((7, 2, 4), np.int8))
    with pytest.raises(ValueError, match="num_threads"):
        packed.run_blocked(ab, 3, -128, 127, 0)
    with pytest.raises(ValueError):  # int8 C-contiguous only: never a pointer to the wrong bytes
        packed.run_blocked(ab.astype(np.int16), 3, -128, 127, 1)
    with pytest.raises(ValueError):
        packed.run_blocked(ab.transpose(1, 0, 2), 3, -128, 127, 1)
    assert packed.run_blocked(np.empty((3, 0, 4), np.int8), 0, -128, 127, 1).shape == (2, 0, 4)
    with pytest.raises(ValueError, match="y must be blocked"):
        K.from_blocked(ab, 5)
    with pytest.raises(ValueError, match="x must be int8"):
        K.to_blocked(a_t.astype(np.int32))

def test_large_outputs_are_aligned_views_that_keep_their_memory(rng):
    """Outputs of 64 KiB and more are views from a 64-byte boundary into a larger buffer
    (new_output): writeable, C-contiguous, and valid after everything else is gone."""
    packed = _small_kb4(rng, 40, 12)
    a_t = rng.integers(-128, 128, size=(12, 2000), dtype=np.int8)
    expect = packed.run(np.ascontiguousarray(a_t.T), 0, -128, 127, 1).T
    yb = packed.run_blocked(K.to_blocked(a_t), 0, -128, 127, 1)
    y = packed.run_channel_major(a_t, 0, -128, 127, 1)
    for out in (y, yb):
        assert out.nbytes >= 65536 and out.ctypes.data % 64 == 0
        assert out.flags.c_contiguous and out.flags.writeable
    assert_same(K.from_blocked(yb, 40), expect)
    del packed, a_t, yb
    y[0, 0] = 1  # its buffer is alive through y.base alone
    assert_same(y[1:], expect[1:])


def test_kblock_stored_format_matches_dense(isa, rng):
    for n, k in [(10, 50), (17, 4), (5, 1), (33, 130)]:
        w = K.kblock_prune(rng.integers(-127, 128, size=(n, k), dtype=np.int8), 0.6)
        a = rng.integers(-128, 128, size=(37, k), dtype=np.int8)
        bias = rng.integers(-2**20, 2**20, size=n).astype(np.int32)
        m0, sh = np.full(n, 2**30, np.int32), np.full(n, 36, np.int32)
        kptr, kidx, kvals = K.dense_to_kblock(w)
        rebuilt = np.zeros((n, -(-k // 4) * 4), np.int8)
        for j in range(n):
            for b in range(kptr[j], kptr[j + 1]):
                rebuilt[j, 4 * kidx[b]:4 * kidx[b] + 4] = kvals[b]
        assert_same(rebuilt[:, :k], w)
        assert not rebuilt[:, k:].any()
        packed = K.pack_spmm_kblock(kptr, kidx, kvals, n, k, bias, m0, sh)
        assert packed.block == "1x4" and packed.nblocks == kidx.shape[0]
        for t in (1, 2, 3):
            assert_same(packed.run(a, 4, -100, 100, t),
                        K.qgemm(a, w, bias, m0, sh, 4, qmin=-100, qmax=100), threads=t)


def test_kblock_prune_structure(rng):
    w = rng.integers(-127, 128, size=(20, 37), dtype=np.int8)
    for s in (0.0, 0.5, 0.9, 1.0):
        p = K.kblock_prune(w, s)
        kbs = 10
        pad = np.zeros((20, 40), np.int8)
        pad[:, :37] = p
        kept = pad.reshape(20, kbs, 4).any(axis=2)
        assert kept.sum() == pytest.approx((1 - s) * 200, abs=1)
        # kept blocks are unchanged, dropped ones are all zero
        full = np.zeros((20, 40), np.int8)
        full[:, :37] = w
        np.testing.assert_array_equal(pad.reshape(20, kbs, 4)[kept],
                                      full.reshape(20, kbs, 4)[kept])
    with pytest.raises(ValueError, match="sparsity"):
        K.kblock_prune(w, 1.5)


def test_kblock_storage_report():
    w = np.zeros((3, 10), np.int8)
    w[0, [0, 1, 2, 9]] = 1  # blocks 0 and 2
    w[2, 5] = -3            # block 1
    s = K.sparse_storage(w)
    assert s["blocks1x4"] == 3
    assert s["kblock1x4"] == 4 * 4 + 6 * 3


def test_kblock_kernel_names(isa):
    w = np.eye(4, dtype=np.int8)
    p = K.pack_spmm(*K.dense_to_csr(w), 4, np.zeros(4, np.int32), np.full(4, 2**30, np.int32),
                    np.full(4, 1, np.int32), block="1x4")
    assert p.kernel_name.startswith("qe_qs8_spmm_kb4_minmax_")
    assert p.kernel_name.split("__")[1] == isa


def test_malformed_kblock_raises():
    args = (np.zeros(2, np.int32), np.full(2, 2**30, np.int32), np.full(2, 8, np.int32))
    ok = (_i32(0, 1, 2), _u16(0, 1), np.ones((2, 4), np.int8), 2, 8)
    K.pack_spmm_kblock(*ok, *args)
    for bad, msg in [((_i32(0, 1),) + ok[1:], "kptr must have shape"),
                     ((_i32(0, 2, 2), _u16(1, 0)) + ok[2:], "strictly increasing"),
                     ((ok[0], _u16(0, 2)) + ok[2:], r"must lie in \[0, K=2\)"),
                     ((ok[0], np.array([0, 1], np.int64)) + ok[2:], "uint16 or int32"),
                     (ok[:2] + (np.ones((2, 3), np.int8),) + ok[3:], "kvalues must have shape"),
                     (ok[:2] + (np.full((2, 4), -128, np.int8),) + ok[3:], r"\[-127, 127\]"),
                     (ok[:4] + (7,), "past K=7"),
                     (ok[:3] + (-1, 8), "n must lie")]:
        with pytest.raises(ValueError, match=msg):
            K.pack_spmm_kblock(*bad, *args)
    with pytest.raises(ValueError, match="block must be"):
        K.pack_spmm(_i32(0, 1, 1), _u16(0), np.ones(1, np.int8), 4, *args, block="4x4")
