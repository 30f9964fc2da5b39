"""Sparse int8 matmul on numpy arrays (DESIGN.md §2-3, docs/SPARSE.md).

Weights W [N, K] come as CSR over output channels (`indptr` int32 [N+1], `indices`
uint16 when K < 65536 else int32, `values` int8 in [-127, 127]) or as the blocked 4x1
format (BSR: blocks of 4 consecutive output channels sharing a column). Every structure
is checked here before a pointer reaches C: a malformed matrix is a ValueError."""
import numbers

import numpy as np

from qengine import _native
from qengine import _validate as V

__all__ = ["spmm_csr", "pack_spmm", "pack_spmm_bsr", "dense_to_csr", "csr_to_bsr",
           "sparse_storage", "SPMM_BLOCKS"]

SPMM_BLOCKS = (1, 4)  # block heights the kernels implement: 1 = CSR, 4 = 4x1 BSR


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
    the CSR kernels, block=4 regroups into 4x1 blocks first (see csr_to_bsr). The result's
    .run(a, zo, qmin, qmax, num_threads) is what the runtime calls."""
    k = _check_k(k)
    if block not in SPMM_BLOCKS:
        raise ValueError(f"block must be one of {SPMM_BLOCKS}, got {block!r}")
    indices = _index_array("indices", indices, k)
    if not isinstance(indptr, np.ndarray) or indptr.ndim != 1 or indptr.shape[0] < 1:
        raise ValueError("indptr must be a 1-D numpy int32 array of length N + 1")
    n = indptr.shape[0] - 1
    indptr = _check_structure("indptr", indptr, "indices", indices, n, k)
    values = _weights("values", values, indices.shape)
    if block == 1:
        return _pack(indptr, indices, values, n, k, 1, bias, m0, sh)
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


def csr_to_bsr(indptr, indices, values, k, block=4):
    """CSR W [N, k] -> BSR of block x 1 blocks: (bptr, bindices, bvalues [nblocks, block]);
    a block is kept when any of its channels has a nonzero in that column."""
    k = _check_k(k)
    if block not in SPMM_BLOCKS:
        raise ValueError(f"block must be one of {SPMM_BLOCKS}, got {block!r}")
    indices = _index_array("indices", indices, k)
    if not isinstance(indptr, np.ndarray) or indptr.ndim != 1 or indptr.shape[0] < 1:
        raise ValueError("indptr must be a 1-D numpy int32 array of length N + 1")
    n = indptr.shape[0] - 1
    indptr = _check_structure("indptr", indptr, "indices", indices, n, k)
    values = _weights("values", values, indices.shape)
    return _csr_to_bsr(indptr, indices, values, n, k, block)


def sparse_storage(w):
    """Bytes to store dense int8 W [N, K] as dense, CSR and 4x1 BSR (arrays of DESIGN.md
    §3, without bias/m0/sh which every format stores alike), with nnz and block counts."""
    w = V.int8_array("w", w, 2, weights=True)
    n, k = w.shape
    ib = 2 if k < 65536 else 4
    nnz = int(np.count_nonzero(w))
    pad = np.zeros((-(-n // 4) * 4, k), bool)
    pad[:n] = w != 0
    blocks = int(pad.reshape(-1, 4, k).any(axis=1).sum())
    return {"dense": n * k, "csr": 4 * (n + 1) + (ib + 1) * nnz,
            "bsr4x1": 4 * (-(-n // 4) + 1) + (ib + 4) * blocks,
            "nnz": nnz, "blocks4x1": blocks,
            "sparsity": 1.0 - nnz / (n * k) if n * k else 0.0}
