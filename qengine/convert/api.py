"""`convert()`: ONNX float model -> calibrated int8 .qmodel and its report (DESIGN.md 2, 6).

    from qengine.convert import convert
    report = convert("model.onnx", "model.qmodel", calibration=x)   # x: ONNX layout
    print(report)

Steps: import + canonicalise + lower to the version-1 operator table (every unsupported
op is reported at once, before any calibration) -> calibration ranges from the float
teacher -> int8 IR -> .qmodel graph -> bias correction (recover=True) -> report measured
with the kernels -> the file, written last and atomically, so a failure leaves nothing at
`output`. The ONNX file is only read.
"""
import copy
import os
import time


from qengine import __version__
from qengine.convert.calibrate import METHODS, calibrate as _calibrate, iter_batches
from qengine.convert.kexec import KernelExecutor
from qengine.convert.lower import lower_for_runtime
from qengine.convert.fixed import WEIGHTED, int16_tensors
from qengine.convert.mixed import annotate, int8_input_targets, quantize_wide
from qengine.convert.onnx_import import import_onnx
from qengine.convert.prune import PruneInfo, parse_spec, prune_graph
from qengine.convert.reconstruct import reconstruct
from qengine.convert.storage import POLICIES, choose_storage
from qengine.convert.quantize import quantize_graph
from qengine.convert.recover import TeacherMeans, bias_correct_checked
from qengine.convert.split16 import clamp_partials, split_layers
from qengine.convert.report import Report, layer_rows, measure
from qengine.convert.writer import build_qmodel, table_op

SCHEMES = ("int8", "fixed")


