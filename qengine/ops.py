"""What each .qmodel op is: its checks (docs/FORMAT.md) and how it becomes a plan step.

An op spec has
  check(node, ins, outs)    raise ModelFormatError unless the node is fully valid; derives
                            the op's integer parameters from the scales (qengine.quant)
                            and keeps them in node.params
  prepare(node, ins, outs)  pack weights once, at load; returns an object for add_step
  scratch(prep, ins, outs, num_threads)  bytes of scratch the step needs
  add_step(plan, i, prep, node, ins, outs, offsets)  fill step i of the compiled plan
and `alias = True` when the output is the input's buffer seen with another shape.
Nothing here runs per inference.
"""
import math
from types import SimpleNamespace

import numpy as np

from qengine import _native
from qengine import quant as Q
from qengine.errors import ModelFormatError
from qengine.graph import (need_arity, need_attr_int, need_attr_ints, need_const, need_dtype,
                           need_shape)

BIG = 2**20          # upper bound of strides, paddings, kernel sizes, groups


def _fail(node, msg):
    raise ModelFormatError(f"node {node.name!r} ({node.op}): {msg}")


def _row_pointer(node, name):
    """A sparse layer's row-pointer constant: 1-D, N + 1 entries."""
    ptr = node.constants[name]
    if ptr.ndim != 1 or ptr.shape[0] < 1:
        _fail(node, f"constant {name!r} must be 1-D of length N + 1, got shape "
                    f"{list(ptr.shape)}")
    return ptr


def _derive(node, fn, *args):
    """qengine.quant parameters; a degenerate scale is a format error of this node."""
    try:
        return fn(*args)
    except ValueError as exc:
        _fail(node, str(exc))


def _requant_consts(node, n):
    need_const(node, "bias", "int32", (n,))
    need_const(node, "m0", "int32", (n,), 0, 2**31 - 1)
    need_const(node, "sh", "int32", (n,), 1, 62)


def _clamp(node, dtype="int8"):
    lo, hi = (-32768, 32767) if dtype == "int16" else (-128, 127)
    qmin = need_attr_int(node, "qmin", lo, hi, lo)
    qmax = need_attr_int(node, "qmax", qmin, hi, hi)
    return qmin, qmax


def _wide(node, ins, outs, out8_ok=False):
    """True for the int16 form of an op (format 1.1): every input int16 and every output
    int16 (or int8 when out8_ok: a 16-bit layer feeding an 8-bit one); False when all are
    int8 (the first input decides which form is meant); anything else is a dtype
    mismatch."""
    if ins[0].dtype != "int16":
        for v in list(ins) + list(outs):
            if v.dtype != "int8":
                _fail(node, f"value {v.name!r} must be int8 (the input {ins[0].name!r} is "
                            f"{ins[0].dtype}; int16 ops need int16 inputs), got {v.dtype}")
        return False
    for v in ins:
        need_dtype(node, v, "int16")
    for v in outs:
        if not (v.dtype == "int16" or (out8_ok and v.dtype == "int8")):
            _fail(node, f"value {v.name!r} must be int16{' or int8' if out8_ok else ''} "
                        f"(the input is int16), got {v.dtype}")
    return True


def _requant_consts16(node, n):
    """bias int32 or int64 with |bias| <= 2^40 (int16 activations, section 13)."""
    if "bias" not in node.constants:
        _fail(node, "needs a constant 'bias'")
    b = node.constants["bias"]
    if b.dtype not in (np.int32, np.int64) or tuple(b.shape) != (n,):
        _fail(node, f"constant 'bias' must be int32 or int64 [{n}], got {b.dtype} "
                    f"{list(b.shape)}")
    if b.size and (b.min() < -2**40 or b.max() > 2**40):
        _fail(node, "constant 'bias' values must lie in [-2^40, 2^40] for int16 activations")
    need_const(node, "m0", "int32", (n,), 0, 2**31 - 1)
    need_const(node, "sh", "int32", (n,), 1, 62)


