"""Mixed precision: which layers keep int16 activations (issue 8; docs/CONVERTER.md).

    qg, builder, kexec, info = quantize_wide(graph, batches, ranges, scheme,
                                             int16_layers, target_sqnr)

int16_layers: None (all int8), "all", a list of node / graph-input names, or "auto":
  1. sensitivity: starting from every candidate layer in int16 (fixed.candidate_layers),
     each layer alone is put back to int8 and the output SQNR vs the float teacher is
     measured with the kernels; its sensitivity is the SQNR it costs.
  2. the most sensitive layers are kept in int16, fewest first, until the output SQNR
     reaches target_sqnr (the smallest such prefix of the sensitivity order, found by
     bisection; if even all-int16 misses the target, all candidates are kept).
info: the choice, the SQNRs, and its cost: arena bytes (the runtime's planner) and an
estimate of time (int16 layers run at about half the int8 speed: 2x their MACs).
"""
import numpy as np

from qengine import format as F
from qengine import graph as G
from qengine import plan as P
from qengine.convert.executor import FloatExecutor
from qengine.convert.fixed import (TensorChoices, candidate_layers, int16_tensors, qformat,
                                   quantize_graph_wide)
from qengine.convert.kexec import KernelExecutor
from qengine.convert.writer import build_qmodel

DEFAULT_TARGET_SQNR = 30.0   # dB, for int16_layers="auto" without target_sqnr
EVAL_SAMPLES = 32            # calibration samples the selection measures on


def header_scheme(scheme, wide):
    """The .qmodel header's "scheme": "mixed" when any activation is int16."""
    return "mixed" if wide else scheme


def build(graph, choices, wide):
    qg = quantize_graph_wide(graph, choices, wide)
    builder = build_qmodel(qg, header_scheme(choices.scheme, wide))
    return qg, builder, KernelExecutor(builder.header(), builder.constants)


class _Judge:
    """Output SQNR of a choice on a few calibration samples (teacher outputs cached)."""

    def __init__(self, graph, choices, batches):
        self.graph, self.choices = graph, choices
        self.batches, n = [], 0
        for b in batches:
            if n >= EVAL_SAMPLES:
                break
            self.batches.append(b)
            n += len(next(iter(b.values())))
        teacher = FloatExecutor(graph)
        self.ref = [teacher.run(b) for b in self.batches]
        self.cache = {}

    def sqnr(self, layers):
        key = frozenset(layers)
        if key not in self.cache:
            wide = int16_tensors(self.graph, sorted(key))
            _, _, kexec = build(self.graph, self.choices, wide)
            sig = err = 0.0
            for b, ref in zip(self.batches, self.ref):
                got = kexec.run(b)
                for o in self.graph.outputs:
                    r = ref[o].astype(np.float64)
                    d = kexec.dequantize(o, got[o]).astype(np.float64).reshape(r.shape)
                    sig += float(np.sum(r * r))
                    err += float(np.sum((r - d) ** 2))
            self.cache[key] = float("inf") if err == 0 else \
                float(10 * np.log10(max(sig, 1e-30) / err))
        return self.cache[key]


def select(graph, choices, batches, target_sqnr):
    """The "auto" choice (module docstring): (layers, info dict)."""
    judge = _Judge(graph, choices, batches)
    cands = candidate_layers(graph)
    all16, all8 = judge.sqnr(cands), judge.sqnr([])
    sens = {c: all16 - judge.sqnr([d for d in cands if d != c]) for c in cands}
    order = sorted(cands, key=lambda c: -sens[c])
    if all8 >= target_sqnr:
        k = 0
    elif all16 < target_sqnr:
        k = len(order)
    else:  # smallest prefix meeting the target (bisection; SQNR grows with the prefix)
        lo, hi = 0, len(order)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if judge.sqnr(order[:mid]) >= target_sqnr:
                hi = mid
            else:
                lo = mid
        k = hi
    chosen = order[:k]
    info = {"mode": "auto", "target_sqnr_db": target_sqnr, "layers": chosen,
            "sensitivity_db": {c: round(sens[c], 2) for c in order},
            "sqnr_all_int8_db": all8, "sqnr_all_int16_db": all16,
            "sqnr_chosen_db": judge.sqnr(chosen), "met": judge.sqnr(chosen) >= target_sqnr,
            "evaluations": len(judge.cache), "eval_samples": sum(
                len(next(iter(b.values()))) for b in judge.batches)}
    return chosen, info


def _arena_bytes(builder):
    header = builder.header()
    g = G.parse(F.QModelFile(header, builder.constants, F.VERSION, 0))
    return P.assign_offsets(g)[1]


def _macs(qg):
    """{node: multiply-accumulates per run} of the conv / dense nodes."""
    out = {}
    for q in qg.nodes:
        if q.weight is not None:
            shape = qg.tensors[q.outputs[0]].shape
            out[q.name] = int(np.prod(shape[:-1])) * int(q.weight[0].size) * int(shape[-1])
    return out


