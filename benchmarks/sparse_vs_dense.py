"""Sparse (CSR, 4x1 BSR, K-blocked 1x4) vs our dense int8 GEMM vs scipy.sparse float32.

    python -m benchmarks.sparse_vs_dense [--reps 15] [--threads 1] [--isa NAME]
                                         [--sparsity 0.5,0.7,0.8,0.9,0.95] [--only NAME,...]

For every MobileNetV2-224 layer of benchmarks/shapes/mobilenet_v2_sparse.txt and every
sparsity, the weights are pruned at random (unstructured, as magnitude pruning gives) and
packed once; each rep times a short burst of calls of every method in turn (interleaved,
so machine noise hits all alike; the sample is the burst's fastest call: warm caches, as a
layer runs inside a network, whose input was just written by the layer before) and the
table shows the medians of the samples in ms:
  csr    K.pack_spmm(..., block=1).run      bsr4  K.pack_spmm(..., block=4).run
  kb4    K.pack_spmm(..., block="1x4").run  (the unstructured weights, zero-padded blocks)
  kb4s   the same kernel on weights pruned in 1x4 K-blocks (K.kblock_prune) to the same
         sparsity: what block-structured pruning buys
  kb4cm  kb4s in the channel-major layout (.run_channel_major: int8 A^T [K, M] in, C^T
         [N, M] out, as sparse inference runs in NCHW; no transposes), the layout scipy has
  kb4b   kb4s in the blocked layout (.run_blocked: channels in groups of 4, [ceil(K/4), M,
         4] in, [ceil(N/4), M, 4] out, so that a chain of such layers never repacks; the
         AVX-512 kernel reads its input in place)
  dense  K.pack_gemm(...).run (prepacked)   scipy W_csr @ X.T, float32, one thread
  scipys scipy on the 1x4-pruned weights of kb4s (the same nonzeros as kb4s runs)
         (scipy gets its best layout: [N, K] CSR times a C-ordered [K, M] float32 matrix,
         which is no slower than CSC or X @ W.T here, and writes [N, M] without a transpose)
  blas32 X @ W.T in float32 by numpy's BLAS on one thread: what a tuned dense SIMD kernel
         does (an int8 VNNI kernel should be faster still), for context
Crossover: the lowest sparsity of the sweep from which the best sparse format stays faster
than dense (interpolated linearly between sweep points; "<s0" = faster at every point),
for unstructured pruning (best of csr, bsr4, kb4), for 1x4 block pruning (kb4s) and for
the same in the channel-major layout (kb4cm).
"sp" = best unstructured; x columns are speed-ups (dense or scipy time / sparse time):
dense/sp and scipy/sp on the unstructured weights, dense/kb4s and scipys/kb4s on the 1x4-pruned,
d/cm and sc/cm: dense/kb4cm and scipys/kb4cm, d/b and sc/b: dense/kb4b and scipys/kb4b.
The last table counts, per sparsity, the layers where the 1x4 kernel is at least 5x faster
than scipy on the same nonzeros (the issue's target), per layout and in the faster of the
channel-major and blocked layouts.
"""
import argparse
import os
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # the blas32 column runs on one thread, like the others

import numpy as np  # noqa: E402

from benchmarks.timing import fastest_of_burst  # noqa: E402

SHAPES = Path(__file__).parent / "shapes" / "mobilenet_v2_sparse.txt"


def load_shapes(only=None):
    rows = []
    for line in SHAPES.read_text().splitlines():
        line = line.split("#")[0].split()
        if line and (not only or line[0] in only):
            rows.append((line[0], int(line[1]), int(line[2]), int(line[3])))
    return rows


def make_layer(rng, m, n, k, sparsity):
    a = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
    w = rng.integers(-127, 128, size=(n, k), dtype=np.int8)
    w[rng.random((n, k)) < sparsity] = 0
    bias = rng.integers(-2**16, 2**16, size=n).astype(np.int32)
    m0 = np.full(n, 1_500_000_000, np.int32)
    sh = np.full(n, 40, np.int32)  # a typical scale ratio (~1e-3): the usual sh > 32 path
    return a, w, bias, m0, sh


BURST_SECONDS = 0.001


def time_interleaved(fns, reps):
    times = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            times[name].append(fastest_of_burst(fn, BURST_SECONDS))
    return {name: 1e3 * float(np.median(v)) for name, v in times.items()}


def crossover(sparsities, sparse_ms, dense_ms):
    """Lowest sparsity from which sparse stays faster than dense (linear interpolation)."""
    faster = [s < d for s, d in zip(sparse_ms, dense_ms)]
    if all(faster):
        return f"<{sparsities[0]:.0%}"
    if not faster[-1]:
        return f">{sparsities[-1]:.0%}"
    i = max(j for j, f in enumerate(faster) if not f)  # last point where dense still wins
    r0 = sparse_ms[i] / dense_ms[i]
    r1 = sparse_ms[i + 1] / dense_ms[i + 1]
    x = sparsities[i] + (r0 - 1) / (r0 - r1) * (sparsities[i + 1] - sparsities[i])
    return f"{x:.0%}"


