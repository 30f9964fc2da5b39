"""qgemm per ISA variant against numpy float32 matmul, single-threaded, interleaved.

    PYTHONPATH=. python benchmarks/gemm_isa_vs_numpy.py [MxNxK,...] [--rounds 15]
        [--isa avx2,scalar]

Each round runs every contender once (repeats of about 0.5 ms each: short enough that a
sample is rarely cut by the scheduler on a busy machine), so noise hits all of them alike;
the table shows the median and the minimum over the rounds. numpy uses one BLAS thread
(OPENBLAS_NUM_THREADS=1, set before numpy is imported); OPENBLAS_CORETYPE=Haswell makes
OpenBLAS use its AVX2 kernels, as it would on a CPU without AVX-512.
"""
import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from qengine import kernels as K  # noqa: E402

# 1024^3, a classifier head at M = 1, two MobileNetV2 1x1 convolutions (as GEMMs)
DEFAULT = "1024x1024x1024,1x1000x1280,3136x24x16,196x576x96"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("shapes", nargs="?", default=DEFAULT)
    ap.add_argument("--rounds", type=int, default=31)
    ap.add_argument("--isa", default=",".join(K.isa()["available"]))
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    for shape in args.shapes.split(","):
        m, n, k = (int(v) for v in shape.split("x"))
        a = rng.integers(-128, 128, (m, k), dtype=np.int8)
        w = rng.integers(-127, 128, (n, k), dtype=np.int8)
        bias = rng.integers(-1000, 1000, n).astype(np.int32)
        m0, sh = np.full(n, 2**30, np.int32), np.full(n, 40, np.int32)
        fns = {}
        for isa in args.isa.split(","):
            with K.use_isa(isa):
                packed = K.pack_gemm(w, bias, m0, sh)
            fns[packed.kernel_name] = lambda p=packed: p.run(a, 0, -128, 127, 1)
        af, wt = a.astype(np.float32), np.ascontiguousarray(w.T.astype(np.float32))
        fns["numpy float32"] = lambda: af @ wt
        times = {name: [] for name in fns}
        for _ in range(args.rounds):
            for name, fn in fns.items():
                t = time.perf_counter()
                fn()
                once = time.perf_counter() - t
                reps = max(1, min(1000, int(5e-4 / max(once, 1e-7))))
                t = time.perf_counter()
                for _ in range(reps):
                    fn()
                times[name].append((time.perf_counter() - t) / reps)
        print(f"M={m} N={n} K={k}")
        for name, ts in times.items():
            med, best = float(np.median(ts)), min(ts)
            print(f"  {name:36s} median {med * 1e3:8.3f} ms {m * n * k / med / 1e9:6.1f} GMAC/s"
                  f"   min {best * 1e3:8.3f} ms")


if __name__ == "__main__":
    main()
