"""Fit the cost model the converter uses to choose dense, CSR, 4x1 BSR or 1x4 K-blocks.

    python -m benchmarks.sparse_cost_model [--reps 21] [--isa NAME]

Times every MobileNetV2 layer of benchmarks/shapes/mobilenet_v2_sparse.txt at several
sparsities, each kernel called back to back (warm caches, as inside a network), and fits
by non-negative least squares (docs/SPARSE.md, "Cost model"):

  sparse, M >= 4:  t = c_in * Mp*K + c_out * Mp*N + c_pair * Mp*P        Mp = round_up(M, 32)
  sparse, M < 4:   t = c_mv_pair * M*P + c_mv_out * M*N
  1x4, M >= 4:     t = c_call + c_pack * Mq*K + c_out * Mq*N + c_blk * Mq*B   Mq = round_up(M, 16)
  1x4, M < 4:      t = c_call + c_mv_blk * M*B + c_mv_out * M*N
  dense, M >= 4:   t = c_call + c_mac * M*Np*Kp + c_dout * M*Np   (N, K padded to the tile)

P is the number of packed pairs of blocks (K.pack_spmm(...).npairs), B the number of 1x4
blocks (K.pack_spmm(..., block="1x4").nblocks): (1 - s) N ceil(K/4) for 1x4-block pruning
at sparsity s, N ceil(K/4) (1 - s^4) for unstructured pruning. The 1x4 rows are fitted on
both kinds of pruning. Prints the constants (ns), the model's median and worst relative
error, the predicted crossover sparsity per layer, and how the converter's current choice
(qengine/convert/costmodel.py) does on the layers timed: its total time over the fastest
format's.
"""
import argparse
import time

import numpy as np

from benchmarks.sparse_vs_dense import load_shapes, make_layer

FORMATS = ("csr", "csr4x1", "kb4")


def median_ms(fn, reps):
    fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return 1e3 * float(np.median(ts))


def fit(rows, cols):
    from scipy.optimize import nnls
    x = np.array([[r[c] for c in cols] for r in rows], float)
    y = np.array([r["t"] for r in rows], float)
    w = 1.0 / y  # relative error
    coef, _ = nnls(x * w[:, None], y * w)
    err = np.abs(x @ coef - y) / y
    return dict(zip(cols, coef)), float(np.median(err)), float(err.max())


