"""pytest-benchmark suite of the sparse kernels over MobileNetV2-224 layer shapes.

    PYTHONPATH=. python -m pytest benchmarks/test_bench_sparse.py --benchmark-only

Rows are named after the kernel (qe_qs8_spmm_minmax_<tile>x<BR>__<isa>), the layer and
the sparsity; `dense` rows run K.pack_gemm(...).run on the same weights for comparison.
benchmarks/sparse_vs_dense.py prints the interleaved side-by-side table instead."""
import numpy as np
import pytest

from qengine import kernels as K

from benchmarks.sparse_vs_dense import load_shapes, make_layer

pytest.importorskip("pytest_benchmark")

LAYERS = load_shapes({"b3_project_56", "b3_expand_56", "b8_project_14", "b12_expand_14",
                      "b15_project_7", "fc"})
SPARSITY = [0.5, 0.7, 0.9, 0.95]


@pytest.mark.parametrize("layer", LAYERS, ids=[s[0] for s in LAYERS])
@pytest.mark.parametrize("sparsity", SPARSITY, ids=[f"{int(100 * s)}pct" for s in SPARSITY])
@pytest.mark.parametrize("fmt", ["csr", "bsr4", "dense"])
def test_spmm(benchmark, layer, sparsity, fmt):
    name, m, n, k = layer
    if fmt == "dense" and sparsity != SPARSITY[0]:
        pytest.skip("dense time does not depend on sparsity")
    a, w, bias, m0, sh = make_layer(np.random.default_rng(0), m, n, k, sparsity)
    if fmt == "dense":
        packed = K.pack_gemm(w, bias, m0, sh)
    else:
        packed = K.pack_spmm(*K.dense_to_csr(w), k, bias, m0, sh,
                             block=1 if fmt == "csr" else 4)
    benchmark.extra_info.update(kernel=packed.kernel_name, M=m, N=n, K=k, sparsity=sparsity)
    benchmark.group = f"{name} ({m}x{n}x{k})"
    out = benchmark(packed.run, a, 0, -128, 127, 1)
    assert out.shape == (m, n)
