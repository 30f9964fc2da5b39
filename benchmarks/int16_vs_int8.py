"""int16 x int8 ("16x8") GEMM and depthwise convolution against int8, side by side, 1 thread.

    PYTHONPATH=. python -m benchmarks.int16_vs_int8 [--rounds 9] [--size 1024] [--isa NAME]
                                                     [--op gemm|dwconv|add|pool|all]

For each round the contenders run interleaved (int8, int16 with int32 accumulators,
int16 with int64 accumulators), so load from other processes hits them alike. Between rounds
the instruction probes (csrc/bench/) time vpdpbusd and vpdpwssd (AVX2: vpmaddwd for both)
alone; their ratio is the ceiling of the int16 / int8 speed ratio, and each kernel's GOPS
is shown as a share of its instruction's best probe. Calls are
timed in thread CPU time; a sample is the fastest call of a ~20 ms burst; the table shows
the median over rounds. GOPS = 2 * M * N * K / time.

Weights: "typical" draws int8 weights from a normal distribution clipped to [-127, 127]
with sigma = 127 / 4 (mean |w| ~ 25), for which eq. 21 holds at K = 1024 and the int32
path runs; "uniform" draws them uniformly from [-127, 127] (mean |w| ~ 64), for which
32768 * sum |w| > 2^31 at K = 1024 and packing picks the int64 path.

Depthwise (--op dwconv): every depthwise layer of MobileNetV2-224
(benchmarks/shapes/mobilenet_v2_conv.txt), int8 and int16 interleaved per layer, same
weights; the total is the sum of the per-layer medians.

Add (--op add): y = a + b over the output shape of every distinct MobileNetV2-224
convolution (the int16 Adds of an int16_weight_bits=16 model, one per conv), int8 (eq. 9)
against int16 (eq. 23) with "fixed" scales (powers of two, zero points 0, as the fixed
scheme) and "affine" scales (arbitrary, as int16 layers of the int8 scheme). The native
entry points are called directly (one output allocation per call, alike for both).

Pooling (--op pool): max pool 3x3/2 on 112x112x64, average pool 3x3/1 pad 1 on
28x28x192, global average pool on 7x7x1280, int8 against int16.
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
from benchmarks.timing import fastest_of_burst  # noqa: E402
from qengine import _native, kernels as K  # noqa: E402

BURST_SECONDS = 0.02


def burst(fn):
    return fastest_of_burst(fn, BURST_SECONDS, time.thread_time)


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
        peak8, peak16 = [], []  # probe samples spread over the run; the best one counts
        for _ in range(args.rounds):
            for name, fn in runs.items():
                samples[name].append(burst(fn))
            peak8.append(_native.peak_int8_gops(isa))
            peak16.append(_native.peak_int8_gops(isa, int16=True))
    peak8, peak16 = max(peak8), max(peak16)
    print(f"GEMM {args.size}^3, 1 thread, variant {isa}, median of {args.rounds} rounds")
    if peak8:
        print(f"instruction peaks (best probe): int8 {peak8:.1f} GOPS, 16x8 {peak16:.1f} GOPS, "
              f"ratio {peak16 / peak8:.3f} (the ceiling of the int16 / int8 speed ratio)")
    base = None
    for name, ts in samples.items():
        t = float(np.median(ts))
        gops = ops / t / 1e9
        base = base or gops
        peak = peak8 if name.startswith("int8") else peak16
        share = f"  {gops / peak:4.0%} of peak" if peak else ""
        print(f"{name:<72} {t * 1e3:8.2f} ms {gops:8.1f} GOPS  {gops / base:6.3f}x int8{share}")


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


def add(args, isa):
    from qengine import _native
    from qengine import quant as Q
    from qengine._kernels_qs16 import add16_params
    rng = np.random.default_rng(0)
    shapes = []
    for _, L in read_conv_shapes("mobilenet_v2_conv"):
        oh = (L["h"] + L["padding"][0] + L["padding"][2] - L["kh"]) // L["stride"] + 1
        ow = (L["w"] + L["padding"][1] + L["padding"][3] - L["kw"]) // L["stride"] + 1
        if (oh, ow, L["o"]) not in shapes:
            shapes.append((oh, ow, L["o"]))
    # (a_scale, b_scale, y_scale): fixed = powers of two (the split16 hi / lo halves are
    # ~2^8 apart), affine = arbitrary
    scales = {"fixed": (2.0**-10, 2.0**-18, 2.0**-10), "affine": (0.0123, 0.0000517, 0.0131)}
    p8 = Q.add_params(0.05, 3, 0.031, -7, 0.06, 2) + (2, -128, 127)
    p16 = {k: add16_params(sa, 0, sb, 0, sy) + (0, -32768, 32767)
           for k, (sa, sb, sy) in scales.items()}
    print(f"\nAdd, MobileNetV2-224 conv output shapes, 1 thread, variant {isa}, "
          f"median of {args.rounds} rounds (ns per element)")
    totals = {"int8": 0.0, "int16 fixed": 0.0, "int16 affine": 0.0}
    with K.use_isa(isa):
        for h, w, c in shapes:
            n = h * w * c
            a8, b8 = (rng.integers(-128, 128, n, dtype=np.int8) for _ in range(2))
            a16, b16 = (rng.integers(-32768, 32768, n).astype(np.int16) for _ in range(2))
            runs = {"int8": lambda: _native.ops_add((n,), a8, (1,), b8, (1,), p8, 1),
                    "int16 fixed": lambda: _native.qs16_add((n,), a16, (1,), b16, (1,),
                                                            p16["fixed"], 1),
                    "int16 affine": lambda: _native.qs16_add((n,), a16, (1,), b16, (1,),
                                                             p16["affine"], 1)}
            samples = {k: [] for k in runs}
            for _ in range(args.rounds):
                for k, fn in runs.items():
                    samples[k].append(burst(fn))
            med = {k: float(np.median(v)) for k, v in samples.items()}
            for k in totals:
                totals[k] += med[k]
            print(f"{h:>3}x{w:<3}x{c:<4} " + "  ".join(
                f"{k} {med[k] / n * 1e9:5.2f}" for k in runs) +
                f"   {med['int8'] / med['int16 affine']:5.2f}x int8")
        print("kernel: " + K.qs16_kernel_name("add"))
    print("total (sum of medians): " + "  ".join(f"{k} {t * 1e3:6.3f} ms" for k, t in
                                                 totals.items()) +
          f"   int16 affine {totals['int8'] / totals['int16 affine']:.2f}x int8, "
          f"fixed {totals['int8'] / totals['int16 fixed']:.2f}x int8")


def pool(args, isa):
    rng = np.random.default_rng(0)
    cases = [
        ("maxpool 3x3/2 112x112x64", (1, 112, 112, 64),
         lambda x: K.maxpool2d(x, 3, 2, 1), lambda x: K.maxpool2d16(x, 3, 2, 1)),
        ("avgpool 3x3/1 pad 1 28x28x192", (1, 28, 28, 192),
         lambda x: K.avgpool2d(x, 3, 0.05, 3, 0.04, -1, 1, 1),
         lambda x: K.avgpool2d16(x, 3, 2.0**-8, 3, 2.0**-8, -1, 1, 1)),
        ("global avgpool 7x7x1280", (1, 7, 7, 1280),
         lambda x: K.global_avgpool(x, 0.05, 3, 0.04, -1),
         lambda x: K.global_avgpool16(x, 2.0**-8, 3, 2.0**-8, -1)),
    ]
    print(f"\nPooling, 1 thread, variant {isa}, median of {args.rounds} rounds")
    with K.use_isa(isa):
        for label, shape, f8, f16 in cases:
            x8 = rng.integers(-128, 128, shape, dtype=np.int8)
            x16 = rng.integers(-32768, 32768, shape).astype(np.int16)
            t8, t16 = [], []
            for _ in range(args.rounds):
                t8.append(burst(lambda: f8(x8)))
                t16.append(burst(lambda: f16(x16)))
            t8, t16 = float(np.median(t8)), float(np.median(t16))
            print(f"{label:<32} int8 {t8 * 1e3:7.3f} ms  int16 {t16 * 1e3:7.3f} ms  "
                  f"{t8 / t16:5.2f}x int8")
        print("kernels: " + ", ".join(K.qs16_kernel_name(op) for op in
                                      ("maxpool", "avgpool", "gavgpool")))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--isa", default=None, help="variant (default: the selected one)")
    ap.add_argument("--op", choices=("gemm", "dwconv", "add", "pool", "all"), default="all")
    args = ap.parse_args(argv)
    isa = args.isa or K.isa()["selected"]
    if args.op in ("gemm", "all"):
        gemm(args, isa)
    if args.op in ("dwconv", "all"):
        dwconv(args, isa)
    if args.op in ("add", "all"):
        add(args, isa)
    if args.op in ("pool", "all"):
        pool(args, isa)


if __name__ == "__main__":
    main()
