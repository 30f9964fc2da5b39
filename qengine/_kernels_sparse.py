"""Sparse int8 matmul on numpy arrays (DESIGN.md §2-3, docs/SPARSE.md).

Weights W [N, K] come as CSR over output channels (`indptr` int32 [N+1], `indices`
uint16 when K < 65536 else int32, `values` int8 in [-127, 127]) or as the blocked 4x1
format (BSR: blocks of 4 consecutive output channels sharing a column), or as the
K-blocked 1x4 format ("kblock": blocks of 4 consecutive input channels of one output
channel, the unit of one vpdpbusd / vdotq_s32; the fastest on x86). Every structure
is checked here before a pointer reaches C: a malformed matrix is a ValueError."""
import numbers

import numpy as np

from qengine import _native
from qengine import _validate as V

__all__ = ["spmm_csr", "pack_spmm", "pack_spmm_bsr", "pack_spmm_kblock", "dense_to_csr",
           "csr_to_bsr", "csr_to_kblock", "dense_to_kblock", "kblock_prune",
           "sparse_storage", "to_blocked", "from_blocked", "SPMM_BLOCKS", "SPMM_FORMATS"]

SPMM_BLOCKS = (1, 4)  # block heights the kernels implement: 1 = CSR, 4 = 4x1 BSR
SPMM_FORMATS = (1, 4, "1x4")  # pack_spmm(block=...): CSR, 4x1 BSR, K-blocked 1x4


def _index_array(name, x, k):
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(x).__name__}")
    if x.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {x.shape}")
    if x.dtype == np.uint16:
        if k >= 65536:
            raise ValueError(f"{name} is uint16 but K={k} >= 65536 needs int32 indices")
    elif x.dtype != np.int32:
        raise ValueError(f"{name} must have dtype uint16 (K < 65536) or int32, got {x.dtype}")
    return np.ascontiguousarray(x)


def _check_structure(ptr_name, ptr, idx_name, idx, rows, k):
    """ptr int32 [rows + 1], 0 .. len(idx), non-decreasing; idx in [0, k), strictly
    increasing within each row."""
    if not isinstance(ptr, np.ndarray) or ptr.dtype != np.int32:
        got = ptr.dtype if isinstance(ptr, np.ndarray) else type(ptr).__name__
        raise ValueError(f"{ptr_name} must be a numpy int32 array, got {got}")
    if ptr.ndim != 1 or ptr.shape[0] != rows + 1:
        raise ValueError(f"{ptr_name} must have shape ({rows + 1},), got {ptr.shape}")
    ptr = np.ascontiguousarray(ptr)
    nnz = idx.shape[0]
    if ptr[0] != 0:
        raise ValueError(f"{ptr_name}[0] must be 0, got {ptr[0]}")
    if ptr[-1] != nnz:
        raise ValueError(f"{ptr_name}[-1] must equal len({idx_name}) = {nnz}, got {ptr[-1]}")
    if rows and np.any(np.diff(ptr) < 0):
        raise ValueError(f"{ptr_name} must be non-decreasing")
    if nnz:
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= k:
            raise ValueError(f"{idx_name} must lie in [0, K={k}), got [{lo}, {hi}]")
        step = np.diff(idx.astype(np.int64)) > 0
        starts = ptr[1:-1]
        starts = starts[(starts > 0) & (starts < nnz)]
        step[starts - 1] = True  # a new row may start at any column
        if not step.all():
            at = int(np.argmin(step)) + 1
            raise ValueError(f"{idx_name} must be strictly increasing within each row "
                             f"(sorted, no duplicates); broken at position {at}")
    return ptr


def _check_k(k):
    return V.int_scalar("k", k, 0, 2**31 - 1)


def _weights(name, x, shape):
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{name} must be a numpy int8 array, got {type(x).__name__}")
    if x.dtype != np.int8:
        raise ValueError(f"{name} must have dtype int8, got {x.dtype}")
    if x.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {x.shape}")
    if x.size and x.min() < -127:
        raise ValueError(f"{name} holds -128; int8 weights must lie in [-127, 127]")
    return np.ascontiguousarray(x)


def _pack(ptr, idx, vals, n, k, block, bias, m0, sh):
    bias = V.int_vector("bias", bias, n, -2**31, 2**31 - 1)
    m0, sh = V.requant(n, m0, sh)
    return _native.PackedSpmm(ptr, idx.view(np.uint8), idx.itemsize, vals.reshape(-1),
                              n, k, block, bias, m0, sh, _native.isa_selected())


