"""Float IR + activation ranges -> the int8 graph IR: everything an integer runtime needs.

    qg = quantize_graph(graph, ranges)     # ranges from calibrate.calibrate

The quantized IR (QGraph) keeps the float IR's node order and tensor names. Per tensor:
a QTensor (stored shape, scale, zero point; int8). Per node, a QNode with the op's
attributes plus, depending on the op:

  conv2d, dense  weight int8 (OHWI resp. [N, K], per-output-channel symmetric, in
                 [-127, 127]), w_scale float [O], bias int32 [O] = round(b / (s_in s_w))
                 - z_in * sum(w) (docs/QUANTIZATION.md eq. 3), m0/sh int32 [O] (eq. 4-5),
                 qmin/qmax (the fused clamp); attrs["pad_value"] = z_in.
  add            y = clamp(((qa - za) * ka + (qb - zb) * kb + 2^(sh-1)) >> sh) + zo):
                 ka ~ s_a / s_o * 2^sh, kb ~ s_b / s_o * 2^sh, one shift (the larger of
                 the two multipliers in [2^30, 2^31)); stored as m0 = [ka, kb], sh = [sh].
                 A constant operand is quantized per tensor into QGraph.consts.
  mul            y = clamp(requant((qa - za) * (qb - zb); m0, sh) + zo), M = s_a s_b / s_o.
  global_avg_pool, avg_pool
                 y = clamp(requant(sum over the window of (q - z_in); m0, sh) + zo) with
                 M = s_in / (s_out * window size) (avg_pool: the full window; a window
                 clipped by padding has its own divisor: `counts` in attrs).
  relu, clip, leaky_relu, sigmoid, tanh, hard_sigmoid, hard_swish
                 lut int8 [256]: y = lut[q + 128], built from the float function.
  softmax        output fixed at scale 1/256, zero point -128 (computed in float by the
                 simulation; the runtime chooses its integer method).
  max_pool, concat, reshape, transpose, pad
                 no arithmetic: inputs and output share one (scale, zero point);
                 pad and max_pool pad with the zero point resp. -128.

Same-scale groups (max_pool, concat, reshape, transpose, pad) are merged with
union-find before parameters are chosen; the group's range is the union of its members'.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from qengine import quant as Q
from qengine.convert.executor import pool_counts

QMIN, QMAX = -128, 127
MIN_RANGE = 1e-4  # narrower ranges (e.g. all-zero tensors) are widened to this
MIN_MULTIPLIER = 2.0**-20  # weight scales are raised so M = s_in s_w / s_out >= this
SAME_SCALE_OPS = ("max_pool", "concat", "reshape", "transpose", "pad")
LUT_OPS = ("relu", "clip", "leaky_relu", "sigmoid", "tanh", "hard_sigmoid", "hard_swish")


@dataclass
class QTensor:
    """An int8 activation: real value = scale * (q - zero_point)."""
    name: str
    shape: Tuple[int, ...]
    scale: float
    zero_point: int
    dtype: str = "int8"


@dataclass
class QNode:
    """One integer op (see the module docstring for which fields each op uses)."""
    op: str
    name: str
    inputs: List[str]
    outputs: List[str]
    attrs: dict = field(default_factory=dict)
    weight: Optional[np.ndarray] = None     # int8
    w_scale: Optional[np.ndarray] = None    # float64 [O]
    bias: Optional[np.ndarray] = None       # int32 [O], zero point folded in (eq. 3)
    m0: Optional[np.ndarray] = None         # int32
    sh: Optional[np.ndarray] = None         # int32
    qmin: int = QMIN
    qmax: int = QMAX
    lut: Optional[np.ndarray] = None        # int8 [256]


@dataclass
class QGraph:
    """The quantized graph: nodes in execution order, every tensor's QTensor, quantized
    constant operands (int8 with their own QTensor), and the float graph's layouts."""
    nodes: List[QNode]
    inputs: List[str]
    outputs: List[str]
    tensors: Dict[str, QTensor]
    consts: Dict[str, np.ndarray] = field(default_factory=dict)
    input_layouts: Dict[str, str] = field(default_factory=dict)
    output_layouts: Dict[str, str] = field(default_factory=dict)


# ---- the arithmetic helpers ----

def quantize_multiplier(m, where="layer"):
    """Real multipliers M >= 0 -> (m0 int32 [n], sh int32 [n]) with M ~ m0 * 2^-sh, one
    `qengine.quant.multiplier` per entry (the single implementation, shared with the
    loader). Raises ValueError naming `where` if some sh falls outside [1, 62]."""
    m = np.atleast_1d(np.asarray(m, np.float64))
    m0 = np.empty(m.shape, np.int32)
    sh = np.empty(m.shape, np.int32)
    for i, v in enumerate(m):
        try:
            m0[i], sh[i] = Q.multiplier(v)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}: the layer's scales are degenerate (e.g. a "
                             f"dead tensor with a tiny range, or weights far larger than "
                             f"the output range)") from None
    return m0, sh


