"""int16 x int8 ("16x8") GEMM against the int8 GEMM, side by side, 1 thread.

    PYTHONPATH=. python -m benchmarks.int16_vs_int8 [--rounds 9] [--size 1024] [--isa NAME]

For each round the contenders run interleaved (int8, int16 with int32 accumulators,
int16 with int64 accumulators), so load from other processes hits them alike. Calls are
timed in thread CPU time; a sample is the fastest call of a ~20 ms burst; the table shows
the median over rounds. GOPS = 2 * M * N * K / time.

Weights: "typical" draws int8 weights from a normal distribution clipped to [-127, 127]
with sigma = 127 / 4 (mean |w| ~ 25), for which eq. 21 holds at K = 1024 and the int32
path runs; "uniform" draws them uniformly from [-127, 127] (mean |w| ~ 64), for which
32768 * sum |w| > 2^31 at K = 1024 and packing picks the int64 path.
"""
import os
import sys

_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
if any(os.environ.get(v) != "1" for v in _THREAD_VARS):
    os.environ.update({v: "1" for v in _THREAD_VARS})
    os.execv(sys.executable, [sys.executable, "-m", "benchmarks.int16_vs_int8", *sys.argv[1:]])

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from qengine import kernels as K  # noqa: E402

BURST_SECONDS = 0.02


def burst(fn):
    best, calls, spent = float("inf"), 0, 0.0
    while calls < 3 or spent < BURST_SECONDS:
        t0 = time.thread_time()
        fn()
        dt = time.thread_time() - t0
        best, calls, spent = min(best, dt), calls + 1, spent + dt
    return best


def operands(rng, size):
    m = n = k = size
    a8 = rng.integers(-128, 128, (m, k), dtype=np.int8)
    a16 = rng.integers(-32768, 32768, (m, k)).astype(np.int16)
    w_typ = np.clip(np.round(rng.normal(0, 127 / 4, (n, k))), -127, 127).astype(np.int8)
    w_uni = rng.integers(-127, 128, (n, k)).astype(np.int8)
    bias = rng.integers(-2**20, 2**20, n)
    m0 = np.full(n, 2**30, np.int32)
    sh = np.full(n, 45, np.int32)
    return a8, a16, w_typ, w_uni, bias, m0, sh


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--isa", default=None, help="variant (default: the selected one)")
    args = ap.parse_args(argv)
    isa = args.isa or K.isa()["selected"]
    rng = np.random.default_rng(0)
    a8, a16, w_typ, w_uni, bias, m0, sh = operands(rng, args.size)
    ops = 2.0 * args.size ** 3
    with K.use_isa(isa):
        g8 = K.pack_gemm(w_typ, bias.astype(np.int32), m0, sh)
        g16 = K.pack_gemm16(w_typ, bias, m0, sh)
        g64 = K.pack_gemm16(w_uni, bias, m0, sh)
        runs = {
            f"int8   {g8.kernel_name}": lambda: g8.run(a8, 0, -128, 127, 1),
            f"int16  {g16.kernel_name} (typical w)": lambda: g16.run(a16, False, 0, -32768, 32767, 1),
            f"int16  {g64.kernel_name} (uniform w)": lambda: g64.run(a16, False, 0, -32768, 32767, 1),
        }
        assert not g16.acc64 and g64.acc64, (g16.acc64, g64.acc64)
        samples = {name: [] for name in runs}
        for _ in range(args.rounds):
            for name, fn in runs.items():
                samples[name].append(burst(fn))
    print(f"GEMM {args.size}^3, 1 thread, variant {isa}, median of {args.rounds} rounds")
    base = None
    for name, ts in samples.items():
        t = float(np.median(ts))
        gops = ops / t / 1e9
        base = base or gops
        print(f"{name:<72} {t * 1e3:8.2f} ms {gops:8.1f} GOPS  {gops / base:5.2f}x int8")


if __name__ == "__main__":
    main()