def main(argv=None):
    import scipy.sparse as sp
    from qengine import kernels as K

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=15)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--isa", default=None, help="force a variant (default: the selected one)")
    p.add_argument("--sparsity", default="0.5,0.7,0.8,0.9,0.95")
    p.add_argument("--only", default="", help="comma-separated layer names")
    args = p.parse_args(argv)
    if args.isa:
        forced = K.use_isa(args.isa)  # keep a reference: the block lasts until exit
        forced.__enter__()
    sparsities = [float(s) for s in args.sparsity.split(",")]
    rng = np.random.default_rng(0)
    isa = K.isa()["selected"]
    print(f"qengine sparse vs dense, ISA {isa}, threads {args.threads}, {args.reps} reps, "
          f"medians in ms; {os.cpu_count()} CPUs")
    dense_name = K.pack_gemm(np.ones((1, 1), np.int8), [0], [2**30], [1]).kernel_name
    print(f"dense kernel: {dense_name}")
    head = (f"{'layer':16s} {'M':>5s} {'N':>5s} {'K':>5s} {'sp':>4s} {'csr':>7s} {'bsr4':>7s} "
            f"{'kb4':>7s} {'kb4s':>7s} {'kb4cm':>7s} {'dense':>7s} {'scipy':>7s} {'blas32':>7s} "
            f"{'dense/sp':>8s} {'dense/kb4s':>10s} {'scipy/sp':>8s} {'scipys/kb4s':>11s} "
            f"{'d/cm':>6s} {'sc/cm':>6s} {'kb4b':>7s} {'d/b':>6s} {'sc/b':>6s}")
    print(head)
    print("-" * len(head))
    summary = []
    over_scipy = {s: {"kb4s": 0, "kb4cm": 0, "kb4b": 0, "cm|b": 0} for s in sparsities}
    for name, m, n, k in load_shapes(set(args.only.split(",")) - {""}):
        best, blocked, channel_major, blocked4, dense_col = [], [], [], [], []
        for s in sparsities:
            a, w, bias, m0, sh = make_layer(rng, m, n, k, s)
            csr = K.dense_to_csr(w)
            p1 = K.pack_spmm(*csr, k, bias, m0, sh, block=1)
            p4 = K.pack_spmm(*csr, k, bias, m0, sh, block=4)
            pk = K.pack_spmm(*csr, k, bias, m0, sh, block="1x4")
            ws = K.kblock_prune(rng.integers(-127, 128, size=(n, k), dtype=np.int8), s)
            pks = K.pack_spmm(*K.dense_to_csr(ws), k, bias, m0, sh, block="1x4")
            pd = K.pack_gemm(w, bias, m0, sh)
            wf = sp.csr_matrix(w.astype(np.float32))
            wfs = sp.csr_matrix(ws.astype(np.float32))
            at = np.ascontiguousarray(a.T)
            ab = K.to_blocked(at)
            xt = at.astype(np.float32)
            af, wt = a.astype(np.float32), np.ascontiguousarray(w.T.astype(np.float32))
            th = args.threads
            t = time_interleaved({
                "csr": lambda: p1.run(a, 0, -128, 127, th),
                "bsr4": lambda: p4.run(a, 0, -128, 127, th),
                "kb4": lambda: pk.run(a, 0, -128, 127, th),
                "kb4s": lambda: pks.run(a, 0, -128, 127, th),
                "kb4cm": lambda: pks.run_channel_major(at, 0, -128, 127, th),
                "kb4b": lambda: pks.run_blocked(ab, 0, -128, 127, th),
                "dense": lambda: pd.run(a, 0, -128, 127, th),
                "scipy": lambda: wf @ xt,
                "scipys": lambda: wfs @ xt,
                "blas32": lambda: af @ wt,
            }, args.reps)
            sparse = min(t["csr"], t["bsr4"], t["kb4"])
            best.append(sparse)
            blocked.append(t["kb4s"])
            channel_major.append(t["kb4cm"])
            blocked4.append(t["kb4b"])
            t["cm|b"] = min(t["kb4cm"], t["kb4b"])
            for col in over_scipy[s]:
                over_scipy[s][col] += t["scipys"] >= 5 * t[col]
            dense_col.append(t["dense"])
            print(f"{name:16s} {m:5d} {n:5d} {k:5d} {s:4.0%} {t['csr']:7.3f} {t['bsr4']:7.3f} "
                  f"{t['kb4']:7.3f} {t['kb4s']:7.3f} {t['kb4cm']:7.3f} {t['dense']:7.3f} "
                  f"{t['scipy']:7.3f} {t['blas32']:7.3f} {t['dense'] / sparse:7.2f}x "
                  f"{t['dense'] / t['kb4s']:9.2f}x {t['scipy'] / sparse:7.1f}x "
                  f"{t['scipys'] / t['kb4s']:10.1f}x {t['dense'] / t['kb4cm']:5.2f}x "
                  f"{t['scipys'] / t['kb4cm']:5.1f}x {t['kb4b']:7.3f} "
                  f"{t['dense'] / t['kb4b']:5.2f}x {t['scipys'] / t['kb4b']:5.1f}x", flush=True)
        summary.append((name, m, n, k) + tuple(
            crossover(sparsities, times, dense_col)
            for times in (best, blocked, channel_major, blocked4)))
    print("\ncrossover sparsity (faster than dense from here on): unstructured | 1x4 blocks | "
          "1x4 channel-major | 1x4 blocked")
    for name, m, n, k, x, xb, xc, x4 in summary:
        print(f"  {name:16s} ({m}, {n}, {k}): {x:>5s} | {xb:>5s} | {xc:>5s} | {x4:>5s}")
    print(f"\nlayers with 1x4 at least 5x faster than scipy on the same nonzeros "
          f"(of {len(summary)}):")
    print(f"  {'sparsity':>8s} " + " ".join(f"{c:>6s}" for c in over_scipy[sparsities[0]]))
    for s in sparsities:
        print(f"  {s:8.0%} " + " ".join(f"{v:6d}" for v in over_scipy[s].values()))


if __name__ == "__main__":
    main()
