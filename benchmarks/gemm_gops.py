"""GOPS of qengine's int8 GEMM (every available ISA variant, 1 thread) against numpy float32
matmul (1 thread), and the share of the measured int8 peak, over real network shapes.

    PYTHONPATH=. python -m benchmarks.gemm_gops [--rounds 9] [--shapes square_1024,...]

Contenders are interleaved shape by shape, round by round, so load from other processes
hits them all alike. Calls are timed in the thread's CPU time (everything runs on one
thread), so a call that is preempted is not charged for it; one sample is the fastest call
of a short burst (>= 3 calls, ~10 ms); the table shows the median of the samples.
GOPS counts 2 operations per multiply-accumulate: 2 * M * N * K / time. The peak is the
best of runs of qengine._native.peak_int8_gops (a loop of independent vpdpbusd zmm
resp. vpmaddwd ymm) spread over the whole run: load can only make a peak look lower, so
the best sample is the truest. OPENBLAS_CORETYPE=Haswell makes numpy use OpenBLAS's AVX2
kernels, as on a CPU without AVX-512 (the fair comparison for the avx2 variant).
"""
import os
import sys

# BLAS must be single-threaded, and that is read when numpy loads: set it, then re-exec
# so the setting holds whatever was imported before this module.
_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
if any(os.environ.get(v) != "1" for v in _THREAD_VARS):
    os.environ.update({v: "1" for v in _THREAD_VARS})
    os.execv(sys.executable, [sys.executable, "-m", "benchmarks.gemm_gops", *sys.argv[1:]])

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from qengine import _native  # noqa: E402
from qengine import kernels as K  # noqa: E402

from benchmarks.shapes import gemm_operands, gemm_shapes  # noqa: E402

BURST_SECONDS = 0.01
SCALAR_MAX_MACS = 2**26  # the scalar reference on bigger shapes takes seconds per call


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def burst(fn, calls):
    """Fastest of `calls` calls, in seconds of this thread's CPU time (the run is
    single-threaded, so that is its duration minus any time other processes had the core)."""
    best = float("inf")
    for _ in range(calls):
        t0 = time.thread_time()
        fn()
        best = min(best, time.thread_time() - t0)
    return best


def peak(variant, runs=5):
    return max(_native.peak_int8_gops(variant) for _ in range(runs))


def contenders_for(m, n, k, variants, rng):
    a, w, bias, m0, sh = gemm_operands(rng, m, n, k)
    out = {}
    for v in variants:
        if v == "scalar" and m * n * k > SCALAR_MAX_MACS:
            continue
        with K.use_isa(v):
            packed = K.pack_gemm(w, bias, m0, sh)  # packed once, outside the timing
        out[v] = (lambda p: lambda: p.run(a, 0, -128, 127, 1))(packed)
    af = a.astype(np.float32)
    wt = np.ascontiguousarray(w.astype(np.float32).T)  # [K, N], the layout BLAS likes
    out["numpy f32"] = lambda: af @ wt
    return out


def measure(contenders, rounds):
    calls = {}
    for name, fn in contenders.items():  # warm up and size each burst to ~10 ms
        t = burst(fn, 3)
        calls[name] = max(3, min(200, int(BURST_SECONDS / max(t, 1e-7))))
    samples = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            samples[name].append(burst(fn, calls[name]))
    return {name: float(np.median(s)) for name, s in samples.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--shapes", help="comma-separated shape names (default: all)")
    ap.add_argument("--variants", help="comma-separated ISA variants (default: available)")
    args = ap.parse_args(argv)

    variants = args.variants.split(",") if args.variants else K.isa()["available"]
    shapes = gemm_shapes()
    if args.shapes:
        wanted = set(args.shapes.split(","))
        shapes = [s for s in shapes if s[0] in wanted]
    peaks = {v: peak(v) for v in variants}
    extra = [v for v in variants if peaks[v] > 0]

    print(f"CPU: {cpu_model()}; numpy {np.__version__}; 1 thread; medians of "
          f"{args.rounds} interleaved samples")
    cols = ["numpy f32"] + variants
    head = f"{'shape':<24}{'M':>6}{'N':>6}{'K':>6}" + "".join(f"{c:>12}" for c in cols)
    head += "".join(f"{'%peak ' + v[:6]:>14}{'x f32':>7}" for v in extra)
    rng = np.random.default_rng(0)
    results = []
    for name, m, n, k in shapes:
        for v in extra:  # peak samples spread over the run; the best one counts
            peaks[v] = max(peaks[v], peak(v, runs=1))
        times = measure(contenders_for(m, n, k, variants, rng), args.rounds)
        gops = {c: 2e-9 * m * n * k / t for c, t in times.items()}
        results.append((name, m, n, k, gops))
        print(f"measured {name}", file=sys.stderr, flush=True)
    for v in extra:
        peaks[v] = max(peaks[v], peak(v))
    print("measured int8 peak, best sample (GOPS): " + ", ".join(
        f"{v} {peaks[v]:.0f}" for v in extra))
    print("GOPS")
    print(head)
    for name, m, n, k, gops in results:
        row = f"{name:<24}{m:>6}{n:>6}{k:>6}"
        row += "".join(f"{gops[c]:>12.1f}" if c in gops else f"{'-':>12}" for c in cols)
        for v in extra:
            row += f"{100 * gops[v] / peaks[v]:>13.0f}%{gops[v] / gops['numpy f32']:>6.1f}x"
        print(row, flush=True)


if __name__ == "__main__":
    main()