def main(argv=None):
    from qengine import kernels as K
    from qengine.convert import costmodel

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=21)
    p.add_argument("--isa", default=None)
    p.add_argument("--sparsity", default="0.5,0.7,0.8,0.9,0.95")
    p.add_argument("--dense-c-mac", type=float, default=None,
                   help="predict crossovers against a dense kernel of this many ns per MAC "
                        "(e.g. another machine's fit) instead of the one measured here")
    args = p.parse_args(argv)
    if args.isa:
        forced = K.use_isa(args.isa)  # keep a reference: the block lasts until exit
        forced.__enter__()
    isa = K.isa()["selected"]
    rng = np.random.default_rng(0)
    sparsities = [float(s) for s in args.sparsity.split(",")]
    rows = {"csr": [], "bsr4": [], "mv_csr": [], "mv_bsr4": [], "dense": [], "kb4": [],
            "mv_kb4": []}
    shapes = load_shapes()
    cases = []  # (name, m, s, weights, {format: ns}, formats): the converter's choice check
    for name, m, n, k in shapes:
        mp = -(-m // 32) * 32
        first_case = len(cases)
        for s in sparsities:
            a, w, bias, m0, sh = make_layer(rng, m, n, k, s)
            csr = K.dense_to_csr(w)
            out = np.empty((m, n), np.int8)
            unstructured = {}
            for fmt, block in (("csr", 1), ("bsr4", 4)):
                pk = K.pack_spmm(*csr, k, bias, m0, sh, block=block)
                t = median_ms(lambda: pk.run(a, 0, -128, 127, 1, out=out), args.reps) * 1e6
                unstructured["csr4x1" if block == 4 else "csr"] = t
                P = pk.npairs
                if m >= 4:
                    rows[fmt].append(dict(name=name, s=s, t=t, c_in=mp * k, c_out=mp * n,
                                          c_pair=mp * P))
                else:
                    rows["mv_" + fmt].append(dict(name=name, s=s, t=t, c_mv_pair=m * P,
                                                  c_mv_out=m * n))
            mq = -(-m // 16) * 16
            ws = K.kblock_prune(rng.integers(-127, 128, size=(n, k), dtype=np.int8), s)
            for wk in (w, ws):
                pk = K.pack_spmm(*K.dense_to_csr(wk), k, bias, m0, sh, block="1x4")
                t = median_ms(lambda: pk.run(a, 0, -128, 127, 1, out=out), args.reps) * 1e6
                B = pk.nblocks
                if wk is w:
                    cases.append((name, m, s, w, dict(unstructured, kb4=t), FORMATS))
                else:
                    cases.append((name, m, s, ws, {"kb4": t}, ("kb4",)))
                if m >= 4:
                    rows["kb4"].append(dict(name=name, s=s, t=t, c_call=1, c_pack=mq * k,
                                            c_out=mq * n, c_blk=mq * B))
                else:
                    rows["mv_kb4"].append(dict(name=name, s=s, t=t, c_call=1, c_mv_blk=m * B,
                                               c_mv_out=m * n))
        pd = K.pack_gemm(make_layer(rng, m, n, k, 0.0)[1], bias, m0, sh)
        a = make_layer(rng, m, n, k, 0.0)[0]
        npad, kpad = costmodel.dense_padded(n, k, isa)
        t = median_ms(lambda: pd.run(a, 0, -128, 127, 1), max(3, args.reps // 4)) * 1e6
        for case in cases[first_case:]:
            case[4]["dense"] = t
        if m < 4:  # the matrix-vector case has its own constant (c_mv_w)
            continue
        rows["dense"].append(dict(name=name, t=t, c_call=1, c_mac=m * npad * kpad,
                                  c_dout=m * npad))
    print(f"ISA {isa}; dense kernel {pd.kernel_name}; times in ns")
    models = {}
    for fmt, cols in (("csr", ["c_in", "c_out", "c_pair"]), ("bsr4", ["c_in", "c_out", "c_pair"]),
                      ("mv_csr", ["c_mv_pair", "c_mv_out"]),
                      ("mv_bsr4", ["c_mv_pair", "c_mv_out"]),
                      ("kb4", ["c_call", "c_pack", "c_out", "c_blk"]),
                      ("mv_kb4", ["c_call", "c_mv_blk", "c_mv_out"]),
                      ("dense", ["c_call", "c_mac", "c_dout"])):
        if len(rows[fmt]) < len(cols):
            continue
        coef, med, worst = fit(rows[fmt], cols)
        models[fmt] = coef
        consts = ", ".join(f"{c} = {v:.4g}" for c, v in coef.items())
        print(f"{fmt:8s} {consts}   (error median {med:.0%}, worst {worst:.0%})")
    choice_check(cases, isa)
    if args.dense_c_mac is not None:
        models["dense"] = {"c_call": 0.0, "c_mac": args.dense_c_mac, "c_dout": 0.0}
    d = models["dense"]
    print(f"\npredicted crossover sparsity vs dense with c_mac = {d['c_mac']:.4g} ns, "
          f"c_dout = {d['c_dout']:.4g} ns (P ~ (1 - s) N K / 2 for CSR):")
    for name, m, n, k in shapes:
        if "dense" not in models:
            continue
        d = models["dense"]
        npad, kpad = costmodel.dense_padded(n, k, isa)
        dense = d["c_call"] + d["c_mac"] * m * npad * kpad + d["c_dout"] * m * npad
        line = f"  {name:16s} ({m}, {n}, {k}):"
        if m >= 4 and "csr" in models:
            mp = -(-m // 32) * 32
            c = models["csr"]
            fixed = c["c_in"] * mp * k + c["c_out"] * mp * n
            per_density = c["c_pair"] * mp * n * k / 2
            s = 1 - (dense - fixed) / per_density if per_density else 1.0
            line += f" CSR from {_pct(s)};"
        kbm = models.get("kb4" if m >= 4 else "mv_kb4")
        if kbm:
            s_blk, s_uns = kb4_crossover(kbm, dense, m, n, k)
            line += f" 1x4 from {_pct(s_blk)} (1x4-block pruning), {_pct(s_uns)} (unstructured)"
        print(line)


def choice_check(cases, isa):
    """How the converter's choice (qengine/convert/costmodel.py as it stands, not this run's
    fit) does on the layers just timed: the chosen formats' total time over the fastest
    ones', and the layers where the choice cost more than 15%."""
    from qengine.convert import costmodel
    chosen = fastest = 0.0
    worst = []
    for name, m, s, w, times, formats in cases:
        pick, _ = costmodel.choose(w, m, isa, formats)
        best = min(times, key=times.get)
        chosen, fastest = chosen + times[pick], fastest + times[best]
        if times[pick] > 1.15 * times[best]:
            kind = "unstructured" if len(formats) > 1 else "1x4 blocks"
            worst.append(f"{name} {s:.0%} {kind}: {pick} {times[pick] / 1e3:.1f} us, "
                         f"{best} {times[best] / 1e3:.1f} us")
    print(f"\nconverter's choice (costmodel.py, MARGIN {costmodel.MARGIN}) on these {len(cases)} "
          f"layers: chosen / fastest total time {chosen / fastest:.3f}; "
          f"{len(worst)} cost more than 15%:")
    for line in worst:
        print("  " + line)


def _pct(s):
    return "never" if s >= 1.0 else f"{max(s, 0.0):.0%}"


def kb4_crossover(c, t_dense, m, n, k):
    """Sparsity from which the 1x4 kernel beats t_dense: for 1x4-block pruning
    (B = (1 - s) N Kb) and for unstructured pruning (B = (1 - s^4) N Kb)."""
    kb = -(-k // 4)
    if m >= 4:
        mq = -(-m // 16) * 16
        fixed = c["c_call"] + c["c_pack"] * mq * k + c["c_out"] * mq * n
        per_block = c["c_blk"] * mq
    else:
        fixed = c["c_call"] + c["c_mv_out"] * m * n
        per_block = c["c_mv_blk"] * m
    density = (t_dense - fixed) / (per_block * n * kb) if per_block * n * kb else 1.0
    if density <= 0:
        return 1.0, 1.0
    density = min(density, 1.0)
    return 1 - density, (1 - density) ** 0.25


if __name__ == "__main__":
    main()
