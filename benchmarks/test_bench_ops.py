"""pytest-benchmark: the int8 operators on MobileNetV2 / ResNet-18 sized tensors, once per
available ISA variant, one thread.

    PYTHONPATH=. python -m pytest benchmarks/test_bench_ops.py --benchmark-only \
        --benchmark-columns=median,min,rounds --benchmark-sort=name

Each case calls the compiled entry point with parameters derived once (as a loaded model
does), so the time is the kernel plus one Cython call; the public functions in
qengine.kernels add argument validation on top. The benchmark name carries the kernel name
(K.ops_kernel_name) and the variant; compare rows of one op across variants for the SIMD
speed-up.
"""
import numpy as np
import pytest

from qengine import _native
from qengine import kernels as K
from qengine import quant as Q

VARIANTS = [v for v in ["scalar", "avx2", "avx512vnni", "neon", "neondot"]
            if v in K.isa()["available"]]
RNG = np.random.default_rng(0)


def _x(*shape):
    return RNG.integers(-128, 128, size=shape, dtype=np.int8)


def _add(shape):
    a, b = _x(*shape), _x(*shape)
    ka, kb, bias, m0, sh = Q.add_params(0.05, 3, 0.07, -2, 0.09, 1)
    n = a.size
    return "add", lambda: _native.ops_add((n,), a.reshape(-1), (1,), b.reshape(-1), (1,),
                                          (ka, kb, bias, m0, sh, 1, -128, 127), 1)


def _gavgpool():
    x = _x(1, 7, 7, 1280)
    bias, m0, sh = Q.gavgpool_params(0.05, 3, 0.02, 49)
    return "gavgpool", lambda: _native.ops_gavgpool(x, (bias, m0, sh, -5, -128, 127), 1)


def _maxpool():
    x = _x(1, 112, 112, 64)
    return "maxpool", lambda: _native.ops_maxpool(x, (3, 3), (2, 2), (1, 1, 1, 1), (56, 56),
                                                  -128, 127, 1)


def _quantize():
    x = RNG.standard_normal(224 * 224 * 3).astype(np.float32)
    inv = Q.quantize_params(0.02)
    return "quantize", lambda: _native.ops_quantize(x, inv, 3, 1)


def _dequantize():
    x = _x(224 * 224 * 3)
    return "dequantize", lambda: _native.ops_dequantize(x, np.float32(0.02), 3, 1)


def _lut():
    x = _x(112 * 112 * 96)      # hard-swish after an expansion layer
    table = Q.lut_table("hardswish", 0.05, 0, 0.03, -20)
    return "lut", lambda: _native.ops_lut(x, table, 1)


def _requantize():
    x = _x(28 * 28 * 96)
    m0, sh = Q.requant_params(0.05, 0.07)
    table = _native.ops_requant_table(3, m0, sh, -2, -128, 127)
    return "lut", lambda: _native.ops_lut(x, table, 1)


def _concat():
    xs = [_x(28 * 28 * 64), _x(28 * 28 * 64)]
    m0, sh = Q.requant_params(0.05, 0.07)
    tables = [None, _native.ops_requant_table(3, m0, sh, -2, -128, 127)]
    return "lut", lambda: _native.ops_concat(xs, tables, 28 * 28, 1)


CASES = {
    "add_56x56x24": lambda: _add((56, 56, 24)),
    "add_28x28x32": lambda: _add((28, 28, 32)),
    "add_14x14x96": lambda: _add((14, 14, 96)),
    "gavgpool_7x7x1280": _gavgpool,
    "maxpool_112x112x64_3x3s2": _maxpool,
    "quantize_224x224x3": _quantize,
    "dequantize_224x224x3": _dequantize,
    "lut_hardswish_112x112x96": _lut,
    "requantize_28x28x96": _requantize,
    "concat_28x28x(64+64)_one_requant": _concat,
}


@pytest.mark.parametrize("isa", VARIANTS)
@pytest.mark.parametrize("case", list(CASES))
def test_bench_ops(benchmark, case, isa):
    op, fn = CASES[case]()
    with K.use_isa(isa):
        benchmark.extra_info["kernel"] = K.ops_kernel_name(op)
        benchmark.group = case
        benchmark(fn)
