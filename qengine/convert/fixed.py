"""The fixed-point scheme and int16 activations (issue 8; docs/CONVERTER.md "Fixed point
and mixed precision").

    tp = TensorChoices(graph, batches, ranges, scheme)       # statistics, once
    qg = quantize_graph_wide(graph, tp, int16_tensors)        # a QGraph (quantize.py)

scheme "fixed": every scale is 2^-f (value = round(x * 2^f), Q-format), zero points 0.
  Activations: f per same-scale group minimising the expected squared error (clipping
  outside the int8 / int16 range + step^2 / 12 inside) over the calibration histogram.
  Weights: f per output channel minimising the squared error of the channel's weights.
  Bias: at the product's fraction f_in + f_w. Requantization M = 2^-(f_in + f_w - f_out),
  so m0 = 2^30 and the rescale is a rounding shift; Add and Requantize likewise (their
  loader-derived m0 is 2^30); pools keep only the 1/count of the average as a non-power
  of two (m0 = 2^30 exactly when the window count is a power of two).
  int16 tensors get one bit of headroom over their best f (INT16_HEADROOM).
scheme "int8": affine int8 tensors (quantize.choose_qparams); int16 tensors symmetric
  with zero point 0, scale 2 max|x| / 32767 over the calibrated range.

int16_tensors: the activation tensors stored as int16. Same-scale groups (max_pool,
reshape) share one dtype; concat, mul, lut and softmax work on int8 only. Where a
consumer needs the other dtype a `requantize` node is inserted (int8 -> int16 exactly:
scale / 256 for zero point 0, / 128 for affine).
"""
import math

import numpy as np

from qengine.convert import quantize as QZ
from qengine.convert.calibrate import HIST_BINS, _centers
from qengine.convert.executor import FloatExecutor, pool_counts

INT8_ONLY_OPS = ("concat", "mul", "softmax") + QZ.LUT_OPS
WEIGHTED = ("conv2d", "dense")
BIAS16_MAX = 2**40
INT16_HEADROOM = 2.0   # int16 ranges: 1 bit above the calibrated range (costs ~6 dB of
                       # ~90 dB, saves clipping on inputs beyond the calibration data)


def qformat(scale, dtype):
    """"Qm.f" of a power-of-two scale 2^-f in a signed type of b bits (m = b - 1 - f);
    "" for another scale."""
    from qengine.quant import is_power_of_two
    if dtype not in ("int8", "int16") or not is_power_of_two(scale):
        return ""
    f = -int(math.frexp(scale)[1] - 1)
    return f"Q{(8 if dtype == 'int8' else 16) - 1 - f}.{f}"


# ---- choosing fractional bits -------------------------------------------------------

def best_frac_bits(hist, a, bits):
    """f minimising sum_h hist * ((x - clip(x))^2 + [inside] 2^-2f / 12) for the signed
    `bits`-bit grid 2^-f; hist over [-a, a] (calibrate.HIST_BINS bins)."""
    qmax, qmin = 2**(bits - 1) - 1, -2**(bits - 1)
    if a <= 0 or hist is None or not np.any(hist):
        return bits - 1
    f0 = math.floor(math.log2(qmax / a))        # largest f that clips nothing
    c, w = _centers(a), np.asarray(hist, np.float64)
    best, best_err = f0, np.inf
    for f in range(f0, f0 + 7):
        step = 2.0**-f
        lo, hi = qmin * step, qmax * step
        clipped = np.clip(c, lo, hi)
        inside = (c >= lo) & (c <= hi)
        err = float(np.sum(w * ((c - clipped) ** 2 + inside * step * step / 12.0)))
        if err < best_err * (1 - 1e-9):
            best, best_err = f, err
    return best


def pow2_weights(w, f_max=None):
    """Per-output-channel power-of-two int8 weights in [-127, 127]: (q, scale [O]) with
    scale[o] = 2^-f[o], f[o] minimising the channel's squared error (clipping vs rounding).
    f_max [O] caps f (keeps the requantization shift within range)."""
    w = np.asarray(w, np.float64)
    flat = w.reshape(w.shape[0], -1)
    fs = np.zeros(w.shape[0], np.int64)
    for o, row in enumerate(flat):
        amax = float(np.abs(row).max())
        if amax == 0:
            fs[o] = 0 if f_max is None else min(0, int(f_max[o]))
            continue
        f0 = math.floor(math.log2(127 / amax))
        best, best_err = f0, np.inf
        for f in range(f0, f0 + 4):
            q = np.clip(np.round(row * 2.0**f), -127, 127)
            err = float(np.sum((row - q * 2.0**-f) ** 2))
            if err < best_err * (1 - 1e-12):
                best, best_err = f, err
        fs[o] = best if f_max is None else min(best, int(f_max[o]))
    scale = 2.0 ** -fs.astype(np.float64)
    q = np.clip(np.round(flat * 2.0 ** fs[:, None]), -127, 127).astype(np.int8)
    return q.reshape(w.shape), scale


