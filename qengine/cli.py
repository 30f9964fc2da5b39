"""The `qengine` command line (also `python -m qengine`)."""
import argparse
import sys

import numpy as np


def _cmd_version(args):
    import qengine
    from qengine import kernels as K

    info = K.isa()
    print(f"qengine {qengine.__version__}")
    print(f"compiled variants:  {', '.join(info['compiled'])}")
    print(f"available here:     {', '.join(info['available'])}")
    print(f"selected:           {info['selected']}")
    return 0


def _cmd_demo(args):
    """Placeholder main job until the demo lands: check every variant against the scalar
    reference on one GEMM and print its speed."""
    import time

    from qengine import kernels as K

    rng = np.random.default_rng(0)
    m, n, k = 196, 256, 512
    a = rng.integers(-128, 128, (m, k), dtype=np.int8)
    w = rng.integers(-127, 128, (n, k), dtype=np.int8)
    bias = rng.integers(-1000, 1000, n).astype(np.int32)
    m0 = np.full(n, 2**30, np.int32)
    sh = np.full(n, 20, np.int32)
    with K.use_isa("scalar"):
        want = K.qgemm(a, w, bias, m0, sh, 0)
    print(f"qengine demo: int8 GEMM {m}x{n}x{k} on each ISA variant of this CPU")
    print(f"{'variant':<12} {'kernel':<44} {'bit-exact':<10} {'GOPS':>8}")
    for name in K.isa()["available"]:
        with K.use_isa(name):
            packed = K.pack_gemm(w, bias, m0, sh)
            got = packed.run(a, 0, -128, 127, 1)
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                packed.run(a, 0, -128, 127, 1)
                times.append(time.perf_counter() - t0)
        gops = 2 * m * n * k / np.median(times) / 1e9
        ok = "yes" if np.array_equal(got, want) else "NO"
        print(f"{name:<12} {packed.kernel_name:<44} {ok:<10} {gops:8.1f}")
        if ok != "yes":
            return 1
    return 0


def build_parser():
    p = argparse.ArgumentParser(prog="qengine", description=__doc__)
    p.add_argument("--version", action="store_true", help="version and ISA variants")
    sub = p.add_subparsers(dest="command")
    sub.add_parser("demo", help="the main job on a bundled model").set_defaults(fn=_cmd_demo)
    sub.add_parser("version", help="version and ISA variants").set_defaults(fn=_cmd_version)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.version:
        return _cmd_version(args)
    if not getattr(args, "fn", None):
        build_parser().print_help()
        return 2
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
