"""ONNX import and canonicalisation on small hand-made graphs, one or more per supported
op; the float executor against onnxruntime where it is installed."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import qengine  # noqa: E402
from qengine.convert import FloatExecutor, import_onnx  # noqa: E402

RNG = np.random.default_rng(7)


def rand(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def make(nodes, in_shape, out_names=("y",), inits=None, opset=13, in_name="x"):
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()]
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info(in_name, TensorProto.FLOAT, in_shape)],
                          [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in out_names],
                          initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def check(model, in_shape, expect_ops=None, tol=1e-4, x=None):
    """Import, run our executor and onnxruntime on the same input; compare."""
    g = import_onnx(model)
    ops = [n.op for n in g.nodes]
    if expect_ops is not None:
        assert ops == expect_ops, g.summary()
    ort = pytest.importorskip("onnxruntime")
    x = rand(*in_shape) if x is None else x
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    refs = sess.run(None, {"x": x})
    out = FloatExecutor(g).run({g.inputs[0]: g.to_stored(g.inputs[0], x)})
    for name, ref in zip(g.outputs, refs):
        got = g.to_onnx(name, out[name])
        assert got.shape == ref.shape, (got.shape, ref.shape)
        span = max(float(ref.max() - ref.min()), 1e-6)
        err = float(np.abs(got - ref).max()) / span
        assert err < tol, f"relative error {err:.2e}\n{g.summary()}"
    return g


def conv(x, w, y, **kw):
    return helper.make_node("Conv", [x] + w, [y], **kw)


CONV_CASES = {
    "3x3_pad1": (dict(pads=[1, 1, 1, 1]), (6, 4, 3, 3)),
    "stride2_asym": (dict(strides=[2, 2], pads=[0, 1, 1, 0]), (6, 4, 3, 3)),
    "dilation2": (dict(dilations=[2, 2], pads=[2, 2, 2, 2]), (6, 4, 3, 3)),
    "grouped": (dict(group=2, pads=[1, 1, 1, 1]), (6, 2, 3, 3)),
    "depthwise": (dict(group=4, pads=[1, 1, 1, 1], strides=[2, 1]), (4, 1, 3, 3)),
    "same_upper": (dict(auto_pad="SAME_UPPER", strides=[2, 2]), (5, 4, 3, 3)),
    "1x1": (dict(), (8, 4, 1, 1)),
    "5x3": (dict(pads=[2, 1, 2, 1]), (3, 4, 5, 3)),
}


@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_conv(case):
    kw, wshape = CONV_CASES[case]
    m = make([conv("x", ["w", "b"], "y", **kw)], [1, 4, 9, 7],
             inits={"w": rand(*wshape), "b": rand(wshape[0])})
    check(m, (1, 4, 9, 7), ["conv2d"])


def test_conv_batchnorm_relu_fused():
    c = 5
    nodes = [conv("x", ["w"], "c", pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "g", "be", "mu", "var"], ["bn"]),
             helper.make_node("Relu", ["bn"], ["y"])]
    inits = {"w": rand(c, 3, 3, 3), "g": rand(c), "be": rand(c), "mu": rand(c),
             "var": np.abs(rand(c)) + 0.5}
    g = check(make(nodes, [1, 3, 6, 6], inits=inits), (1, 3, 6, 6), ["conv2d"])
    assert g.nodes[0].attrs["act"] == (0.0, np.inf)


def test_standalone_batchnorm_becomes_depthwise_conv():
    c = 4
    nodes = [helper.make_node("Add", ["x", "x"], ["s"]),
             helper.make_node("BatchNormalization", ["s", "g", "be", "mu", "var"], ["y"])]
    inits = {"g": rand(c), "be": rand(c), "mu": rand(c), "var": np.abs(rand(c)) + 0.5}
    g = check(make(nodes, [1, c, 5, 5], inits=inits), (1, c, 5, 5), ["add", "conv2d"])
    assert g.nodes[1].attrs["groups"] == c


@pytest.mark.parametrize("opset", [10, 13])
def test_clip_relu6_fused(opset):
    if opset >= 11:
        clip = helper.make_node("Clip", ["c", "lo", "hi"], ["y"])
        inits = {"lo": np.float32(0), "hi": np.float32(6)}
    else:
        clip = helper.make_node("Clip", ["c"], ["y"], min=0.0, max=6.0)
        inits = {}
    inits["w"] = rand(4, 3, 3, 3, scale=3)
    m = make([conv("x", ["w"], "c"), clip], [1, 3, 6, 6], inits=inits, opset=opset)
    g = check(m, (1, 3, 6, 6), ["conv2d"])
    assert g.nodes[0].attrs["act"] == (0.0, 6.0)


UNARY = {
    "Relu": ({}, "relu"), "Sigmoid": ({}, "sigmoid"), "Tanh": ({}, "tanh"),
    "LeakyRelu": ({"alpha": 0.1}, "leaky_relu"), "HardSigmoid": ({}, "hard_sigmoid"),
    "HardSwish": ({}, "hard_swish"),
}


@pytest.mark.parametrize("op", sorted(UNARY))
def test_unary_after_add(op):
    kw, irop = UNARY[op]
    nodes = [helper.make_node("Add", ["x", "x"], ["s"]), helper.make_node(op, ["s"], ["y"], **kw)]
    want = ["add"] if op == "Relu" else ["add", irop]
    check(make(nodes, [1, 3, 4, 5], opset=14), (1, 3, 4, 5), want)


def test_binary_with_constants():
    nodes = [conv("x", ["w"], "c"),
             helper.make_node("Mul", ["c", "k"], ["m"]),     # per-channel [C, 1, 1]
             helper.make_node("Sub", ["m", "s"], ["d"]),
             helper.make_node("Div", ["d", "v"], ["a"]),
             helper.make_node("Add", ["a", "c"], ["y"])]
    inits = {"w": rand(4, 3, 1, 1), "k": rand(4, 1, 1), "s": rand(1, 4, 1, 1),
             "v": np.float32(2.0)}
    check(make(nodes, [1, 3, 5, 6], inits=inits), (1, 3, 5, 6), ["conv2d", "mul", "add", "mul", "add"])


def test_concat_channels():
    nodes = [conv("x", ["w1"], "a"), conv("x", ["w2"], "b", pads=[1, 1, 1, 1]),
             helper.make_node("Concat", ["a", "b"], ["y"], axis=1)]
    g = check(make(nodes, [1, 3, 5, 5], inits={"w1": rand(2, 3, 1, 1), "w2": rand(3, 3, 3, 3)}),
              (1, 3, 5, 5), ["conv2d", "conv2d", "concat"])
    assert g.nodes[2].attrs["axis"] == 3


POOLS = {
    "max_pads": ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]), "max_pool"),
    "max_ceil": ("MaxPool", dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1), "max_pool"),
    "avg_excl": ("AveragePool", dict(kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1]), "avg_pool"),
    "avg_incl": ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                                     count_include_pad=1), "avg_pool"),
    "avg_ceil": ("AveragePool", dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1), "avg_pool"),
    "global": ("GlobalAveragePool", {}, "global_avg_pool"),
}


@pytest.mark.parametrize("case", sorted(POOLS))
def test_pools(case):
    op, kw, irop = POOLS[case]
    check(make([helper.make_node(op, ["x"], ["y"], **kw)], [1, 3, 7, 9]), (1, 3, 7, 9), [irop])


@pytest.mark.parametrize("keep", [0, 1])
def test_reduce_mean_hw(keep):
    m = make([helper.make_node("ReduceMean", ["x"], ["y"], axes=[2, 3], keepdims=keep)], [1, 3, 4, 5])
    check(m, (1, 3, 4, 5), ["global_avg_pool"])


def test_flatten_after_conv_permutes_fc_weights():
    """NCHW flattening order is C, H, W; ours is H, W, C: the FC weights absorb it."""
    nodes = [conv("x", ["w"], "c", pads=[1, 1, 1, 1]), helper.make_node("Flatten", ["c"], ["f"]),
             helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1)]
    inits = {"w": rand(4, 2, 3, 3), "fw": rand(7, 4 * 5 * 6), "fb": rand(7)}
    check(make(nodes, [1, 2, 5, 6], inits=inits), (1, 2, 5, 6), ["conv2d", "reshape", "dense"])


def test_runtime_shape_chain_is_folded():
    """x.reshape(x.shape[0], -1) as PyTorch exports it (dynamic batch)."""
    nodes = [conv("x", ["w"], "c"),
             helper.make_node("Shape", ["c"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
             helper.make_node("Cast", ["shape"], ["shape64"], to=TensorProto.INT64),
             helper.make_node("Reshape", ["c", "shape64"], ["r"]),
             helper.make_node("MatMul", ["r", "mw"], ["mm"]),
             helper.make_node("Add", ["mm", "mb"], ["y"])]
    inits = {"w": rand(3, 2, 1, 1), "zero": np.array(0, np.int64), "ax0": np.array([0], np.int64),
             "minus1": np.array([-1], np.int64), "mw": rand(3 * 4 * 4, 5), "mb": rand(5)}
    m = make(nodes, ["batch", 2, 4, 4], inits=inits)
    check(m, (1, 2, 4, 4), ["conv2d", "reshape", "dense"])


def test_squeeze_unsqueeze_dense():
    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["p"]),
             helper.make_node("Squeeze", ["p", "axes"], ["s"]),
             helper.make_node("Gemm", ["s", "w"], ["g"]),
             helper.make_node("Unsqueeze", ["g", "axes"], ["y"])]
    inits = {"axes": np.array([2, 3], np.int64), "w": rand(6, 4)}
    check(make(nodes, [1, 6, 3, 3], inits=inits), (1, 6, 3, 3), ["global_avg_pool", "reshape", "dense", "reshape"])


def test_nhwc_model_transposes_vanish():
    """tf2onnx style: an NHWC input transposed to NCHW and back around a conv."""
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]),
             conv("t", ["w"], "c", pads=[1, 1, 1, 1]),
             helper.make_node("Transpose", ["c"], ["y"], perm=[0, 2, 3, 1])]
    g = check(make(nodes, [1, 6, 5, 3], inits={"w": rand(4, 3, 3, 3)}), (1, 6, 5, 3), ["conv2d"])
    assert g.input_layouts["x"] == "plain" and g.shapes["x"] == (1, 6, 5, 3)


def test_other_transpose_is_kept():
    nodes = [helper.make_node("Gemm", ["x", "w"], ["g"]),
             helper.make_node("Transpose", ["g"], ["y"], perm=[1, 0])]
    check(make(nodes, [2, 3], inits={"w": rand(3, 4)}), (2, 3), ["dense", "transpose"])


def test_pad_folds_into_conv():
    nodes = [helper.make_node("Pad", ["x", "pads"], ["p"]), conv("p", ["w"], "y")]
    inits = {"pads": np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64), "w": rand(4, 3, 3, 3)}
    g = check(make(nodes, [1, 3, 5, 5], inits=inits), (1, 3, 5, 5), ["conv2d"])
    assert g.nodes[0].attrs["pads"] == (1, 2, 2, 1)


def test_pad_alone_is_kept():
    nodes = [helper.make_node("Pad", ["x", "pads", "v"], ["y"])]
    inits = {"pads": np.array([0, 0, 1, 0, 0, 0, 0, 2], np.int64), "v": np.float32(0.5)}
    check(make(nodes, [1, 3, 4, 4], inits=inits), (1, 3, 4, 4), ["pad"])


def test_softmax_dropout_identity():
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["g"]),
             helper.make_node("Dropout", ["g"], ["d"]),
             helper.make_node("Identity", ["d"], ["i"]),
             helper.make_node("Softmax", ["i"], ["y"], axis=-1)]
    check(make(nodes, [1, 8], inits={"w": rand(8, 5), "b": rand(5)}), (1, 8), ["dense", "softmax"])


def test_gemm_variants():
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["y"], alpha=0.5, beta=2.0)]
    check(make(nodes, [3, 6], inits={"w": rand(6, 4), "b": rand(1, 4)}), (3, 6), ["dense"])


def test_unsupported_ops_are_all_listed():
    nodes = [helper.make_node("Erf", ["x"], ["e"], name="erf_1"),
             helper.make_node("Sin", ["e"], ["s"], name="sin_1"),
             helper.make_node("Relu", ["x"], ["r"], name="relu_ok"),
             helper.make_node("MatMul", ["r", "r"], ["m"], name="matmul_dyn"),
             helper.make_node("Add", ["s", "m"], ["y"], name="add_ok")]
    with pytest.raises(qengine.UnsupportedOpError) as info:
        import_onnx(make(nodes, [4, 4]))
    msg = str(info.value)
    for part in ("Erf (erf_1)", "Sin (sin_1)", "MatMul (matmul_dyn)"):
        assert part in msg, msg
    assert "add_ok" not in msg and "relu_ok" not in msg


def test_input_model_is_not_modified():
    m = make([helper.make_node("Relu", ["x"], ["y"])], ["n", 3])
    before = m.SerializeToString()
    import_onnx(m)
    assert m.SerializeToString() == before