def _all_int8(node, ins, outs):
    for v in list(ins) + list(outs):
        need_dtype(node, v, "int8")


def _rank(node, info, lo, hi=None):
    hi = lo if hi is None else hi
    if not lo <= len(info.shape) <= hi:
        want = f"{lo}" if lo == hi else f"{lo} to {hi}"
        _fail(node, f"value {info.name!r} must have rank {want}, got shape {list(info.shape)}")


STORAGES = ("dense", "csr", "kb4")
SPARSE_ROLES = {"csr": ("weight_indptr", "weight_indices", "weight_values"),
                "kb4": ("weight_kptr", "weight_kindices", "weight_kvalues")}


def _storage(node):
    storage = node.attrs.get("storage", "dense")
    if storage not in STORAGES:
        _fail(node, f"attribute 'storage' must be one of {list(STORAGES)}, got {storage!r}")
    return storage


def _check_sparse(node, k):
    """The sparse weights of a `storage: "csr"` or `"kb4"` node over K = k input channels,
    checked with the kernels' own validation (qengine._kernels_sparse). CSR: indptr int32
    [N+1] from 0, non-decreasing, ending at nnz; indices uint16 (K < 65536) / int32 in
    [0, K), strictly increasing within a row; values int8 in [-127, 127]. kb4: the same for
    kptr / kindices over ceil(K/4) blocks (uint16 when ceil(K/4) < 65536), kvalues int8
    [nblocks, 4], 0 past K. Returns N."""
    from qengine import _kernels_sparse as S
    storage = _storage(node)
    roles = SPARSE_ROLES[storage]
    if "weight" in node.constants:
        _fail(node, f"storage {storage!r} takes {'/'.join(roles)}, not a dense 'weight'")
    for role in roles:
        if role not in node.constants:
            _fail(node, f"storage {storage!r} needs a constant {role!r}")
    need_attr_int(node, "k", k, k)   # the dense width, stated in the file for readers
    if storage == "kb4":
        c = node.constants
        ptr = _row_pointer(node, "weight_kptr")
        try:
            S.check_kblock(ptr, c["weight_kindices"], c["weight_kvalues"], ptr.shape[0] - 1,
                           k, roles)
        except ValueError as exc:
            _fail(node, str(exc))
        return ptr.shape[0] - 1
    need_attr_int(node, "block", 1, 4, 1)
    if node.attrs.get("block", 1) not in S.SPMM_BLOCKS:
        _fail(node, f"attribute 'block' must be one of {list(S.SPMM_BLOCKS)}")
    c = node.constants
    ptr = _row_pointer(node, "weight_indptr")
    try:
        idx = S._index_array("weight_indices", c["weight_indices"], k)
        S._check_structure("weight_indptr", ptr, "weight_indices", idx, ptr.shape[0] - 1, k)
        S._weights("weight_values", c["weight_values"], idx.shape)
    except ValueError as exc:
        _fail(node, str(exc))
    return ptr.shape[0] - 1


def _run_dense(node):
    """attrs `run`: "sparse" (default: the sparse kernels) or "dense" (the weights are
    stored sparse for a smaller file but expanded at load and run by the dense kernel,
    written where the converter predicts the dense kernel faster)."""
    run = node.attrs.get("run", "sparse")
    if run not in ("sparse", "dense"):
        _fail(node, f"attribute 'run' must be 'sparse' or 'dense', got {run!r}")
    return run == "dense"


