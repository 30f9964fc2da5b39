"""int16 x int8 ("16x8") GEMM and depthwise convolution against int8, side by side, 1 thread.

    PYTHONPATH=. python -m benchmarks.int16_vs_int8 [--rounds 9] [--size 1024] [--isa NAME]
                                                     [--op gemm|dwconv|all]

For each round the contenders run interleaved (int8, int16 with int32 accumulators,
int16 with int64 accumulators), so load from other processes hits them alike. Calls are
timed in thread CPU time; a sample is the fastest call of a ~20 ms burst; the table shows
the median over rounds. GOPS = 2 * M * N * K / time.

Weights: "typical" draws int8 weights from a normal distribution clipped to [-127, 127]
with sigma = 127 / 4 (mean |w| ~ 25), for which eq. 21 holds at K = 1024 and the int32
path runs; "uniform" draws them uniformly from [-127, 127] (mean |w| ~ 64), for which
32768 * sum |w| > 2^31 at K = 1024 and packing picks the int64 path.

Depthwise (--op dwconv): every depthwise layer of MobileNetV2-224
(benchmarks/shapes/mobilenet_v2_conv.txt), int8 and int16 interleaved per layer, same
weights; the total is the sum of the per-layer medians.
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

from benchmarks.shapes import read_conv_shapes  # noqa: E402
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


def gemm(args, isa):
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


def dwconv(args, isa):
    rng = np.random.default_rng(0)
    layers = [(label, L) for label, L in read_conv_shapes("mobilenet_v2_conv")
              if L["groups"] == L["c"] > 1]
    print(f"\nDepthwise, MobileNetV2-224 layers, 1 thread, variant {isa}, "
          f"median of {args.rounds} rounds")
    total8 = total16 = 0.0
    names = set()
    with K.use_isa(isa):
        for label, L in layers:
            c = L["c"]
            w = np.clip(np.round(rng.normal(0, 127 / 4, (c, L["kh"], L["kw"], 1))), -127,
                        127).astype(np.int8)
            x8 = rng.integers(-128, 128, (1, L["h"], L["w"], c), dtype=np.int8)
            x16 = rng.integers(-32768, 32768, (1, L["h"], L["w"], c)).astype(np.int16)
            m0 = np.full(c, 2**30, np.int32)
            sh = np.full(c, 40, np.int32)
            kw = dict(stride=L["stride"], padding=L["padding"], groups=c)
            p8 = K.pack_conv2d(w, rng.integers(-5000, 5000, c).astype(np.int32), m0, sh,
                               pad_value=-3, **kw)
            p16 = K.pack_conv2d16(w, rng.integers(-2**20, 2**20, c), m0, sh, pad_value=-3, **kw)
            names.update((p8.kernel_name, p16.kernel_name))
            t8, t16 = [], []
            for _ in range(args.rounds):
                t8.append(burst(lambda: p8.run(x8, 0, -128, 127, 1)))
                t16.append(burst(lambda: p16.run(x16, False, 0, -32768, 32767, 1)))
            t8, t16 = float(np.median(t8)), float(np.median(t16))
            total8, total16 = total8 + t8, total16 + t16
            print(f"{label:<48} int8 {t8 * 1e3:7.3f} ms  int16 {t16 * 1e3:7.3f} ms  "
                  f"{t8 / t16:5.2f}x int8")
    print(f"{'total':<48} int8 {total8 * 1e3:7.3f} ms  int16 {total16 * 1e3:7.3f} ms  "
          f"{total8 / total16:5.2f}x int8")
    print("kernels: " + ", ".join(sorted(names)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--isa", default=None, help="variant (default: the selected one)")
    ap.add_argument("--op", choices=("gemm", "dwconv", "all"), default="all")
    args = ap.parse_args(argv)
    isa = args.isa or K.isa()["selected"]
    if args.op in ("gemm", "all"):
        gemm(args, isa)
    if args.op in ("dwconv", "all"):
        dwconv(args, isa)


if __name__ == "__main__":
    main()
