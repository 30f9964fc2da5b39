"""pytest-benchmark of qgemm over real network shapes (shapes/gemm_shapes.txt), one case
per shape and available ISA variant, one thread; weights packed once outside the timing.

    PYTHONPATH=. python -m pytest benchmarks/test_bench_gemm.py --benchmark-columns=median,ops
"""
import numpy as np
import pytest

from qengine import kernels as K

from benchmarks.shapes import gemm_operands, gemm_shapes

SHAPES = gemm_shapes()
VARIANTS = K.isa()["available"]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name, m, n, k", SHAPES, ids=[s[0] for s in SHAPES])
def test_qgemm(benchmark, name, m, n, k, variant):
    if variant == "scalar" and m * n * k > 2**26:
        pytest.skip("scalar reference on a large shape: minutes, and not the point")
    a, w, bias, m0, sh = gemm_operands(np.random.default_rng(0), m, n, k)
    with K.use_isa(variant):
        packed = K.pack_gemm(w, bias, m0, sh)
    assert packed.isa == variant
    benchmark.extra_info.update(kernel=packed.kernel_name, gops_per_call=2e-9 * m * n * k)
    out = benchmark(packed.run, a, 0, -128, 127, 1)
    assert out.shape == (m, n)