def pack_spmm(indptr, indices, values, k, bias, m0, sh, block=1):
    """Pack CSR weights W [N, k] (N = len(indptr) - 1) with bias/m0/sh once. block=1 runs
    the CSR kernels, block=4 regroups into 4x1 blocks first (see csr_to_bsr), block="1x4"
    into K-blocked 1x4 blocks (see csr_to_kblock). The result's
    .run(a, zo, qmin, qmax, num_threads) is what the runtime calls."""
    k = _check_k(k)
    if block not in SPMM_FORMATS or isinstance(block, bool):
        raise ValueError(f"block must be one of {SPMM_FORMATS}, got {block!r}")
    indptr, indices, values, n = _checked_csr(indptr, indices, values, k)
    if block == 1:
        return _pack(indptr, indices, values, n, k, 1, bias, m0, sh)
    if block == "1x4":
        return _pack_kb4(*_csr_to_kblock(indptr, indices, values, n, k), n, k, bias, m0, sh)
    bptr, bidx, bvals = _csr_to_bsr(indptr, indices, values, n, k, block)
    return _pack(bptr, bidx, bvals, n, k, block, bias, m0, sh)


def pack_spmm_bsr(bptr, bindices, bvalues, n, k, bias, m0, sh):
    """Pack weights W [n, k] stored as BSR with blocks of B x 1 (B = bvalues.shape[1], one
    of SPMM_BLOCKS): block row r holds channels r*B .. r*B+B-1; its blocks are
    bptr[r] .. bptr[r+1]-1, block b at column bindices[b] with values bvalues[b, :]."""
    k = _check_k(k)
    n = V.int_scalar("n", n, 0, 2**31 - 1)
    if not isinstance(bvalues, np.ndarray) or bvalues.ndim != 2 \
            or bvalues.shape[1] not in SPMM_BLOCKS:
        raise ValueError(f"bvalues must be a 2-D int8 array [nblocks, B], B in {SPMM_BLOCKS}")
    block = bvalues.shape[1]
    bindices = _index_array("bindices", bindices, k)
    rows = -(-n // block)
    bptr = _check_structure("bptr", bptr, "bindices", bindices, rows, k)
    bvalues = _weights("bvalues", bvalues, (bindices.shape[0], block))
    return _pack(bptr, bindices, bvalues, n, k, block, bias, m0, sh)


def spmm_csr(a, indptr, indices, values, k, bias, m0, sh, zo, qmin=-128, qmax=127,
             num_threads=1):
    """int8 [M, N] = requant(bias[n] + sum_k a[m, k] * W[n, k]) with W [N, k] given as CSR;
    bit-identical to qgemm(a, W dense, ...) (DESIGN.md §3)."""
    a = V.int8_array("a", a, 2)
    k = _check_k(k)
    if a.shape[1] != k:
        raise ValueError(f"a has K={a.shape[1]} columns but the sparse weights have k={k}")
    zo = V.int_scalar("zo", zo, V.INT8_MIN, V.INT8_MAX)
    qmin, qmax = V.clamp(qmin, qmax)
    num_threads = V.threads(num_threads)
    packed = pack_spmm(indptr, indices, values, k, bias, m0, sh)
    return packed.run(a, zo, qmin, qmax, num_threads)


def dense_to_csr(w):
    """Dense int8 W [N, K] -> (indptr int32, indices uint16|int32, values int8), zeros
    dropped, in the dtypes of DESIGN.md §3."""
    w = V.int8_array("w", w, 2, weights=True)
    rows, cols = np.nonzero(w)
    indptr = np.zeros(w.shape[0] + 1, np.int32)
    np.cumsum(np.bincount(rows, minlength=w.shape[0]), out=indptr[1:])
    itype = np.uint16 if w.shape[1] < 65536 else np.int32
    return indptr, cols.astype(itype), w[rows, cols]


def _csr_to_bsr(indptr, indices, values, n, k, block):
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    brow, lane = rows // block, rows % block
    key = brow * max(k, 1) + indices.astype(np.int64)  # sorted by (block row, column)
    keys, which = np.unique(key, return_inverse=True)
    bvals = np.zeros((keys.shape[0], block), np.int8)
    bvals[which, lane] = values
    nrows = -(-n // block)
    bptr = np.zeros(nrows + 1, np.int32)
    np.cumsum(np.bincount(keys // max(k, 1), minlength=nrows), out=bptr[1:])
    return bptr, (keys % max(k, 1)).astype(indices.dtype), bvals


def _checked_csr(indptr, indices, values, k):
    """Validated CSR arrays W [N, k] (k already checked): (indptr, indices, values, N)."""
    indices = _index_array("indices", indices, k)
    if not isinstance(indptr, np.ndarray) or indptr.ndim != 1 or indptr.shape[0] < 1:
        raise ValueError("indptr must be a 1-D numpy int32 array of length N + 1")
    n = indptr.shape[0] - 1
    indptr = _check_structure("indptr", indptr, "indices", indices, n, k)
    return indptr, indices, _weights("values", values, indices.shape), n


def csr_to_bsr(indptr, indices, values, k, block=4):
    """CSR W [N, k] -> BSR of block x 1 blocks: (bptr, bindices, bvalues [nblocks, block]);
    a block is kept when any of its channels has a nonzero in that column."""
    k = _check_k(k)
    if block not in SPMM_BLOCKS:
        raise ValueError(f"block must be one of {SPMM_BLOCKS}, got {block!r}")
    indptr, indices, values, n = _checked_csr(indptr, indices, values, k)
    return _csr_to_bsr(indptr, indices, values, n, k, block)


def sparse_storage(w):
    """Bytes to store dense int8 W [N, K] as dense, CSR, 4x1 BSR and K-blocked 1x4
    (arrays of DESIGN.md §3, without bias/m0/sh which every format stores alike), with nnz
    and block counts."""
    w = V.int8_array("w", w, 2, weights=True)
    n, k = w.shape
    ib = 2 if k < 65536 else 4
    nnz = int(np.count_nonzero(w))
    pad = np.zeros((-(-n // 4) * 4, k), bool)
    pad[:n] = w != 0
    blocks = int(pad.reshape(-1, 4, k).any(axis=1).sum())
    kbs = -(-k // 4)
    kpad = np.zeros((n, kbs * 4), bool)
    kpad[:, :k] = w != 0
    kblocks = int(kpad.reshape(n, kbs, 4).any(axis=2).sum())
    kib = 2 if kbs < 65536 else 4
    return {"dense": n * k, "csr": 4 * (n + 1) + (ib + 1) * nnz,
            "bsr4x1": 4 * (-(-n // 4) + 1) + (ib + 4) * blocks,
            "kblock1x4": 4 * (n + 1) + (kib + 4) * kblocks,
            "nnz": nnz, "blocks4x1": blocks, "blocks1x4": kblocks,
            "sparsity": 1.0 - nnz / (n * k) if n * k else 0.0}


# ---- K-blocked 1x4 format -------------------------------------------------------------------

def _pack_kb4(kptr, kidx, kvals, n, k, bias, m0, sh, mv=True):
    bias = V.int_vector("bias", bias, n, -2**31, 2**31 - 1)
    m0, sh = V.requant(n, m0, sh)
    return _native.PackedSpmmKb4(kptr, kidx.view(np.uint8), kidx.itemsize,
                                 kvals.reshape(-1), n, k, bias, m0, sh, _native.isa_selected(),
                                 bool(mv))


def _kb_dtype(k):
    return np.uint16 if -(-k // 4) < 65536 else np.int32


def _csr_to_kblock(indptr, indices, values, n, k):
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    col = indices.astype(np.int64)
    kbs = max(-(-k // 4), 1)
    key = rows * kbs + col // 4  # sorted by (channel, block) since columns are sorted
    keys, which = np.unique(key, return_inverse=True)
    kvals = np.zeros((keys.shape[0], 4), np.int8)
    kvals[which, col % 4] = values
    kptr = np.zeros(n + 1, np.int32)
    np.cumsum(np.bincount(keys // kbs, minlength=n), out=kptr[1:])
    return kptr, (keys % kbs).astype(_kb_dtype(k)), kvals


def csr_to_kblock(indptr, indices, values, k):
    """CSR W [N, k] -> K-blocked 1x4: (kptr int32 [N+1], kindices uint16|int32 [nblocks]
    (block index: columns 4 kb .. 4 kb + 3), kvalues int8 [nblocks, 4]); a block is kept
    when any of its 4 weights is nonzero (the others are stored as 0, still exact)."""
    k = _check_k(k)
    indptr, indices, values, n = _checked_csr(indptr, indices, values, k)
    return _csr_to_kblock(indptr, indices, values, n, k)


def dense_to_kblock(w):
    """Dense int8 W [N, K] -> K-blocked 1x4 (kptr, kindices, kvalues), all-zero blocks
    dropped."""
    return csr_to_kblock(*dense_to_csr(w), np.asarray(w).shape[1])


def pack_spmm_kblock(kptr, kindices, kvalues, n, k, bias, m0, sh, mv=True):
    """Pack weights W [n, k] stored K-blocked 1x4: channel j's blocks are
    kptr[j] .. kptr[j+1]-1, block b holds W[j, 4 kindices[b] + i] = kvalues[b, i]
    (0 where 4 kindices[b] + i >= k). kindices uint16 (ceil(k/4) < 65536) or int32,
    strictly increasing within a channel. mv=True also packs the matrix-vector layout
    that calls with fewer than 4 rows run from on AVX-512 (docs/SPARSE.md; about as many
    bytes again as the blocks); mv=False saves them when every call has M >= 4."""
    k = _check_k(k)
    n = V.int_scalar("n", n, 0, 2**31 - 1)
    kptr, kindices, kvalues = check_kblock(kptr, kindices, kvalues, n, k)
    return _pack_kb4(kptr, kindices, kvalues, n, k, bias, m0, sh, mv)


def to_blocked(x):
    """Channel-major int8 [C, M] (channel by position) -> the blocked layout that
    run_blocked() reads and writes, [ceil(C/4), M, 4]: channel 4 g + j of position m at
    [g, m, j], channels past C zero (docs/SPARSE.md)."""
    x = np.asarray(x)
    if x.ndim != 2 or x.dtype != np.int8:
        raise ValueError(f"x must be int8 [C, M], got {x.dtype} of shape {x.shape}")
    c, m = x.shape
    padded = np.zeros(((c + 3) // 4 * 4, m), np.int8)
    padded[:c] = x
    return np.ascontiguousarray(padded.reshape(-1, 4, m).transpose(0, 2, 1))


def from_blocked(y, c):
    """The blocked layout [ceil(C/4), M, 4] -> channel-major int8 [C, M] (to_blocked
    undone; the channels past C dropped)."""
    y = np.asarray(y)
    if y.ndim != 3 or y.shape[2] != 4 or y.shape[0] != (c + 3) // 4:
        raise ValueError(f"y must be blocked [ceil(C/4), M, 4] for C={c}, got shape {y.shape}")
    return np.ascontiguousarray(y.transpose(0, 2, 1).reshape(-1, y.shape[1])[:c])


def check_kblock(kptr, kindices, kvalues, n, k, names=("kptr", "kindices", "kvalues")):
    """The validated (kptr, kindices, kvalues) of a 1x4 K-blocked W [n, k] (see
    pack_spmm_kblock), or ValueError naming the array."""
    pn, in_, vn = names
    kbs = -(-k // 4)
    if not isinstance(kindices, np.ndarray) or kindices.ndim != 1 \
            or kindices.dtype not in (np.uint16, np.int32):
        raise ValueError(f"{in_} must be a 1-D numpy uint16 or int32 array")
    if kindices.dtype == np.uint16 and kbs >= 65536:
        raise ValueError(f"{in_} is uint16 but ceil(K/4)={kbs} >= 65536 needs int32")
    kindices = np.ascontiguousarray(kindices)
    kptr = _check_structure(pn, kptr, in_, kindices, n, kbs)
    kvalues = _weights(vn, kvalues, (kindices.shape[0], 4))
    if k % 4 and kindices.shape[0]:
        tail = kindices.astype(np.int64) == kbs - 1
        if np.any(kvalues[tail, k % 4:]):
            raise ValueError(f"{vn} past K={k} (last block, columns >= K) must be 0")
    return kptr, kindices, kvalues





def kblock_prune(w, sparsity):
    """Magnitude pruning in 1x4 K-blocks: zeroes the fraction `sparsity` of the blocks
    (4 consecutive input channels of one output channel) with the smallest sum of |w|;
    returns a pruned copy of int8 W [N, K]. The structure the 1x4 kernels run fastest."""
    w = V.int8_array("w", w, 2, weights=True)
    if not 0.0 <= float(sparsity) <= 1.0:
        raise ValueError(f"sparsity must lie in [0, 1], got {sparsity!r}")
    n, k = w.shape
    kbs = -(-k // 4)
    pad = np.zeros((n, kbs * 4), np.int32)
    pad[:, :k] = np.abs(w.astype(np.int32))
    score = pad.reshape(n, kbs, 4).sum(axis=2).reshape(-1)
    drop = int(round(float(sparsity) * score.size))
    out = np.zeros((n, kbs * 4), np.int8)
    out[:, :k] = w
    if drop:
        order = np.argsort(score, kind="stable")[:drop]
        out.reshape(n * kbs, 4)[order] = 0
    return np.ascontiguousarray(out[:, :k])