def _expand_sparse(node, n, k):
    """The dense int8 W [n, k] of a node's (already checked) sparse constants."""
    c = node.constants
    w = np.zeros((n, k), np.int8)
    if node.attrs.get("storage") == "kb4":
        ptr, idx, val = c["weight_kptr"], c["weight_kindices"], c["weight_kvalues"]
        rows = np.repeat(np.arange(n), np.diff(ptr))
        wp = np.zeros((n, -(-k // 4) * 4), np.int8)
        for j in range(4):
            wp[rows, 4 * idx.astype(np.int64) + j] = val[:, j]
        w[:] = wp[:, :k]
    else:
        ptr, idx = c["weight_indptr"], c["weight_indices"]
        w[np.repeat(np.arange(n), np.diff(ptr)), idx.astype(np.int64)] = c["weight_values"]
    return w


def _pack_sparse(node, k, m):
    """Packed sparse weights of a layer that multiplies m rows (positions) at a time."""
    from qengine import _kernels_sparse as S
    c = node.constants
    if node.attrs.get("storage") == "kb4":
        # batch-1 layers also get the matrix-vector section (docs/SPARSE.md), which the
        # converter's cost model assumes when it keeps such a layer sparse
        return S.pack_spmm_kblock(c["weight_kptr"], c["weight_kindices"], c["weight_kvalues"],
                                  c["weight_kptr"].shape[0] - 1, k, c["bias"], c["m0"],
                                  c["sh"], mv=m < _native.KB4_MV_MAX_M)
    return S.pack_spmm(c["weight_indptr"], c["weight_indices"], c["weight_values"], k,
                       c["bias"], c["m0"], c["sh"], block=node.attrs.get("block", 1))


class _Op:
    alias = False

    def prepare(self, node, ins, outs):
        return None

    def scratch(self, prep, ins, outs, num_threads):
        return 0


class FullyConnected(_Op):
    def check(self, node, ins, outs):
        need_arity(node, 1, 1)
        x, y = ins[0], outs[0]
        wide = _wide(node, ins, outs, out8_ok=True)
        if _storage(node) != "dense":
            if wide:
                _fail(node, f"storage {_storage(node)!r} is for int8 activations only")
            _rank(node, x, 2)
            n = _check_sparse(node, x.shape[1])
            _requant_consts(node, n)
            need_shape(node, y, (x.shape[0], n))
            node.params = (False,) + _clamp(node)
            node.dense_weight = _expand_sparse(node, n, x.shape[1]) if _run_dense(node) \
                else None
            return
        w = need_const(node, "weight", "int8", lo=-127, hi=127)
        if w.ndim != 2 or len(x.shape) != 2 or w.shape[1] != x.shape[1]:
            raise ModelFormatError(f"node {node.name!r}: FullyConnected needs x [B, K] and "
                                   f"weight [N, K], got {list(x.shape)} and {list(w.shape)}")
        (_requant_consts16 if wide else _requant_consts)(node, w.shape[0])
        if wide and w.shape[1] > 2**24:
            _fail(node, f"K={w.shape[1]} is above 2^24, the 16x8 kernels' limit")
        need_shape(node, y, (x.shape[0], w.shape[0]))
        node.params = (wide,) + _clamp(node, y.dtype)

    def prepare(self, node, ins, outs):
        c = node.constants
        if getattr(node, "dense_weight", None) is not None:
            return _native.PackedGemm(node.dense_weight, c["bias"], c["m0"], c["sh"],
                                      _native.isa_selected())
        if node.attrs.get("storage", "dense") != "dense":
            return _pack_sparse(node, ins[0].shape[1], ins[0].shape[0])
        if node.params[0]:
            from qengine._kernels_qs16 import pack_gemm16
            return pack_gemm16(c["weight"], c["bias"], c["m0"], c["sh"])
        return _native.PackedGemm(c["weight"], c["bias"], c["m0"], c["sh"],
                                  _native.isa_selected())

    def scratch(self, prep, ins, outs, num_threads):
        if isinstance(prep, _native.PackedGemm16):
            return _native.fc16_scratch_size(prep, ins[0].shape[0])
        if isinstance(prep, _native.PackedSpmm):
            return _native.spmm_scratch_size(prep, ins[0].shape[0])
        if isinstance(prep, _native.PackedSpmmKb4):
            return _native.spmm_kb4_scratch_size(prep, ins[0].shape[0])
        return prep.scratch_size(ins[0].shape[0])

    def add_step(self, plan, i, prep, node, ins, outs, offsets):
        wide, qmin, qmax = node.params
        if isinstance(prep, (_native.PackedSpmm, _native.PackedSpmmKb4)):
            set_ = plan.set_spmm if isinstance(prep, _native.PackedSpmm) else plan.set_spmm_kb4
            set_(i, prep, ins[0].shape[0], offsets[node.inputs[0]], offsets[node.outputs[0]],
                 outs[0].zero_point, qmin, qmax)
            return
        if wide:
            _native.plan_set_fc16(plan, i, prep, ins[0].shape[0], offsets[node.inputs[0]],
                                  offsets[node.outputs[0]], outs[0].dtype == "int8",
                                  outs[0].zero_point, qmin, qmax)
            return
        plan.set_fc(i, prep, ins[0].shape[0], offsets[node.inputs[0]],
                    offsets[node.outputs[0]], outs[0].zero_point, qmin, qmax)


def _conv_out(size, k, stride, before, after, dilation=1):
    span = dilation * (k - 1) + 1
    return (size + before + after - span) // stride + 1 if size + before + after >= span \
        else 0


class Conv2D(_Op):
    """Every path (1x1 as GEMM, depthwise, im2col) through the pack-once conv API."""

    def check(self, node, ins, outs):
        need_arity(node, 1, 1)
        x, y = ins[0], outs[0]
        wide = _wide(node, ins, outs, out8_ok=True)
        if wide and _storage(node) != "dense":
            _fail(node, f"storage {_storage(node)!r} is for int8 activations only")
        _rank(node, x, 4)
        if _storage(node) != "dense":
            self._check_sparse(node, x, y)
            return
        w = need_const(node, "weight", "int8", lo=-127, hi=127)
        if w.ndim != 4 or min(w.shape) < 1:
            _fail(node, f"weight must be OHWI [O, kh, kw, C/groups] with every size >= 1, "
                        f"got {list(w.shape)}")
        o, kh, kw, cg = w.shape
        b, h, wd, c = x.shape
        groups = need_attr_int(node, "groups", 1, BIG, 1)
        stride = need_attr_ints(node, "stride", 2, 1, BIG, [1, 1])
        dilation = need_attr_ints(node, "dilation", 2, 1, BIG, [1, 1])
        pad = need_attr_ints(node, "padding", 4, 0, BIG, [0, 0, 0, 0])
        if c % groups or o % groups or cg * groups != c:
            _fail(node, f"x has C={c} channels, weight {list(w.shape)} and groups={groups}: "
                        f"need C and O divisible by groups and weight [O, kh, kw, C/groups]")
        if h < 1 or wd < 1:
            _fail(node, f"x must have H, W >= 1, got {list(x.shape)}")
        (_requant_consts16 if wide else _requant_consts)(node, o)
        if wide and kh * kw * cg > 2**24:
            _fail(node, f"kh * kw * C / groups = {kh * kw * cg} is above 2^24, the 16x8 "
                        f"kernels' limit")
        oh = _conv_out(h, kh, stride[0], pad[0], pad[2], dilation[0])
        ow = _conv_out(wd, kw, stride[1], pad[1], pad[3], dilation[1])
        if oh < 1 or ow < 1:
            _fail(node, f"the padded input is smaller than the dilated {kh}x{kw} kernel")
        need_shape(node, y, (b, oh, ow, o))
        node.params = (groups, tuple(stride), tuple(dilation), tuple(pad), wide) + \
            _clamp(node, y.dtype)

    def _check_sparse(self, node, x, y):
        """A sparse conv is 1x1, stride 1, unpadded, groups 1: a matmul over positions."""
        for attr, want in (("stride", [1, 1]), ("dilation", [1, 1]),
                           ("padding", [0, 0, 0, 0]), ("groups", 1)):
            if node.attrs.get(attr, want) != want:
                _fail(node, f"storage {_storage(node)!r} is only for 1x1 convolutions with stride 1, "
                            f"no padding, dilation 1 and groups 1; got {attr} "
                            f"{node.attrs[attr]!r}")
        b, h, w, c = x.shape
        if h < 1 or w < 1:
            _fail(node, f"x must have H, W >= 1, got {list(x.shape)}")
        n = _check_sparse(node, c)
        _requant_consts(node, n)
        need_shape(node, y, (b, h, w, n))
        node.params = ("sparse",) + _clamp(node)
        if _run_dense(node):   # the dense 1x1 path of the same weights
            node.dense_weight = _expand_sparse(node, n, c).reshape(n, 1, 1, c)
            node.params = (1, (1, 1), (1, 1), (0, 0, 0, 0), False) + _clamp(node)

    def prepare(self, node, ins, outs):
        from qengine._kernels_conv import pack_conv2d
        if node.params[0] == "sparse":
            b, h, w, _ = ins[0].shape
            return _pack_sparse(node, ins[0].shape[3], b * h * w)
        from qengine._kernels_qs16 import pack_conv2d16
        groups, stride, dilation, pad, wide, _, _ = node.params
        c = node.constants
        pack = pack_conv2d16 if wide else pack_conv2d
        w = getattr(node, "dense_weight", None)
        return pack(c["weight"] if w is None else w, c["bias"], c["m0"], c["sh"], stride, pad, dilation,
                    groups, ins[0].zero_point)

    def scratch(self, prep, ins, outs, num_threads):
        b, h, w, _ = ins[0].shape
        if isinstance(prep, _native.PackedConv2d16):
            return _native.conv16_scratch_size(prep, b, h, w, num_threads)
        if isinstance(prep, _native.PackedSpmm):
            return _native.spmm_scratch_size(prep, b * h * w)
        if isinstance(prep, _native.PackedSpmmKb4):
            return _native.spmm_kb4_scratch_size(prep, b * h * w)
        return _native.conv_scratch_size(prep, b, h, w, num_threads)

    def add_step(self, plan, i, prep, node, ins, outs, offsets):
        b, h, w, _ = ins[0].shape
        qmin, qmax = node.params[-2:]
        if isinstance(prep, (_native.PackedSpmm, _native.PackedSpmmKb4)):
            set_ = plan.set_spmm if isinstance(prep, _native.PackedSpmm) else plan.set_spmm_kb4
            set_(i, prep, b * h * w, offsets[node.inputs[0]], offsets[node.outputs[0]],
                 outs[0].zero_point, qmin, qmax)
            return
        if node.params[4]:
            _native.plan_set_conv16(plan, i, prep, b, h, w, offsets[node.inputs[0]],
                                    offsets[node.outputs[0]], outs[0].dtype == "int8",
                                    outs[0].zero_point, qmin, qmax)
            return
        plan.set_conv(i, prep, b, h, w, offsets[node.inputs[0]], offsets[node.outputs[0]],
                      outs[0].zero_point, qmin, qmax)


def _pool_geometry(node, x):
    """(geometry tuple for Plan.set_*pool, kernel area, output H, W) of a window pool."""
    _rank(node, x, 4)
    kernel = need_attr_ints(node, "kernel", 2, 1, BIG)
    stride = need_attr_ints(node, "stride", 2, 1, BIG, [1, 1])
    pad = need_attr_ints(node, "padding", 4, 0, BIG, [0, 0, 0, 0])
    (kh, kw), (t, l, b, r) = kernel, pad
    if t >= kh or b >= kh or l >= kw or r >= kw:
        _fail(node, f"padding {pad} must be smaller than the kernel {kernel} on each side")
    n, h, w, c = x.shape
    if h < 1 or w < 1:
        _fail(node, f"x must have H, W >= 1, got {list(x.shape)}")
    if h + t + b < kh or w + l + r < kw:
        _fail(node, f"kernel {kernel} is larger than the padded input")
    oh = (h + t + b - kh) // stride[0] + 1
    ow = (w + l + r - kw) // stride[1] + 1
    geometry = ((n, h, w, c), (kh, kw), tuple(stride), tuple(pad), (oh, ow))
    return geometry, kh * kw, (n, oh, ow, c)


class MaxPool2D(_Op):
    def check(self, node, ins, outs):
        need_arity(node, 1, 1)
        x, y = ins[0], outs[0]
        wide = _wide(node, ins, outs)
        geometry, _, shape = _pool_geometry(node, x)
        need_shape(node, y, shape)
        if (x.scale, x.zero_point) != (y.scale, y.zero_point):
            _fail(node, "MaxPool2D must keep the scale and zero point of its input")
        node.params = (geometry,) + _clamp(node, y.dtype) + (wide,)

    def add_step(self, plan, i, prep, node, ins, outs, offsets):
        geometry, qmin, qmax, wide = node.params
        if wide:
            _native.plan_set_maxpool16(plan, i, geometry, offsets[node.inputs[0]],
                                       offsets[node.outputs[0]], qmin, qmax,
                                       _native.qs16_kernel_name("maxpool"))
            return
        plan.set_maxpool(i, geometry, offsets[node.inputs[0]], offsets[node.outputs[0]],
                         qmin, qmax, _native.ops_kernel_name("maxpool"))


class AvgPool2D(_Op):
    def check(self, node, ins, outs):
        need_arity(node, 1, 1)
        x, y = ins[0], outs[0]
        wide = _wide(node, ins, outs)
        geometry, area, shape = _pool_geometry(node, x)
        if area > 2**16:
            _fail(node, f"kernel of {area} pixels; at most 65536 are supported")
        need_shape(node, y, shape)
        cip = need_attr_int(node, "count_include_pad", 0, 1, 0)
        qmin, qmax = _clamp(node, y.dtype)
        m0, sh = _derive(node, Q.avgpool_params, x.scale, y.scale, area)
        node.params = (geometry, x.zero_point, y.zero_point, qmin, qmax, cip, m0, sh)
        node.wide = wide

    def add_step(self, plan, i, prep, node, ins, outs, offsets):
        if node.wide:
            _native.plan_set_avgpool16(plan, i, *node.params, offsets[node.inputs[0]],
                                       offsets[node.outputs[0]],
                                       _native.qs16_kernel_name("avgpool"))
            return
        whole = _native.pool_covers_image(node.params[0])  # runs the global kernel
        plan.set_avgpool(i, *node.params, offsets[node.inputs[0]], offsets[node.outputs[0]],
                         _native.ops_kernel_name("gavgpool" if whole else "avgpool"))


class GlobalAvgPool(_Op):
    def check(self, node, ins, outs):
        need_arity(node, 1, 1)
        x, y = ins[0], outs[0]
        wide = _wide(node, ins, outs)
        _rank(node, x, 4)
        n, h, w, c = x.shape
        if not 1 <= h * w <= 2**23:
            _fail(node, f"needs 1 <= H * W <= 2^23, got {list(x.shape)}")
        need_shape(node, y, (n, 1, 1, c))
        if wide:  # zero points are 0: bias = -hw * zi = 0
            m0, sh = _derive(node, lambda: Q.multiplier(x.scale / (y.scale * (h * w))))
            bias = 0
        else:
            bias, m0, sh = _derive(node, Q.gavgpool_params, x.scale, x.zero_point, y.scale,
                                   h * w)
        node.params = (n, h * w, c, (bias, m0, sh, y.zero_point) + _clamp(node, y.dtype))
        node.wide = wide

    def add_step(self, plan, i, prep, node, ins, outs, offsets):
        if node.wide:
            _native.plan_set_gavgpool16(plan, i, *node.params, offsets[node.inputs[0]],
                                        offsets[node.outputs[0]],
                                        _native.qs16_kernel_name("gavgpool"))
            return
        plan.set_gavgpool(i, *node.params, offsets[node.inputs[0]], offsets[node.outputs[0]],
                          _native.ops_kernel_name("gavgpool"))


def _broadcast(node, a, b):
    from qengine._kernels_ops import _broadcast as coalesce
    for v in (a, b):
        _rank(node, v, 0, 6)
    try:
        return coalesce(SimpleNamespace(shape=tuple(a.shape), ndim=len(a.shape)),
                        SimpleNamespace(shape=tuple(b.shape), ndim=len(b.shape)))
    except ValueError as exc:
        _fail(node, str(exc))


class Add(_Op):
    kind = "add"

    def check(self, node, ins, outs):
        need_arity(node, 2, 1)
        node.wide = self.kind == "add" and _wide(node, ins, outs)
        if not node.wide:
            _all_int8(node, ins, outs)
        (a, b), y = ins, outs[0]
        out_shape, shape, sa, sb = _broadcast(node, a, b)
        need_shape(node, y, out_shape)
        if node.wide:
            from qengine._kernels_qs16 import add16_params
            qmin, qmax = _clamp(node, "int16")
            node.params = (shape, sa, sb, _derive(node, add16_params, a.scale, 0, b.scale, 0,
                                                  y.scale) + (0, qmin, qmax))
            return
        qmin, qmax = _clamp(node)
        node.params = (shape, sa, sb, self.params(node, a, b, y) + (y.zero_point, qmin, qmax))

    def params(self, node, a, b, y):
        return _derive(node, Q.add_params, a.scale, a.zero_point, b.scale, b.zero_point,
                       y.scale, y.zero_point)

    def add_step(self, plan, i, prep, node, ins, outs, offsets):
        a, b = node.inputs
        if node.wide:
            _native.plan_set_add16(plan, i, *node.params, offsets[a], offsets[b],
                                   offsets[node.outputs[0]], _native.qs16_kernel_name("add"))
            return
        plan.set_eltwise(i, self.kind, *node.params, offsets[a], offsets[b],
                         offsets[node.outputs[0]], _native.ops_kernel_name(self.kind))


class Mul(Add):
    kind = "mul"

    def params(self, node, a, b, y):
        return (a.zero_point, b.zero_point) + _derive(node, Q.mul_params, a.scale, b.scale,
                                                      y.scale)


class Concat(_Op):
    """Along the last axis; an input whose scale/zero point differ from the output's is
    requantized through an eq. 12 table, others are copied."""

    def check(self, node, ins, outs):
        if len(node.inputs) < 1 or len(node.outputs) != 1:
            _fail(node, f"takes 1 or more inputs and 1 output, got {len(node.inputs)} and "
                        f"{len(node.outputs)}")
        _all_int8(node, ins, outs)
        y = outs[0]
        lead = tuple(ins[0].shape[:-1])
        for x in ins:
            _rank(node, x, 1, 8)
            if tuple(x.shape[:-1]) != lead or len(x.shape) != len(ins[0].shape):
                _fail(node, f"input {x.name!r} has shape {list(x.shape)}; all inputs must "
                            f"match {list(ins[0].shape)} except in the last axis")
        need_shape(node, y, lead + (sum(x.shape[-1] for x in ins),))
        tables = []
        for x in ins:
            if (x.scale, x.zero_point) == (y.scale, y.zero_point):
                tables.append(None)
            else:
                m0, sh = _derive(node, Q.requant_params, x.scale, y.scale)
                tables.append(_native.ops_requant_table(x.zero_point, m0, sh, y.zero_point,
                                                        -128, 127))
        node.params = (math.prod(lead), [x.shape[-1] for x in ins], tables)

    def scratch(self, prep, ins, outs, num_threads):
        return _native.concat_scratch_size(len(ins))

    def add_step(self, plan, i, prep, node, ins, outs, offsets):
        pixels, channels, tables = node.params
        plan.set_concat(i, pixels, channels, tables, [offsets[v] for v in node.inputs],
                        offsets[node.outputs[0]], _native.ops_kernel_name("lut"))


class Lut(_Op):
    def check(self, node, ins, outs):
        need_arity(node, 1, 1)
        _all_int8(node, ins, outs)
        need_shape(node, outs[0], ins[0].shape)
        node.params = np.ascontiguousarray(need_const(node, "table", "int8", (256,)))

    def add_step(self, plan, i, prep, node, ins, outs, offsets):
        plan.set_lut(i, math.prod(ins[0].shape), node.params, offsets[node.inputs[0]],
                     offsets[node.outputs[0]], _native.ops_kernel_name("lut"))


class Requantize(Lut):
    """int8 -> int8 through an eq. 12 table; with an int16 side (format 1.1: int8 <->
    int16, int16 -> int16) eq. 24 evaluated directly."""

    def check(self, node, ins, outs):
        need_arity(node, 1, 1)
        x, y = ins[0], outs[0]
        for v in (x, y):
            if v.dtype not in ("int8", "int16"):
                _fail(node, f"value {v.name!r} must be int8 or int16, got {v.dtype}")
        need_shape(node, y, x.shape)
        qmin, qmax = _clamp(node, y.dtype)
        m0, sh = _derive(node, Q.requant_params, x.scale, y.scale)
        node.wide = "int16" in (x.dtype, y.dtype)
        if node.wide:
            node.params = (x.dtype == "int16", y.dtype == "int16",
                           (x.zero_point, m0, sh, y.zero_point, qmin, qmax))
            return
        node.params = _native.ops_requant_table(x.zero_point, m0, sh, y.zero_point, qmin,
                                                qmax)

    def add_step(self, plan, i, prep, node, ins, outs, offsets):
        if node.wide:
            _native.plan_set_requant16(plan, i, math.prod(ins[0].shape), *node.params,
                                       offsets[node.inputs[0]], offsets[node.outputs[0]],
                                       _native.qs16_kernel_name("requantize"))
            return
        super().add_step(plan, i, prep, node, ins, outs, offsets)


class Softmax(_Op):
    """Over the last axis; float32 out, or int8 out with scale 1/256, zero point -128."""

    def check(self, node, ins, outs):
        need_arity(node, 1, 1)
        x, y = ins[0], outs[0]
        need_dtype(node, x, "int8")
        _rank(node, x, 1, 8)
        need_shape(node, y, x.shape)
        if y.dtype == "int8":
            if (y.scale, y.zero_point) != (1 / 256, -128):
                _fail(node, f"an int8 output must have scale 1/256 and zero point -128, got "
                            f"{y.scale!r} and {y.zero_point}")
        elif y.dtype != "float32":
            _fail(node, f"the output must be float32 or int8, got {y.dtype}")
        node.params = _derive(node, Q.softmax_table, x.scale)

    def add_step(self, plan, i, prep, node, ins, outs, offsets):
        n = ins[0].shape[-1]
        plan.set_softmax(i, math.prod(ins[0].shape) // n, n, node.params,
                         outs[0].dtype == "int8", offsets[node.inputs[0]],
                         offsets[node.outputs[0]], _native.ops_kernel_name("softmax"))


class Reshape(_Op):
    """Same bytes, another shape: no step; the planner makes the output an alias."""
    alias = True

    def check(self, node, ins, outs):
        need_arity(node, 1, 1)
        x, y = ins[0], outs[0]
        need_dtype(node, y, x.dtype)
        if math.prod(x.shape) != math.prod(y.shape):
            _fail(node, f"cannot reshape {list(x.shape)} ({math.prod(x.shape)} elements) to "
                        f"{list(y.shape)} ({math.prod(y.shape)} elements)")
        if (x.scale, x.zero_point) != (y.scale, y.zero_point):
            raise ModelFormatError(f"node {node.name!r}: Reshape must keep the scale and "
                                   f"zero point of its input")


SPECS = {"FullyConnected": FullyConnected(), "Conv2D": Conv2D(), "MaxPool2D": MaxPool2D(),
         "AvgPool2D": AvgPool2D(), "GlobalAvgPool": GlobalAvgPool(), "Add": Add(),
         "Mul": Mul(), "Concat": Concat(), "Lut": Lut(), "Requantize": Requantize(),
         "Softmax": Softmax(), "Reshape": Reshape()}
