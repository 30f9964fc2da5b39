"""The quantized IR (quantize.QGraph) -> a .qmodel graph (docs/FORMAT.md, version 1).

    b = build_qmodel(qg)        # a qengine.builder.GraphBuilder, nothing written yet
    b.save("model.qmodel", producer=..., settings=...)   # atomic (format.write)

One table op per IR node, except: a dense layer on a rank > 2 tensor becomes
Reshape -> FullyConnected -> Reshape, and a global average pool without keepdims
becomes GlobalAvgPool -> Reshape (the extra values are named `<node>:<role>`).
Only what depends on the weights is stored (weights, bias with the input zero point
folded in, m0/sh per channel, LUT tables); add/mul/pool multipliers and softmax tables
are derived by the loader from the values' scales (qengine.quant).
"""
import math

from qengine import quant as Q
from qengine.builder import GraphBuilder
from qengine.errors import UnsupportedOpError

LUT_OPS = ("relu", "clip", "leaky_relu", "sigmoid", "tanh", "hard_sigmoid", "hard_swish")
TABLE_OP = {"conv2d": "Conv2D", "dense": "FullyConnected", "add": "Add", "mul": "Mul",
            "softmax": "Softmax", "concat": "Concat", "max_pool": "MaxPool2D",
            "avg_pool": "AvgPool2D", "global_avg_pool": "GlobalAvgPool", "reshape": "Reshape",
            "requantize": "Requantize"}


def table_op(op):
    """The .qmodel operator an IR op is written as."""
    return "Lut" if op in LUT_OPS else TABLE_OP.get(op, op)


def _value(b, t, shape=None):
    return b.value(t.name if shape is None else shape[0], t.shape if shape is None else shape[1],
                   t.scale, t.zero_point, t.dtype)


def build_qmodel(qg, scheme="int8"):
    """GraphBuilder holding `qg` as version-1 table ops (see the module docstring)."""
    if qg.consts:
        raise UnsupportedOpError(f"constant operands {sorted(qg.consts)} have no .qmodel form "
                                 f"(run lower.lower_for_runtime before calibration)")
    b = GraphBuilder(scheme)
    for name in qg.inputs:
        t = qg.tensors[name]
        b.input(name, t.shape, t.scale, t.zero_point, t.dtype)
    for q in qg.nodes:
        _write_node(b, qg, q)
    for name in qg.outputs:
        if name not in b.values:
            _value(b, qg.tensors[name])
        b.output(name)
    return b


def _write_node(b, qg, q):
    a = q.attrs
    tin = qg.tensors[q.inputs[0]]
    tout = qg.tensors[q.outputs[0]]
    x, y = q.inputs[0], q.outputs[0]
    clamp = {"qmin": int(q.qmin), "qmax": int(q.qmax)}
    consts = {"bias": q.bias, "m0": q.m0, "sh": q.sh}
    if q.op == "conv2d":
        _value(b, tout)
        b.node("Conv2D", q.name, [x], [y], dict(weight=q.weight, **consts),
               stride=list(a["strides"]), padding=list(a["pads"]),
               dilation=list(a["dilations"]), groups=int(a["groups"]), **clamp)
    elif q.op == "dense":
        k, n = q.weight.shape[1], q.weight.shape[0]
        if len(tin.shape) == 2:
            _value(b, tout)
            b.node("FullyConnected", q.name, [x], [y], dict(weight=q.weight, **consts), **clamp)
            return
        rows = math.prod(tin.shape[:-1])
        x2, y2 = f"{q.name}:in2d", f"{q.name}:out2d"
        _value(b, tin, (x2, (rows, k)))
        _value(b, tout, (y2, (rows, n)))
        _value(b, tout)
        b.node("Reshape", f"{q.name}:flatten", [x], [x2])
        b.node("FullyConnected", q.name, [x2], [y2], dict(weight=q.weight, **consts), **clamp)
        b.node("Reshape", f"{q.name}:unflatten", [y2], [y])
    elif q.op in ("add", "mul"):
        ta = qg.tensors[q.inputs[1]]
        if q.op == "add":  # the loader derives these; fail here with the layer's name
            try:
                Q.add_params(tin.scale, tin.zero_point, ta.scale, ta.zero_point,
                             tout.scale, tout.zero_point)
            except ValueError as exc:
                raise ValueError(f"add {q.name}: {exc}") from None
        _value(b, tout)
        b.node("Add" if q.op == "add" else "Mul", q.name, list(q.inputs), [y], **clamp)
    elif q.op in LUT_OPS:
        _value(b, tout)
        b.node("Lut", q.name, [x], [y], {"table": q.lut})
    elif q.op == "softmax":
        _value(b, tout)
        b.node("Softmax", q.name, [x], [y])
    elif q.op == "concat":
        _value(b, tout)
        b.node("Concat", q.name, list(q.inputs), [y])
    elif q.op == "max_pool":
        _value(b, tout)
        b.node("MaxPool2D", q.name, [x], [y], kernel=list(a["kernel"]),
               stride=list(a["strides"]), padding=list(a["pads"]), **clamp)
    elif q.op == "avg_pool":
        _value(b, tout)
        b.node("AvgPool2D", q.name, [x], [y], kernel=list(a["kernel"]),
               stride=list(a["strides"]), padding=list(a["pads"]),
               count_include_pad=int(bool(a["count_include_pad"])), **clamp)
    elif q.op == "global_avg_pool":
        if a.get("keepdims", True):
            _value(b, tout)
            b.node("GlobalAvgPool", q.name, [x], [y], **clamp)
        else:
            y4 = f"{q.name}:nhwc"
            _value(b, tout, (y4, (tin.shape[0], 1, 1, tin.shape[3])))
            _value(b, tout)
            b.node("GlobalAvgPool", q.name, [x], [y4], **clamp)
            b.node("Reshape", f"{q.name}:flatten", [y4], [y])
    elif q.op == "reshape":
        _value(b, tout)
        b.node("Reshape", q.name, [x], [y])
    elif q.op == "requantize":  # inserted between int8 and int16 tensors (fixed.py)
        _value(b, tout)
        b.node("Requantize", q.name, [x], [y])
    else:
        raise UnsupportedOpError(f"{q.op} ({q.name}): no version-1 .qmodel operator for it")
