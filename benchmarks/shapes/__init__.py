"""Shape lists of real networks (benchmarks/shapes/*.txt: convolutions, GEMMs), their
readers, and random GEMM operands for them."""
from pathlib import Path

HERE = Path(__file__).parent


def read_conv_shapes(name):
    """[(label, dict(h, w, c, o, kh, kw, stride, padding, groups))] from shapes/<name>.txt."""
    rows = []
    for line in (HERE / f"{name}.txt").read_text().splitlines():
        line = line.split("#")[0].split()
        if not line:
            continue
        h, w, c, o, k, s, p, g = line
        kh, kw = (int(v) for v in k.split("x"))
        pad = tuple(int(v) for v in p.split(","))
        kind = "dw" if int(g) == int(c) and int(c) > 1 else f"{k}"
        label = f"{name}:{h}x{w}x{c}->{o} {kind} s{s}"
        rows.append((label, dict(h=int(h), w=int(w), c=int(c), o=int(o), kh=kh, kw=kw,
                                 stride=int(s), padding=pad, groups=int(g))))
    return rows


def gemm_shapes():
    """[(name, M, N, K)] from shapes/gemm_shapes.txt (C[M, N] = A[M, K] @ W[N, K].T)."""
    rows = []
    for line in (HERE / "gemm_shapes.txt").read_text().splitlines():
        line = line.split("#", 1)[0].split()
        if line:
            name, m, n, k = line
            rows.append((name, int(m), int(n), int(k)))
    return rows


def gemm_operands(rng, m, n, k):
    """int8 A [M, K], W [N, K], int32 bias, per-channel m0/sh giving outputs inside int8."""
    import numpy as np

    a = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
    w = rng.integers(-127, 128, size=(n, k), dtype=np.int8)
    bias = rng.integers(-2**16, 2**16, size=n).astype(np.int32)
    m0 = rng.integers(2**30, 2**31, size=n, dtype=np.int64).astype(np.int32)
    sh = np.full(n, 31 + max(1, int(np.log2(64 * 64 * max(k, 1) ** 0.5))) - 6, np.int32)
    return a, w, bias, m0, sh