# ---- statistics and per-tensor choices ---------------------------------------------

def same_scale_groups(graph):
    """{tensor: group root} for the same-scale ops (quantize.SAME_SCALE_OPS)."""
    uf = QZ._UnionFind()
    for n in graph.nodes:
        if n.op in QZ.SAME_SCALE_OPS:
            for i in n.inputs:
                if i not in graph.consts:
                    uf.union(i, n.outputs[0])
    return {t: uf.find(t) for t in graph.shapes}


class TensorChoices:
    """(scale, zero point) of every activation tensor for int8 and for int16, from one
    histogram pass of the float teacher over the calibration batches."""

    def __init__(self, graph, batches, ranges, scheme):
        self.graph, self.scheme = graph, scheme
        self.root = same_scale_groups(graph)
        self.range = {}
        for t, r in self.root.items():
            if t not in ranges:
                raise ValueError(f"no calibration range for tensor {t!r}")
            lo, hi = self.range.get(r, ranges[t])
            self.range[r] = (min(lo, ranges[t][0]), max(hi, ranges[t][1]))
        self.hist = {}
        if scheme == "fixed":
            amax = {r: max(-lo, hi) for r, (lo, hi) in self.range.items()}
            ex = FloatExecutor(graph)

            def see(name, x):
                r = self.root.get(name)
                a = amax.get(r, 0.0)
                if r is None or a <= 0:
                    return
                idx = ((x.ravel().astype(np.float64) + a) * (HIST_BINS / (2 * a))).astype(np.int64)
                np.clip(idx, 0, HIST_BINS - 1, out=idx)
                self.hist[r] = self.hist.get(r, 0) + np.bincount(idx, minlength=HIST_BINS)

            for feed in batches:
                ex.run(feed, on_tensor=see)
            self.frac = {(r, b): best_frac_bits(self.hist.get(r), amax[r], b) - (b == 16)
                         for r in self.range for b in (8, 16)}

    def params(self, tensor, dtype):
        r = self.root[tensor]
        lo, hi = self.range[r]
        if self.scheme == "fixed":
            return 2.0 ** -self.frac[(r, 8 if dtype == "int8" else 16)], 0
        if dtype == "int16":
            return INT16_HEADROOM * max(-lo, hi, QZ.MIN_RANGE) / 32767.0, 0
        return QZ.choose_qparams(lo, hi)


# ---- int16 tensors of a choice of layers ---------------------------------------------

def candidate_layers(graph):
    """Names whose output may be int16: graph inputs and the conv / dense / add / average
    pool nodes (max_pool and reshape follow their input's group)."""
    names = list(graph.inputs)
    names += [n.name for n in graph.nodes
              if n.op in WEIGHTED + ("add", "avg_pool", "global_avg_pool")]
    return names


def int16_tensors(graph, layers):
    """The tensors stored as int16 when `layers` (node or graph-input names, or "all")
    keep their outputs in int16; groups touching an int8-only op stay int8."""
    root = same_scale_groups(graph)
    by_name = {n.name: n for n in graph.nodes}
    if layers == "all":
        chosen = {root[t] for t in graph.shapes}
    else:
        chosen = set()
        for name in layers:
            if name in graph.inputs:
                chosen.add(root[name])
            elif name in by_name:
                chosen.add(root[by_name[name].outputs[0]])
            else:
                raise ValueError(f"int16_layers: {name!r} is neither a node nor a graph "
                                 f"input of the model")
    for n in graph.nodes:
        if n.op in INT8_ONLY_OPS:
            chosen.discard(root[n.outputs[0]])
            if n.op == "concat":
                chosen.difference_update(root[i] for i in n.inputs)
    return {t for t in graph.shapes if root[t] in chosen}


# ---- the quantized graph -------------------------------------------------------------

def _clamp(act, scale, zp, dtype):
    lo_q, hi_q = (-128, 127) if dtype == "int8" else (-32768, 32767)
    if act is None:
        return lo_q, hi_q
    lo, hi = act
    qmin = lo_q if lo == -np.inf else int(np.clip(zp + np.round(lo / scale), lo_q, hi_q))
    qmax = hi_q if hi == np.inf else int(np.clip(zp + np.round(hi / scale), lo_q, hi_q))
    return qmin, qmax


def bias64(b, s_in, s_w):
    """int64 bias at the product's fraction (zero point 0: nothing folded), |b| <= 2^40."""
    b = np.zeros(len(s_w)) if b is None else np.asarray(b, np.float64)
    return np.clip(np.round(b / (s_in * s_w)), -BIAS16_MAX, BIAS16_MAX).astype(np.int64)


