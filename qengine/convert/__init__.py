"""The PyTorch-free converter (DESIGN.md section 6).

    from qengine.convert import convert
    report = convert("model.onnx", "model.qmodel", calibration=x, calibrate="minmax")

The steps, usable one by one:

    from qengine.convert import import_onnx, FloatExecutor, calibrate, quantize_graph
    g = import_onnx("model.onnx")                 # float NHWC IR, canonicalised
    ranges = calibrate(g, data, method="entropy")  # activation ranges from the teacher
    qg = quantize_graph(g, ranges)                 # int8 IR: what the runtime needs

`onnx` is needed only to read ONNX files and is imported lazily; nothing here imports
torch or onnxruntime.
"""
from qengine.convert.ir import Graph, Node
from qengine.convert.onnx_import import import_onnx
from qengine.convert.executor import FloatExecutor
from qengine.convert.passes import canonicalize
from qengine.convert.calibrate import calibrate
from qengine.convert.quantize import QGraph, QNode, QTensor, quantize_graph, quantize_multiplier
from qengine.convert.simulate import simulate, compare
from qengine.convert.api import convert
from qengine.convert.report import Report, LayerReport

__all__ = ["Graph", "Node", "import_onnx", "FloatExecutor", "canonicalize", "calibrate",
           "QGraph", "QNode", "QTensor", "quantize_graph", "quantize_multiplier",
           "simulate", "compare", "convert", "Report", "LayerReport"]
