"""`qengine info`: what a loaded model holds, as a readable report."""
import math

import numpy as np


def _weight_stats(node):
    """(parameters, bytes stored, bytes if dense int8, nonzero fraction) of a node."""
    stored = sum(a.nbytes for a in node.constants.values())
    w = node.constants.get("weight")
    if w is not None:
        return w.size, stored, stored, float(np.count_nonzero(w)) / max(w.size, 1)
    for ptr, idx, vals in (("weight_indptr", "weight_indices", "weight_values"),
                           ("weight_kptr", "weight_kindices", "weight_kvalues")):
        if vals in node.constants:
            n = node.constants[ptr].size - 1
            dense = stored - sum(node.constants[r].nbytes for r in (ptr, idx, vals))
            k = int(node.attrs.get("k", 0))
            nnz = np.count_nonzero(node.constants[vals])
            return n * k, stored, dense + n * k, nnz / max(n * k, 1)
    return 0, stored, stored, 1.0


def _qformat(info):
    """"Qm.f" when the value's scale is 2^-f with zero point 0 (fixed point), else ""."""
    from qengine.quant import is_power_of_two
    bits = {"int8": 8, "int16": 16}.get(info.dtype)
    if bits is None or info.zero_point != 0 or not is_power_of_two(info.scale):
        return ""
    f = 1 - math.frexp(info.scale)[1]
    return f"Q{bits - 1 - f}.{f}"


def describe(model):
    h = model.header
    settings = h.get("settings", {}) if isinstance(h.get("settings"), dict) else {}
    asked = settings.get("scheme")
    lines = [f"model: {model.path} ({model.file_size} bytes)",
             f"producer: {h.get('producer', {})}",
             f"scheme: {h.get('scheme', 'int8')}" +
             (f" (converted with scheme={asked!r}"
              f"{', int16_layers=' + repr(settings['int16_layers']) if 'int16_layers' in settings else ''}"
              f"{', int16_weight_bits=16' if settings.get('int16_weight_bits') == 16 else ''})"
              if asked and asked != h.get("scheme", "int8") or "int16_layers" in settings
              else "")]
    if settings.get("split16_layers"):
        lines.append(f"16-bit weights: {settings['split16_layers']} (each as <name>:hi + "
                     f"<name>:lo int8 halves, lo at 1/256 of the scale, summed by Add <name>)")
    for kind, infos in (("input", model.inputs), ("output", model.outputs)):
        for i in infos:
            lines.append(f"{kind}: {i.name} {i.dtype}{list(i.shape)} scale={i.scale:.6g} "
                         f"zero_point={i.zero_point} {_qformat(i)}".rstrip())
    lines.append("")
    lines.append(f"{'node':<24} {'op':<16} {'output':<18} {'params':>9} {'bytes':>9} "
                 f"{'sparsity':>8} {'storage':<7} {'dtype':<7} {'Q-format':<8}")
    tot_params = tot_stored = tot_dense = 0
    for node in model.graph.nodes:
        params, stored, dense, density = _weight_stats(node)
        tot_params += params
        tot_stored += stored
        tot_dense += dense
        shape = list(model.graph.values[node.outputs[0]].shape)
        storage = node.attrs.get("storage", "dense") if params else "-"
        out = model.graph.values[node.outputs[0]]
        lines.append(f"{node.name[:24]:<24} {node.op:<16} {str(shape):<18} {params:>9} "
                     f"{stored:>9} {100 * (1 - density):7.1f}% {storage:<7} {out.dtype:<7} "
                     f"{_qformat(out)}".rstrip())
    lines.append("")
    lines.append(f"parameters: {tot_params}; weights stored {tot_stored} bytes "
                 f"(dense int8 would be {tot_dense}, float32 {4 * tot_params}); "
                 f"arena {model.arena_size} bytes")
    return "\n".join(lines)
