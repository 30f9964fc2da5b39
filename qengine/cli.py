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
    from qengine import demo

    demo.run(out_dir=args.out, threads=args.threads)
    return 0


def _random_inputs(model, raw, seed=0):
    rng = np.random.default_rng(seed)
    feeds = {}
    for i in model.inputs:
        q = rng.integers(-128, 128, size=i.shape).astype(i.dtype)
        feeds[i.name] = q if raw else ((q.astype(np.float32) - i.zero_point) * i.scale)
    return feeds


def _cmd_run(args):
    import qengine

    m = qengine.load(args.model, num_threads=args.threads)
    x = np.load(args.input)
    if isinstance(x, np.lib.npyio.NpzFile):
        x = dict(x)
    y = m.run(x, raw=args.raw)
    if args.output:
        if isinstance(y, dict):
            np.savez(args.output, **y)
        else:
            np.save(args.output, y)
    else:
        np.set_printoptions(threshold=64, precision=4)
        for name, v in (y.items() if isinstance(y, dict) else [(m.outputs[0].name, y)]):
            print(f"{name} {v.dtype}{list(v.shape)}:\n{v}")
    return 0


def _cmd_bench(args):
    import time

    import qengine

    m = qengine.load(args.model, num_threads=args.threads)
    feeds = _random_inputs(m, args.raw)
    for _ in range(args.warmup):
        m.run(feeds, raw=args.raw)
    times = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        m.run(feeds, raw=args.raw)
        times.append((time.perf_counter() - t0) * 1e3)
    t = np.array(times)
    print(f"{args.model}: {args.runs} runs, {m.num_threads} thread(s), ISA "
          f"{qengine.kernels.isa()['selected']}")
    print(f"latency ms: min {t.min():.4f}  median {np.median(t):.4f}  "
          f"p90 {np.percentile(t, 90):.4f}  mean {t.mean():.4f}")
    if args.profile:
        print(m.profile(feeds, runs=args.runs, raw=args.raw))
    return 0


def _cmd_info(args):
    import qengine
    from qengine import info

    m = qengine.load(args.model, num_threads=args.threads)
    print(info.describe(m))
    return 0


def _int16_layers(text):
    """--int16-layers: auto | all | comma-separated layer names."""
    if text is None or text in ("auto", "all"):
        return text
    return [s for s in text.split(",") if s]


def _cmd_convert(args):
    from qengine.convert import convert
    from qengine.errors import UnsupportedOpError

    prune = None
    if args.prune_sparsity is not None or args.prune_method is not None:
        prune = {"sparsity": 0.5 if args.prune_sparsity is None else args.prune_sparsity,
                 "method": args.prune_method or "magnitude"}
        if args.prune_scope:
            prune["scope"] = args.prune_scope
        if args.prune_layers:
            prune["layers"] = args.prune_layers
        if args.prune_block:
            prune["block"] = args.prune_block
    try:
        report = convert(args.model, args.output, calibration=args.calib,
                         calibrate=args.calibrate, recover=args.recover,
                         percentile=args.percentile, prune=prune, storage=args.storage,
                         scheme=args.scheme, int16_layers=_int16_layers(args.int16_layers),
                         target_sqnr=args.target_sqnr,
                         int16_weight_bits=args.int16_weight_bits)
    except (UnsupportedOpError, NotImplementedError, ValueError, OSError) as exc:
        print(f"qengine convert: {exc}", file=sys.stderr)
        return 1
    print(report)
    if args.report:
        report.save(args.report)
        print(f"report written to {args.report}")
    return 0


