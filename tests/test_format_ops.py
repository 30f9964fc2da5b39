"""Every op's own checks (docs/FORMAT.md "Validation"): bad attributes, constant shapes,
output shapes and scale rules give ModelFormatError naming the node, at load."""
import pytest

import qengine
from qengine import ModelFormatError
from qengine import format as F

from test_format import _edit, _rewrite
from test_runtime_ops import CASES
from netgen import Net


def _node(h, op):
    return next(n for n in h["nodes"] if n["op"] == op)


def attr(op, key, value):
    return lambda h: _node(h, op)["attrs"].__setitem__(key, value)


def out_value(op, field, value):
    return lambda h: h["values"][_node(h, op)["outputs"][0]].__setitem__(field, value)


def in_value(op, field, value, k=0):
    return lambda h: h["values"][_node(h, op)["inputs"][k]].__setitem__(field, value)


def role(op, role_name, other_role):
    def fn(h):
        n = _node(h, op)
        n["constants"][role_name] = n["constants"][other_role]
    return fn


def const_shape(op, role_name, shape, nbytes):
    def fn(h):
        c = h["constants"][_node(h, op)["constants"][role_name]]
        c["shape"], c["nbytes"] = shape, nbytes
    return fn


EDITS = [
    ("conv3x3", attr("Conv2D", "groups", 3), "divisible by groups"),
    ("conv3x3", attr("Conv2D", "groups", 0), "groups"),
    ("conv3x3", attr("Conv2D", "stride", [0, 1]), "stride"),
    ("conv3x3", attr("Conv2D", "padding", [1, 1, 1]), "padding"),
    ("conv3x3", attr("Conv2D", "padding", [-1, 1, 1, 1]), "padding"),
    ("conv3x3", attr("Conv2D", "dilation", [1, "2"]), "dilation"),
    ("conv3x3", lambda h: _node(h, "Conv2D")["attrs"].update(qmin=100, qmax=50), "qmax"),
    ("conv3x3", attr("Conv2D", "storage", "csr"), "csr"),
    ("conv3x3", attr("Conv2D", "storage", "packed"), "storage"),
    ("conv3x3", attr("Conv2D", "stride", [2, 2]), "declared"),
    ("conv3x3", attr("Conv2D", "padding", [0, 0, 0, 0]), "declared"),
    ("conv3x3", out_value("Conv2D", "shape", [2, 9, 11, 15]), "declared"),
    ("conv3x3", role("Conv2D", "bias", "weight"), "'bias' must be int32"),
    ("conv3x3", role("Conv2D", "sh", "m0"), "'sh' values must lie in"),
    ("conv3x3", const_shape("Conv2D", "bias", [15], 60), "'bias' has shape"),
    ("conv3x3", attr("Conv2D", "dilation", [9, 1]), "smaller than the dilated"),
    ("depthwise3x3", const_shape("Conv2D", "weight", [8, 3, 3, 2], 144), "groups"),
    ("fc", attr("FullyConnected", "storage", "csr"), "csr"),
    ("maxpool", out_value("MaxPool2D", "scale", 0.5), "keep the scale"),
    ("maxpool", out_value("MaxPool2D", "zero_point", 100), "keep the scale"),
    ("maxpool", attr("MaxPool2D", "padding", [3, 0, 0, 0]), "smaller than the kernel"),
    ("maxpool", lambda h: _node(h, "MaxPool2D")["attrs"].pop("kernel"), "kernel"),
    ("maxpool", attr("MaxPool2D", "kernel", [30, 3]), "larger than the padded input"),
    ("maxpool", attr("MaxPool2D", "stride", [1, 1]), "declared"),
    ("avgpool", attr("AvgPool2D", "count_include_pad", 2), "count_include_pad"),
    ("avgpool", attr("AvgPool2D", "kernel", [3, 2, 1]), "kernel"),
    ("avgpool", out_value("AvgPool2D", "scale", 1e-30), "out of range"),
    ("global_avgpool", out_value("GlobalAvgPool", "shape", [3, 2, 2, 11]), "declared"),
    ("global_avgpool", in_value("GlobalAvgPool", "shape", [3, 7, 11]), "rank 4"),
    ("add_broadcast_channels", in_value("Add", "shape", [7], 1), "do not broadcast"),
    ("add_broadcast_channels", out_value("Add", "shape", [2, 4, 5, 1]), "declared"),
    ("add_broadcast_channels", out_value("Add", "scale", 1e-9), "degenerate"),
    ("mul_broadcast", attr("Mul", "qmin", 200), "qmin"),
    ("mul_broadcast", out_value("Mul", "scale", 1e-25), "out of range"),
    ("concat_differing_scales", in_value("Concat", "shape", [2, 3, 5, 7], 1), "except in"),
    ("concat_differing_scales", out_value("Concat", "shape", [2, 3, 4, 14]), "declared"),
    ("lut", const_shape("Lut", "table", [128], 128), "'table' has shape"),
    ("lut", lambda h: _node(h, "Lut").pop("constants"), "needs a constant 'table'"),
    ("requantize", out_value("Requantize", "shape", [4, 3, 8]), "declared"),
    ("requantize", out_value("Requantize", "scale", 1e-30), "out of range"),
    ("softmax_int8", out_value("Softmax", "scale", 0.5), "scale 1/256"),
    ("softmax_float", out_value("Softmax", "dtype", "int16"), "float32 or int8"),
    ("softmax_float", out_value("Softmax", "shape", [3, 9]), "declared"),
    ("reshape_between_conv_and_fc", out_value("Reshape", "shape", [2, 95]), "cannot reshape"),
    ("reshape_between_conv_and_fc", out_value("Reshape", "scale", 3.0), "keep the scale"),
    ("fc", in_value("FullyConnected", "dtype", "int16"), "must be int8|int16 value must have zero point 0"),
    ("resnet_block", lambda h: h["outputs"].append(h["inputs"][0]) or
     h["values"][h["inputs"][0]].__setitem__("dtype", "uint8"), "must be int8"),
]


@pytest.mark.parametrize("case, edit, message", EDITS,
                         ids=[f"{c}-{m}" for c, _, m in EDITS])
def test_op_checks_refuse_bad_nodes(tmp_path, case, edit, message):
    net = Net(seed=1)
    CASES[case](net)
    path = net.save(tmp_path / "ok.qmodel")
    header = F.read(path).header
    qengine.load(_rewrite(path, header, tmp_path, "same.qmodel"))  # the rewrite is clean
    with pytest.raises(ModelFormatError, match=message):
        qengine.load(_rewrite(path, _edit(header, edit), tmp_path))


def test_unknown_op_is_named(tmp_path):
    net = Net()
    CASES["lut"](net)
    path = net.save(tmp_path / "ok.qmodel")
    h = _edit(F.read(path).header, lambda h: h["nodes"][0].__setitem__("op", "Gelu"))
    with pytest.raises(ModelFormatError, match="unknown op 'Gelu'"):
        qengine.load(_rewrite(path, h, tmp_path))
