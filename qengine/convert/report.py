"""The conversion report: per layer op, scheme, scales, sparsity, storage and SQNR vs the
float teacher; model-level output SQNR and top-1 agreement on the calibration data; sizes.

`str(report)` is the table the CLI prints; `report.to_json()` / `report.save(path)`.
"""
import json
import math
from dataclasses import asdict, dataclass, field
from typing import List, Optional

import numpy as np

from qengine.convert.executor import FloatExecutor


@dataclass
class LayerReport:
    name: str
    op: str                         # the .qmodel operator
    scheme: str
    input_scale: float
    output_scale: float
    output_zero_point: int
    weight_scale: Optional[List[float]] = None   # [min, max] over channels
    params: int = 0                 # weights + biases
    sparsity: float = 0.0           # fraction of int8 weights that are 0
    storage: str = "dense"         # dense | csr | csr4x1 (CSR run as 4x1 blocks) | kb4;
                                    # "<format>>dense": stored sparse, run dense
    weight_bytes: int = 0           # the stored weight arrays (dense or sparse)
    sqnr_db: float = float("nan")   # layer output (dequantized) vs the float teacher
    dtype: str = "int8"             # the output's storage type (int16: mixed precision)
    qformat: str = ""               # "Qm.f" of a power-of-two output scale (fixed scheme)


@dataclass
class Report:
    model: str
    output: str
    scheme: str
    calibrate: str
    recover: bool
    layers: List[LayerReport] = field(default_factory=list)
    output_sqnr_db: float = float("nan")
    top1_agreement: float = float("nan")     # fraction of samples, None if no classes
    samples: int = 0
    float_bytes: int = 0                     # the ONNX file
    qmodel_bytes: int = 0
    seconds: float = 0.0
    notes: List[str] = field(default_factory=list)
    mixed: Optional[dict] = None             # int16 layer choice and cost (mixed.py)

    def to_dict(self):
        d = asdict(self)
        return json.loads(json.dumps(d, default=float).replace("NaN", "null")
                          .replace("-Infinity", "null").replace("Infinity", "null"))

    def to_json(self, indent=1):
        return json.dumps(self.to_dict(), indent=indent)

    def save(self, path):
        with open(path, "w") as f:
            f.write(self.to_json() + "\n")
        return path

    def __str__(self):
        wide = any(r.qformat or r.dtype != "int8" for r in self.layers)
        head = f"{'layer':<28} {'op':<15} {'in scale':>9} {'out scale':>9} " \
               f"{'w scale (min..max)':>19} {'params':>8} {'sparse':>6} {'storage':>7} " \
               f"{'bytes':>8} {'SQNR dB':>8}" + (f" {'out':>5} {'Q-format':>8}" if wide else "")
        lines = [head, "-" * len(head)]
        for r in self.layers:
            ws = "" if r.weight_scale is None else f"{r.weight_scale[0]:.2e}..{r.weight_scale[1]:.2e}"
            lines.append(f"{r.name[:28]:<28} {r.op:<15} {r.input_scale:9.3g} "
                         f"{r.output_scale:9.3g} {ws:>19} {r.params:8d} "
                         f"{r.sparsity * 100:5.1f}% {r.storage:>7} {r.weight_bytes:8d} "
                         f"{_db(r.sqnr_db):>8}" +
                         (f" {r.dtype:>5} {r.qformat:>8}" if wide else ""))
        lines.append("-" * len(head))
        top1 = "n/a" if self.top1_agreement is None or math.isnan(self.top1_agreement) \
            else f"{self.top1_agreement * 100:.2f}%"
        ratio = self.float_bytes / self.qmodel_bytes if self.qmodel_bytes else float("nan")
        lines.append(f"output SQNR {_db(self.output_sqnr_db)} dB, top-1 agreement {top1} "
                     f"on {self.samples} calibration samples; scheme {self.scheme}, "
                     f"calibrate {self.calibrate}, recover {self.recover}")
        lines.append(f"size: float {self.float_bytes / 1024:.1f} KiB -> .qmodel "
                     f"{self.qmodel_bytes / 1024:.1f} KiB ({ratio:.2f}x); {self.seconds:.1f} s")
        lines.extend(self.notes)
        return "\n".join(lines)


def _db(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return "inf" if v == float("inf") else f"{v:.1f}"


def sqnr(sig, err):
    if err == 0:
        return float("inf")
    return float(10 * np.log10(max(sig, 1e-30) / err))


def measure(graph, kexec, batches, keep=None):
    """Per-tensor SQNR (dB) of the quantized model (kernel executor) vs the float teacher
    over `batches`, the output SQNR, and top-1 agreement (None without a class axis).
    keep: {tensor: channel indices} of tensors channel pruning made narrower."""
    keep = keep or {}
    sig, err = {}, {}
    agree, total = 0, 0
    teacher = FloatExecutor(graph)
    for feed in batches:
        got = kexec.run(feed, keep="all")

        def see(name, ref):
            if name not in got or name in feed:
                return
            deq = kexec.dequantize(name, got[name]).astype(np.float64)
            ref = ref[..., keep[name]] if name in keep else ref
            r = ref.astype(np.float64).reshape(deq.shape)
            sig[name] = sig.get(name, 0.0) + float(np.sum(r * r))
            err[name] = err.get(name, 0.0) + float(np.sum((r - deq) ** 2))

        outs = teacher.run(feed, on_tensor=see)
        o = graph.outputs[0]
        if outs[o].shape[-1] > 1:
            t = outs[o].reshape(outs[o].shape[0], -1)
            q = kexec.dequantize(o, got[o]).reshape(t.shape)
            agree += int(np.sum(t.argmax(1) == q.argmax(1)))
            total += t.shape[0]
    per = {k: sqnr(sig[k], err[k]) for k in sig}
    osig = sum(sig.get(o, 0.0) for o in graph.outputs)
    oerr = sum(err.get(o, 0.0) for o in graph.outputs)
    return per, sqnr(osig, oerr), (agree / total if total else None)


def layer_rows(qg, table_op, scheme, per, storage=None):
    """storage: {layer: (storage, weight bytes)} from storage.choose_storage."""
    rows, storage = [], storage or {}
    for q in qg.nodes:
        tin, tout = qg.tensors[q.inputs[0]], qg.tensors[q.outputs[0]]
        r = LayerReport(q.name, table_op(q.op), scheme, tin.scale, tout.scale,
                        tout.zero_point, sqnr_db=per.get(q.outputs[0], float("nan")))
        if q.weight is not None:
            r.weight_scale = [float(q.w_scale.min()), float(q.w_scale.max())]
            r.params = int(q.weight.size + q.bias.size)
            r.sparsity = float(np.mean(q.weight == 0))
            r.storage, r.weight_bytes = storage.get(q.name, ("dense", int(q.weight.size)))
        elif q.lut is not None:
            r.params = 256
        rows.append(r)
    return rows