def build_parser():
    p = argparse.ArgumentParser(prog="qengine", description=__doc__)
    p.add_argument("--version", action="store_true", help="version and ISA variants")
    sub = p.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="the main job: convert and run the bundled digits CNN")
    demo.add_argument("--out", help="folder for the .qmodel files (default: a temp folder)")
    demo.add_argument("--threads", type=int, default=1)
    demo.set_defaults(fn=_cmd_demo)
    sub.add_parser("version", help="version and ISA variants").set_defaults(fn=_cmd_version)

    conv = sub.add_parser("convert", help="ONNX float model -> calibrated int8 .qmodel")
    conv.add_argument("model", help="the float .onnx file (only read)")
    conv.add_argument("-o", "--output", required=True, help="the .qmodel to write")
    conv.add_argument("--calib", required=True,
                      help="calibration inputs, ONNX layout: .npy, or .npz (by input name)")
    conv.add_argument("--calibrate", default="minmax",
                      choices=["minmax", "percentile", "entropy", "mse"])
    conv.add_argument("--percentile", type=float, default=99.99)
    conv.add_argument("--recover", dest="recover", action="store_true", default=True,
                      help="layer-wise reconstruction and bias correction against the "
                           "float model (default)")
    conv.add_argument("--no-recover", dest="recover", action="store_false",
                      help="skip every recovery step")
    conv.add_argument("--prune-sparsity", type=float, default=None,
                      help="fraction of weights (or channels) to remove, e.g. 0.8")
    conv.add_argument("--prune-method", choices=["magnitude", "importance", "channel", "2:4"],
                      default=None, help="default magnitude")
    conv.add_argument("--prune-scope", choices=["layer", "global"], default=None,
                      help="magnitude: one threshold per layer (default) or for all")
    conv.add_argument("--prune-layers", choices=["all", "pointwise"], default=None,
                      help="prune every conv/dense layer (default) or only those that can "
                           "be stored sparse (1x1 convs, dense)")
    conv.add_argument("--prune-block", choices=["auto", "1x1", "1x4"], default=None,
                      help="magnitude/importance unit: single weights (1x1), blocks of 4 "
                           "input channels of one output (1x4, the fast sparse kernels), "
                           "or auto (default: 1x4 on 1x1 convs)")
    conv.add_argument("--storage", choices=["auto", "dense", "sparse"], default="auto",
                      help="per layer weight storage: cost model (default), always dense, "
                           "or CSR wherever smaller")
    conv.add_argument("--scheme", default="int8", choices=["int8", "fixed"],
                      help="int8: affine; fixed: power-of-two scales (Q-formats), shifts")
    conv.add_argument("--int16-layers", default=None,
                      help="auto | all | comma-separated layer names kept in int16")
    conv.add_argument("--target-sqnr", type=float, default=None,
                      help="output SQNR (dB) --int16-layers auto aims for (default 30)")
    conv.add_argument("--int16-weight-bits", type=int, choices=[8, 16], default=8,
                      help="weights of the int16 layers: 8 (16x8) or 16 (two int8 halves "
                           "hi + lo/256, run as two 16x8 layers and an int16 Add; needs "
                           "--int16-layers all or a list)")
    conv.add_argument("--report", help="also save the report as JSON here")
    conv.set_defaults(fn=_cmd_convert)

    run = sub.add_parser("run", help="run a model on inputs from .npy/.npz")
    run.add_argument("model")
    run.add_argument("--input", required=True, help=".npy (one input) or .npz (by name)")
    run.add_argument("--output", help="write outputs to this .npy/.npz instead of printing")
    run.add_argument("--raw", action="store_true", help="inputs/outputs are quantized")
    run.add_argument("--threads", type=int, default=None)
    run.set_defaults(fn=_cmd_run)

    bench = sub.add_parser("bench", help="latency of a model, like benchmark_model")
    bench.add_argument("model")
    bench.add_argument("--threads", type=int, default=1)
    bench.add_argument("--runs", type=int, default=50)
    bench.add_argument("--warmup", type=int, default=5)
    bench.add_argument("--profile", action="store_true", help="per-op time table")
    bench.add_argument("--raw", action="store_true", help="time without (de)quantizing")
    bench.set_defaults(fn=_cmd_bench)

    info = sub.add_parser("info", help="inputs, outputs, layers, sizes, sparsity, arena")
    info.add_argument("model")
    info.add_argument("--threads", type=int, default=1)
    info.set_defaults(fn=_cmd_info)
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