def choose_qparams(lo, hi):
    """Affine int8 (scale, zero point) for the range [lo, hi] (widened to contain 0 and
    at least MIN_RANGE wide); real zero is exactly q = zero point."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo < MIN_RANGE:
        hi = lo + MIN_RANGE
    scale = (hi - lo) / (QMAX - QMIN)
    zp = int(np.clip(np.round(QMIN - lo / scale), QMIN, QMAX))
    return scale, zp


def quantize_weights(w, scale=None):
    """Per-output-channel (axis 0) symmetric int8 in [-127, 127]: (q, scale [O]).
    An all-zero channel gets scale 0 (the caller picks a harmless one). `scale`, if
    given, is used instead of max |w| / 127 (weights already rounded to that grid by
    reconstruct.py come back exactly)."""
    w = np.asarray(w, np.float64)
    if scale is None:
        scale = np.abs(w.reshape(w.shape[0], -1)).max(axis=1) / 127.0
    scale = np.asarray(scale, np.float64)
    safe = np.where(scale > 0, scale, 1.0).reshape((-1,) + (1,) * (w.ndim - 1))
    q = np.clip(np.round(w / safe), -127, 127).astype(np.int8)
    return q, scale


# eq. 3's int32 accumulator holds |bias'| + K * 128 * 127; with the bias given at least 2^30
# of room, K may be at most this (a larger layer must be split along K)
MAX_K = (2**30 - 1) // (128 * 127)


def check_accumulator(k, where="layer"):
    """ValueError unless K products of int8 values fit the int32 accumulator with room
    for the bias: K * 128 * 127 + |bias| < 2^31 (DESIGN.md section 3)."""
    if k > MAX_K:
        raise ValueError(
            f"{where}: K={k} products per output could overflow the int32 accumulator "
            f"(K * 128 * 127 = {k * 128 * 127} leaves less than 2^30 of the 2^31 range "
            f"for the bias); at most K={MAX_K} is supported: split the layer along K")


def quantize_bias(b, s_in, s_w, z_in, wq, where="layer"):
    """eq. 3: bias'[n] = round(b[n] / (s_in s_w[n])) - z_in * sum_k w[n, k], as int32.

    The result is clipped so that |bias'| + K * 128 * 127 < 2^31 (section 2's bound). Only
    a bias far outside the output range is ever clipped (with M >= MIN_MULTIPLIER,
    2^30 accumulator steps are >= 1024 output steps), so the output saturates the same."""
    b = np.zeros(len(s_w)) if b is None else np.asarray(b, np.float64)
    wsum = wq.reshape(wq.shape[0], -1).astype(np.int64).sum(axis=1)
    check_accumulator(wq[0].size, where)
    limit = 2**31 - 1 - wq[0].size * 128 * 127
    out = np.round(b / (s_in * s_w)) - float(z_in) * wsum
    return np.clip(out, -limit, limit).astype(np.int32)


def build_lut(fn, s_in, z_in, s_out, z_out):
    """256-entry table lut[q + 128] = quantize(fn(dequantize(q))): `qengine.quant.lut_table`
    (eq. 13), the one table builder."""
    return Q.lut_table(fn, s_in, z_in, s_out, z_out)


def _lut_fn(op, a):
    return {
        "relu": lambda x: np.maximum(x, 0),
        "clip": lambda x: np.clip(x, a.get("lo"), a.get("hi")),
        "leaky_relu": lambda x: np.where(x >= 0, x, x * a.get("alpha", 0.01)),
        "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
        "tanh": np.tanh,
        "hard_sigmoid": lambda x: np.clip(x * a.get("alpha", 0.2) + a.get("beta", 0.5), 0, 1),
        "hard_swish": lambda x: x * np.clip(x / 6 + 0.5, 0, 1),
    }[op]


# ---- the graph pass ----

class _UnionFind:
    def __init__(self):
        self.parent = {}

    def find(self, x):
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a, b):
        self.parent[self.find(a)] = self.find(b)


def _tensor_params(graph, ranges):
    """(scale, zero point) per activation tensor, honouring same-scale groups."""
    uf = _UnionFind()
    for n in graph.nodes:
        if n.op in SAME_SCALE_OPS:
            for i in n.inputs:
                if i not in graph.consts:
                    uf.union(i, n.outputs[0])
    group_range = {}
    for name in graph.shapes:
        if name not in ranges:
            continue
        root = uf.find(name)
        lo, hi = ranges[name]
        glo, ghi = group_range.get(root, (lo, hi))
        group_range[root] = (min(lo, glo), max(hi, ghi))
    params = {}
    for name in graph.shapes:
        root = uf.find(name)
        if root not in group_range:
            raise ValueError(f"no calibration range for tensor {name!r}")
        params[name] = choose_qparams(*group_range[root])
    for n in graph.nodes:  # softmax: fixed output grid [0, 1)
        if n.op == "softmax":
            params[n.outputs[0]] = (1.0 / 256.0, -128)
    return params


def _clamp(act, scale, zp):
    if act is None:
        return QMIN, QMAX
    lo, hi = act
    qmin = QMIN if lo == -np.inf else int(np.clip(zp + np.round(lo / scale), QMIN, QMAX))
    qmax = QMAX if hi == np.inf else int(np.clip(zp + np.round(hi / scale), QMIN, QMAX))
    return qmin, qmax


def quantize_graph(graph, ranges):
    """The QGraph of float `graph` with activation `ranges` ({tensor: (lo, hi)})."""
    tp = _tensor_params(graph, ranges)
    tensors = {k: QTensor(k, tuple(graph.shapes[k]), float(s), int(z)) for k, (s, z) in tp.items()}
    qconsts = {}
    nodes = []
    for n in graph.nodes:
        where = f"{n.op} {n.name}"
        out = n.outputs[0]
        s_o, z_o = tp[out]
        q = QNode(n.op, n.name, list(n.inputs), list(n.outputs), dict(n.attrs))
        for c in n.inputs:
            if c in graph.consts and c not in qconsts:
                v = graph.consts[c]
                s, z = choose_qparams(v.min(), v.max())
                qconsts[c] = np.clip(np.round(v / s) + z, QMIN, QMAX).astype(np.int8)
                tensors[c] = QTensor(c, tuple(v.shape), float(s), int(z))
        ins = [tensors[i] for i in n.inputs]
        if n.op in ("conv2d", "dense"):
            s_in, z_in = ins[0].scale, ins[0].zero_point
            check_accumulator(int(np.prod(n.params["weight"].shape[1:])), where)
            wq, s_w = quantize_weights(n.params["weight"], n.params.get("w_scale"))
            # Channels with (near-)zero weights would get a multiplier too small for
            # sh <= 62 and a huge bias; their weights contribute < 2^-20 output steps
            # each, so a larger scale costs nothing (all-zero channel: M = 1).
            s_w_min = MIN_MULTIPLIER * s_o / s_in
            if np.any(s_w < s_w_min):
                s_w = np.where(s_w == 0, s_o / s_in, np.maximum(s_w, s_w_min))
                shape = (-1,) + (1,) * (wq.ndim - 1)
                wq = np.clip(np.round(n.params["weight"] / s_w.reshape(shape)), -127, 127).astype(np.int8)
            q.weight, q.w_scale = wq, s_w
            q.bias = quantize_bias(n.params.get("bias"), s_in, s_w, z_in, wq, where)
            q.m0, q.sh = quantize_multiplier(s_in * s_w / s_o, where)
            q.qmin, q.qmax = _clamp(n.attrs.get("act"), s_o, z_o)
            if n.op == "conv2d":
                q.attrs["pad_value"] = z_in
        elif n.op == "add":
            ma, mb = ins[0].scale / s_o, ins[1].scale / s_o
            _, sh = quantize_multiplier(max(ma, mb), where)
            k = np.round(np.array([ma, mb]) * 2.0**int(sh[0])).astype(np.int64)
            if np.any(k >= 2**31):
                raise ValueError(f"{where}: add multipliers overflow int32")
            q.m0, q.sh = k.astype(np.int32), sh
            q.qmin, q.qmax = _clamp(n.attrs.get("act"), s_o, z_o)
        elif n.op == "mul":
            q.m0, q.sh = quantize_multiplier(ins[0].scale * ins[1].scale / s_o, where)
        elif n.op in ("global_avg_pool", "avg_pool"):
            shape = graph.shapes[n.inputs[0]]
            if n.op == "global_avg_pool":
                count = shape[1] * shape[2]
            else:
                count = n.attrs["kernel"][0] * n.attrs["kernel"][1]
                cnt = pool_counts(shape, n.attrs["kernel"], n.attrs["strides"], n.attrs["pads"],
                                  n.attrs["count_pads"], n.attrs["count_include_pad"])
                q.attrs["counts"] = cnt[0, :, :, 0].astype(np.int32)
            q.m0, q.sh = quantize_multiplier(ins[0].scale / (s_o * count), where)
        elif n.op in LUT_OPS:
            q.lut = build_lut(_lut_fn(n.op, n.attrs), ins[0].scale, ins[0].zero_point, s_o, z_o)
        elif n.op == "pad":
            q.attrs["pad_q"] = int(np.clip(np.round(n.attrs["value"] / s_o) + z_o, QMIN, QMAX)) \
                if np.isfinite(n.attrs["value"]) else QMIN
        elif n.op in ("max_pool", "concat", "reshape", "transpose", "softmax"):
            pass
        else:
            raise ValueError(f"{where}: op {n.op!r} cannot be quantized (run canonicalize first?)")
        nodes.append(q)
    return QGraph(nodes, list(graph.inputs), list(graph.outputs), tensors, qconsts,
                  dict(graph.input_layouts), dict(graph.output_layouts))