def quantize_graph_wide(graph, choices, wide=frozenset()):
    """The QGraph of `graph` under choices.scheme with the tensors in `wide` as int16."""
    fixed = choices.scheme == "fixed"
    tensors = {}
    for t, shape in graph.shapes.items():
        dtype = "int16" if t in wide else "int8"
        s, z = choices.params(t, dtype)
        tensors[t] = QZ.QTensor(t, tuple(shape), float(s), int(z), dtype)
    for n in graph.nodes:  # softmax: the format's fixed int8 output grid
        if n.op == "softmax":
            tensors[n.outputs[0]] = QZ.QTensor(n.outputs[0], tuple(graph.shapes[n.outputs[0]]),
                                               1.0 / 256.0, -128, "int8")
    nodes, converted = [], {}

    def as_dtype(t, dtype):
        """Name of tensor t in `dtype`, inserting one requantize node on first use."""
        src = tensors[t]
        if src.dtype == dtype:
            return t
        key = (t, dtype)
        if key not in converted:
            name = f"{t}:{dtype}"
            if dtype == "int16":   # exact: the int8 grid refined 256x (128x if affine)
                s = src.scale / (256.0 if src.zero_point == 0 else 128.0)
                tensors[name] = QZ.QTensor(name, src.shape, s, 0, "int16")
            else:
                s, z = choices.params(t, "int8")
                tensors[name] = QZ.QTensor(name, src.shape, float(s), int(z), "int8")
            nodes.append(QZ.QNode("requantize", f"{name}:requantize", [t], [name]))
            converted[key] = name
        return converted[key]

    for n in graph.nodes:
        where = f"{n.op} {n.name}"
        out = tensors[n.outputs[0]]
        q = QZ.QNode(n.op, n.name, list(n.inputs), list(n.outputs), dict(n.attrs))
        if n.op in WEIGHTED:
            tin = tensors[n.inputs[0]]
            wide_in = tin.dtype == "int16" or out.dtype == "int16"
            q.inputs[0] = as_dtype(n.inputs[0], "int16" if wide_in else "int8")
            tin = tensors[q.inputs[0]]
            s_in, z_in = tin.scale, tin.zero_point
            w = n.params["weight"]
            given = n.params.get("split_scale")   # a half of a split layer (split16.py)
            if fixed and given is not None:
                wq, s_w = QZ.quantize_weights(w, given)
                f_max = np.floor(32 + math.log2(s_in / out.scale) + 1e-9)
                if np.any(-np.log2(s_w) > f_max):  # sh <= 62 needs a coarser grid there
                    wq, s_w = pow2_weights(w, np.minimum(-np.log2(s_w), f_max))
            elif fixed:  # keep the shift f_in + f_w - f_out <= 32 (sh <= 62)
                f_max = np.full(w.shape[0], 32 + math.log2(s_in / out.scale))
                wq, s_w = pow2_weights(w, np.floor(f_max + 1e-9))
            else:
                wq, s_w = QZ.quantize_weights(w, given)
                s_w_min = QZ.MIN_MULTIPLIER * out.scale / s_in
                if np.any(s_w < s_w_min):
                    s_w = np.where(s_w == 0, out.scale / s_in, np.maximum(s_w, s_w_min))
                    shape = (-1,) + (1,) * (wq.ndim - 1)
                    wq = np.clip(np.round(w / s_w.reshape(shape)), -127, 127).astype(np.int8)
            q.weight, q.w_scale = wq, s_w
            q.bias = bias64(n.params.get("bias"), s_in, s_w) if wide_in else \
                QZ.quantize_bias(n.params.get("bias"), s_in, s_w, z_in, wq)
            q.m0, q.sh = QZ.quantize_multiplier(s_in * s_w / out.scale, where)
            q.qmin, q.qmax = _clamp(n.attrs.get("act"), out.scale, out.zero_point, out.dtype)
            if n.op == "conv2d":
                q.attrs["pad_value"] = z_in
        elif n.op in ("add", "avg_pool", "global_avg_pool"):
            q.inputs = [as_dtype(i, out.dtype) for i in n.inputs]
            q.qmin, q.qmax = _clamp(n.attrs.get("act"), out.scale, out.zero_point, out.dtype)
            if n.op == "avg_pool":
                cnt = pool_counts(graph.shapes[n.inputs[0]], n.attrs["kernel"],
                                  n.attrs["strides"], n.attrs["pads"], n.attrs["count_pads"],
                                  n.attrs["count_include_pad"])
                q.attrs["counts"] = cnt[0, :, :, 0].astype(np.int32)
        elif n.op in INT8_ONLY_OPS:
            q.inputs = [as_dtype(i, "int8") for i in n.inputs]
            if n.op in QZ.LUT_OPS:
                tin = tensors[q.inputs[0]]
                q.lut = QZ.build_lut(QZ._lut_fn(n.op, n.attrs), tin.scale, tin.zero_point,
                                     out.scale, out.zero_point)
        elif n.op in ("max_pool", "reshape"):
            q.qmin, q.qmax = _clamp(None, out.scale, out.zero_point, out.dtype)
        else:
            raise ValueError(f"{where}: op {n.op!r} has no fixed-point / int16 form")
        nodes.append(q)
    return QZ.QGraph(nodes, list(graph.inputs), list(graph.outputs), tensors, {},
                     dict(graph.input_layouts), dict(graph.output_layouts))
