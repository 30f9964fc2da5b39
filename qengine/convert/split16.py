"""16-bit weights for int16 layers with the existing 16x8 kernels (int16_weight_bits=16;
docs/CONVERTER.md "16-bit weights", docs/QUANTIZATION.md section 14).

    splits = split_layers(student, teacher, scheme, wide_outputs)   # before calibration
    clamp_partials(student, ranges, splits)                         # after calibration

int8 weights cap the SQNR of a 16x8 layer at ~40 dB, whatever the activations. Each
weight channel is written as two int8 halves at scales S and S / 256:

    W ~ S * (W_hi + W_lo / 256),   W_hi = round(W / S) (the usual int8 weight, in
    [-127, 127]),  W_lo = clip(round(256 (W / S - W_hi)), -127, 127)             (25)

so |W - S (W_hi + W_lo / 256)| <= S / 512 (S / 256 for the rare residual of exactly
+-128/256): a grid of S / 256 over +-127 S, i.e. ~16-bit weights. The layer
y = act(conv(x, W) + b) becomes three nodes that the runtime already has:

    N:hi   conv(x, S W_hi) + b           16x8, int16 output, its own scale
    N:lo   conv(x, S/256 W_lo)           16x8, int16 output, its own (much finer) scale
    N      act(N:hi + N:lo)              int16 Add (eq. 23) with the fused clamp

Both partials read the same int16 input. The bias stays whole in the hi half (its
rounding step s_in S is far below the output's). The float IR is rewritten, so the
teacher used for calibration computes exactly the split layer (with ~16-bit weights).

The hi partial is pre-activation: with a saturating activation (MobileNetV2's ReLU6 on
random weights) its range can be several times the output's, and int16 steps over that
range waste bits (measured: +0.8 dB on MobileNetV2). So it carries a clamp of its own,
act widened by m = max over channels of S/256 sum_k |W_lo[n, k]| * max|x|, a bound of
|N:lo| for any input the int16 input can hold (input_bound): act(clamp(hi) + lo) =
act(hi + lo) exactly whenever |lo| <= m.
"""
import math

import numpy as np

from qengine.convert import quantize as QZ
from qengine.convert.fixed import INT16_HEADROOM, WEIGHTED, same_scale_groups
from qengine.convert.ir import Node

LO_FACTOR = 256.0


def weight_scale(w, scheme):
    """S per output channel: max|w| / 127 (int8), or the smallest power of two with
    max|w| / S <= 127 (fixed; no clipping, the lo half carries the rest). All-zero
    channels get S = 0 (int8; the quantizer picks a harmless one) or 1 (fixed)."""
    amax = np.abs(np.asarray(w, np.float64).reshape(w.shape[0], -1)).max(axis=1)
    if scheme != "fixed":
        return amax / 127.0
    f = np.array([0 if a == 0 else math.floor(math.log2(127.0 / a)) for a in amax])
    return 2.0 ** -f.astype(np.float64)


def split_weights(w, scale):
    """eq. 25: (W_hi, W_lo) int8 in [-127, 127] with w ~ scale * (W_hi + W_lo / 256),
    per output channel (axis 0)."""
    w = np.asarray(w, np.float64)
    s = np.asarray(scale, np.float64).reshape((-1,) + (1,) * (w.ndim - 1))
    safe = np.where(s > 0, s, 1.0)
    hi = np.clip(np.round(w / safe), -127, 127)
    lo = np.clip(np.round((w / safe - hi) * LO_FACTOR), -127, 127)
    return hi.astype(np.int8), lo.astype(np.int8)


def split_layers(graph, teacher, scheme, wide):
    """Rewrite, in place, every conv2d / dense of `graph` whose output tensor is in `wide`
    (int16) into hi + lo + add (module docstring), with the *teacher's* float weights
    (the student's may already be rounded to int8 by reconstruction). Layers whose
    weights are exactly int8 (W_lo = 0) stay as they are. Returns [(node, hi, lo)]."""
    tnodes = {n.name: n for n in teacher.nodes}
    nodes, splits = [], []
    for n in graph.nodes:
        if n.op not in WEIGHTED or n.outputs[0] not in wide:
            nodes.append(n)
            continue
        src = tnodes.get(n.name, n)
        w = np.asarray(src.params["weight"], np.float64)
        bias = src.params.get("bias")
        bias = np.zeros(w.shape[0], np.float32) if bias is None else bias
        s = weight_scale(w, scheme)
        w_hi, w_lo = split_weights(w, s)
        if not np.any(w_lo):
            nodes.append(n)
            continue
        shape = (-1,) + (1,) * (w.ndim - 1)
        y = n.outputs[0]
        attrs = {k: v for k, v in n.attrs.items() if k != "act"}
        hi = Node(n.op, f"{n.name}:hi", [n.inputs[0]], [f"{y}:hi"], dict(attrs, act=None),
                  {"weight": (w_hi * s.reshape(shape)).astype(np.float32),
                   "bias": np.asarray(bias, np.float32), "split_scale": s})
        lo = Node(n.op, f"{n.name}:lo", [n.inputs[0]], [f"{y}:lo"], dict(attrs, act=None),
                  {"weight": (w_lo * (s / LO_FACTOR).reshape(shape)).astype(np.float32),
                   "bias": np.zeros(w.shape[0], np.float32), "split_scale": s / LO_FACTOR})
        add = Node("add", n.name, [hi.outputs[0], lo.outputs[0]], [y],
                   {"act": n.attrs.get("act")})
        graph.shapes[hi.outputs[0]] = graph.shapes[lo.outputs[0]] = graph.shapes[y]
        nodes += [hi, lo, add]
        splits.append((n.name, hi, lo))
    graph.nodes[:] = nodes
    return splits


def input_bound(root, ranges, tensor, scheme):
    """A bound of the largest |x| the int16 form of `tensor` can hold
    (fixed.TensorChoices): its same-scale group's (`root`: same_scale_groups) calibrated
    max |x| times INT16_HEADROOM (int8 scheme: exact); twice that for the fixed scheme
    (its int16 Q-format has f >= f0 - 1, f0 the finest that clips nothing, so it holds
    less than 4 max|x|)."""
    amax = max(max(-ranges[t][0], ranges[t][1]) for t in root if root[t] == root[tensor])
    return INT16_HEADROOM * max(amax, QZ.MIN_RANGE) * (2.0 if scheme == "fixed" else 1.0)


def clamp_partials(graph, ranges, splits, scheme):
    """Give each hi partial the layer's activation widened by m >= |lo| for every input
    the int16 input can hold (eq. 27 of docs/QUANTIZATION.md), in its IR node and in
    `ranges` (edited in place)."""
    by_name = {n.name: n for n in graph.nodes}
    root = same_scale_groups(graph)
    for name, hi, lo in splits:
        act = by_name[name].attrs.get("act")
        if act is None:
            continue
        w = lo.params["weight"].astype(np.float64)
        m = float(np.abs(w.reshape(w.shape[0], -1)).sum(axis=1).max()) * \
            input_bound(root, ranges, hi.inputs[0], scheme)
        lo_c = act[0] - m if act[0] != -np.inf else -np.inf
        hi_c = act[1] + m if act[1] != np.inf else np.inf
        hi.attrs["act"] = (lo_c, hi_c)
        r_lo, r_hi = ranges[hi.outputs[0]]
        ranges[hi.outputs[0]] = (max(r_lo, lo_c), min(r_hi, hi_c))
