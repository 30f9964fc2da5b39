"""pytest-benchmark: every distinct conv layer of MobileNetV2-224 and ResNet-18, 1 thread.

    PYTHONPATH=. python -m pytest benchmarks/test_bench_conv.py --benchmark-only

Weights are packed once outside the timed call; the benchmark name carries the kernel."""
import numpy as np
import pytest

from benchmarks.shapes import read_conv_shapes
from qengine import kernels as K

LAYERS = read_conv_shapes("mobilenet_v2_conv") + read_conv_shapes("resnet18_conv")


@pytest.mark.parametrize("layer", [L for _, L in LAYERS], ids=[label for label, _ in LAYERS])
def test_conv_layer(benchmark, layer):
    rng = np.random.default_rng(0)
    L = layer
    x = rng.integers(-128, 128, size=(1, L["h"], L["w"], L["c"]), dtype=np.int8)
    w = rng.integers(-127, 128, size=(L["o"], L["kh"], L["kw"], L["c"] // L["groups"]),
                     dtype=np.int8)
    bias = rng.integers(-5000, 5000, size=L["o"]).astype(np.int32)
    m0 = np.full(L["o"], 2**30, np.int32)
    sh = np.full(L["o"], 40, np.int32)
    packed = K.pack_conv2d(w, bias, m0, sh, stride=L["stride"], padding=L["padding"],
                           groups=L["groups"], pad_value=-3)
    benchmark.extra_info["kernel"] = packed.kernel_name
    benchmark.extra_info["path"] = packed.path
    benchmark.extra_info["isa"] = K.isa()["selected"]
    y = benchmark(packed.run, x, 0, -128, 127, 1)
    assert y.shape[-1] == L["o"]