def convert(model, output, calibration, scheme="int8", calibrate="minmax", prune=None,
            recover=True, percentile=99.99, batch_size=16, progress=None, storage="auto",
            int16_layers=None, target_sqnr=None, int16_weight_bits=8):
    """Convert ONNX file `model` to `output` (.qmodel); returns a Report.

    calibration: an array in the ONNX model's layout (NCHW images; a batch or one
    sample), an iterable of arrays or of {input name: array} dicts, or a .npy / .npz path.
    scheme: "int8" (affine) or "fixed" (power-of-two scales, zero points 0, shifts;
    convert/fixed.py). calibrate: minmax | percentile | entropy | mse. prune: None or
    {"sparsity": 0.8, "method": "magnitude" | "importance" | "channel" | "2:4", ...}
    (qengine/convert/prune.py lists the keys). recover: layer-wise reconstruction (OBS /
    GPTQ) and bias correction against the float teacher. storage: "auto" (dense or CSR per
    layer by the cost model) | "dense" | "sparse". int16_layers: None, "auto" (the most
    sensitive layers in int16 until target_sqnr dB, convert/mixed.py), "all", or a list of
    layer names whose activations are stored as int16. int16_weight_bits: 8 (int8
    weights, "16x8") or 16: the int16 layers get ~16-bit weights, each layer run as two
    16x8 layers on int8 halves (hi + lo / 256) and an int16 Add (convert/split16.py);
    needs int16_layers="all" or a list."""
    t0 = time.time()
    if scheme not in SCHEMES:
        raise ValueError(f"scheme={scheme!r}: choose one of {', '.join(SCHEMES)}")
    spec = parse_spec(prune) if prune is not None else None
    wide = scheme == "fixed" or int16_layers is not None
    if spec is not None and wide:
        raise ValueError("prune= works with scheme='int8' and int8 activations; pruning a "
                         "fixed-point or int16 model is not supported yet")
    if int16_weight_bits not in (8, 16):
        raise ValueError(f"int16_weight_bits={int16_weight_bits!r}: choose 8 or 16")
    split = int16_weight_bits == 16
    if split and not (int16_layers == "all" or isinstance(int16_layers, (list, tuple, set))):
        raise ValueError("int16_weight_bits=16 needs int16_layers='all' or a list of layers "
                         "(it applies to layers with int16 activations)")
    if storage not in POLICIES:
        raise ValueError(f"storage={storage!r}: choose one of {', '.join(POLICIES)}")
    if calibrate not in METHODS:
        raise ValueError(f"calibrate={calibrate!r}: choose one of {', '.join(METHODS)}")
    model, output = os.fspath(model), os.fspath(output)
    if os.path.abspath(model) == os.path.abspath(output):
        raise ValueError("output must not be the input model file")

    graph = import_onnx(model)
    lower_for_runtime(graph)
    # Materialised once in the stored layout: generators may be read only once, and
    # calibration, bias correction and the report all walk the data.
    batches = list(iter_batches(graph, calibration, batch_size))
    if not batches:
        raise ValueError("calibration data is empty")
    samples = sum(len(next(iter(b.values()))) for b in batches)
    # the float teacher is `graph`; the student is what gets compressed and written
    student, info = graph, PruneInfo()
    if spec is not None:
        student, info = prune_graph(graph, batches, spec)
    split_wide = int16_tensors(graph, int16_layers if int16_layers == "all"
                               else list(int16_layers)) if split else set()
    # reconstruction rounds weights to int8 (GPTQ): pointless where the weights are split,
    # and bias correction only touches layers with int8 inputs, i.e. never a split one
    refit = recover and any(n.op in WEIGHTED and n.outputs[0] not in split_wide
                            for n in graph.nodes)
    means = TeacherMeans(graph) if refit else None
    if refit:
        student = copy.deepcopy(student) if student is graph else student
        reconstruct(graph, student, batches, info.masks, info.keep,
                    observe=means.see, progress=progress)
    splits = []
    if split:
        student = copy.deepcopy(student) if student is graph else student
        splits = split_layers(student, graph, scheme, split_wide)
    ranges = _calibrate(student, batches, method=calibrate, percentile=percentile,
                        batch_size=batch_size, layout="stored", progress=progress)
    clamp_partials(student, ranges, splits, scheme)
    if wide:  # power-of-two scales and/or int16 activations
        extra = [p.name for _, hi, lo in splits for p in (hi, lo)]
        qg, builder, kexec, wide_info = quantize_wide(student, batches, ranges, scheme,
                                                      int16_layers, target_sqnr,
                                                      graph if splits else None, extra)
        if split:
            wide_info["split16"] = {"layers": [name for name, _, _ in splits], "candidates":
                                    sum(n.op in WEIGHTED and n.outputs[0] in split_wide
                                        for n in graph.nodes)}
    else:
        qg = quantize_graph(student, ranges)
        builder = build_qmodel(qg, scheme)
        kexec = KernelExecutor(builder.header(), builder.constants)
    if refit:
        def targets_of(means):
            target = {k: v[info.keep[_out(graph, k)]] if _out(graph, k) in info.keep else v
                      for k, v in means.items()}
            return int8_input_targets(qg, target) if wide else target

        bias_correct_checked(graph, student, qg, builder, kexec, batches,
                             targets_of(means.means()), targets_of,
                             lambda held: measure(graph, kexec, held, info.keep)[1])
    per, out_sqnr, top1 = measure(graph, kexec, batches, info.keep)
    chosen = choose_storage(builder, storage)

    settings = {"scheme": scheme, "calibrate": calibrate, "recover": bool(recover),
                "samples": samples, "source": os.path.basename(model), "storage": storage}
    if int16_layers is not None:
        settings["int16_layers"] = wide_info["layers"]
    if split:
        settings["int16_weight_bits"] = 16
        settings["split16_layers"] = wide_info["split16"]["layers"]
    if spec is not None:
        settings["prune"] = {k: (list(v) if isinstance(v, tuple) else v)
                             for k, v in spec.items()}
    if calibrate == "percentile":
        settings["percentile"] = percentile
    builder.save(output, producer={"name": "qengine.convert", "version": __version__},
                 settings=settings)
    report = Report(model, output, builder.scheme, calibrate, bool(recover),
                    layer_rows(qg, table_op, scheme, per, chosen), out_sqnr, top1, samples,
                    os.path.getsize(model), os.path.getsize(output))
    if wide:
        annotate(report, qg, wide_info)
    report.seconds = time.time() - t0
    return report


def _out(graph, name):
    return next(n.outputs[0] for n in graph.nodes if n.name == name)