def cost(graph, choices, qg, builder, wide, base=None):
    """Bytes and estimated time of `wide` vs all-int8 activations (and int8 weights: a
    graph with split 16-bit layers is compared with `base`, its unsplit original)."""
    qg8, b8, _ = build(graph if base is None else base, choices, set())
    macs = _macs(qg)
    total = sum(macs.values()) or 1
    total8 = sum(_macs(qg8).values()) or 1    # = total unless layers were split
    wide_macs = sum(m for name, m in macs.items()
                    if qg.tensors[next(q for q in qg.nodes if q.name == name).inputs[0]].dtype
                    == "int16")
    const_bytes = sum(a.nbytes for a in builder.constants.values())
    const8 = sum(a.nbytes for a in b8.constants.values())
    return {"arena_bytes": _arena_bytes(builder), "arena_bytes_int8": _arena_bytes(b8),
            "constant_bytes": const_bytes, "constant_bytes_int8": const8,
            "int16_mac_share": wide_macs / total,
            "est_time_vs_int8": (total + wide_macs) / total8,
            "requantize_nodes": sum(q.op == "requantize" for q in qg.nodes)}


def quantize_wide(graph, batches, ranges, scheme, int16_layers=None, target_sqnr=None,
                  base=None, extra=()):
    """(qg, builder, kexec, info) for scheme "fixed" and/or int16 layers (module doc).
    With split 16-bit layers (split16.py), `base` is the graph before the split (the cost
    baseline) and `extra` the partial layers that join a list of int16 layers."""
    choices = TensorChoices(graph, batches, ranges, scheme)
    info = {"mode": "none", "layers": []}
    if int16_layers is None:
        layers = []
    elif int16_layers == "all":
        layers = "all"
        info = {"mode": "all", "layers": "all"}
    elif int16_layers == "auto":
        target = DEFAULT_TARGET_SQNR if target_sqnr is None else float(target_sqnr)
        layers, info = select(graph, choices, batches, target)
    elif isinstance(int16_layers, (list, tuple, set)) and all(
            isinstance(s, str) for s in int16_layers):
        layers = list(int16_layers)
        info = {"mode": "list", "layers": layers}
    else:
        raise ValueError(f"int16_layers={int16_layers!r}: use None, 'auto', 'all' or a list "
                         f"of layer names")
    wide = int16_tensors(graph, layers if layers == "all" else list(layers) + list(extra))
    qg, builder, kexec = build(graph, choices, wide)
    info["int16_tensors"] = sorted(t for t in wide if t in graph.shapes)
    if wide:
        info["cost"] = cost(graph, choices, qg, builder, wide, base)
    return qg, builder, kexec, info


def int8_input_targets(qg, means):
    """Bias-correction targets restricted to layers with int8 inputs (int16 inputs carry
    far less error, and their int64 biases are outside recover.bias_correct's scope)."""
    if means is None:
        return None
    keep = {q.name for q in qg.nodes
            if q.weight is not None and qg.tensors[q.inputs[0]].dtype == "int8"}
    return {k: v for k, v in means.items() if k in keep}


def annotate(report, qg, info):
    """Per-layer dtype and Q-format into the report rows; the int16 choice as notes."""
    for r, q in zip(report.layers, qg.nodes):
        t = qg.tensors[q.outputs[0]]
        r.dtype, r.qformat = t.dtype, qformat(t.scale, t.dtype)
    report.mixed = info
    if info.get("mode") == "auto":
        report.notes.append(
            f"int16 layers (auto, target {info['target_sqnr_db']:.1f} dB on "
            f"{info['eval_samples']} samples): {len(info['layers'])} chosen "
            f"{info['layers']}; SQNR all-int8 {info['sqnr_all_int8_db']:.1f} dB, chosen "
            f"{info['sqnr_chosen_db']:.1f} dB, all-int16 {info['sqnr_all_int16_db']:.1f} dB"
            f"{'' if info['met'] else ' (target NOT met)'}")
        top = list(info["sensitivity_db"].items())[:5]
        report.notes.append("most sensitive (dB lost in int8): " +
                            ", ".join(f"{k} {v:.1f}" for k, v in top))
    elif info.get("mode") in ("all", "list"):
        report.notes.append(f"int16 layers ({info['mode']}): {info['layers']}")
    s16 = info.get("split16")
    if s16 is not None:
        report.notes.append(
            f"16-bit weights (int16_weight_bits=16): {len(s16['layers'])} of "
            f"{s16['candidates']} int16 conv/dense layers split into hi + lo/256 int8 halves "
            f"(two 16x8 layers and an int16 Add each); the others have exactly-int8 weights")
    c = info.get("cost")
    if c:
        report.notes.append(
            f"int16 cost: arena {c['arena_bytes']} B (all-int8 {c['arena_bytes_int8']} B), "
            f"constants {c['constant_bytes']} B (all-int8 {c['constant_bytes_int8']} B), "
            f"{c['requantize_nodes']} requantize nodes; {100 * c['int16_mac_share']:.0f}% "
            f"of MACs in int16 -> est. time x{c['est_time_vs_int8']:.2f} vs int8")
