"""Fit the cost model the converter uses to choose dense, CSR or 4x1 BSR per layer.

    python -m benchmarks.sparse_cost_model [--reps 21] [--isa NAME]

Times every MobileNetV2 layer of benchmarks/shapes/mobilenet_v2_sparse.txt at several
sparsities, each kernel called back to back (warm caches, as inside a network), and fits
by non-negative least squares (docs/SPARSE.md, "Cost model"):

  sparse, M >= 4:  t = c_in * Mp*K + c_out * Mp*N + c_pair * Mp*P        Mp = round_up(M, 32)
  sparse, M < 4:   t = c_mv_pair * M*P + c_mv_out * M*N
  dense:           t = c_mac * M*N*K + c_dout * M*N

P is the number of packed pairs of blocks (K.pack_spmm(...).npairs). Prints the constants
(ns), the model's median and worst relative error, and the predicted crossover sparsity of
CSR and BSR per layer.
"""
import argparse
import time

import numpy as np

from benchmarks.sparse_vs_dense import load_shapes, make_layer


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
    rng = np.random.default_rng(0)
    sparsities = [float(s) for s in args.sparsity.split(",")]
    rows = {"csr": [], "bsr4": [], "mv_csr": [], "mv_bsr4": [], "dense": []}
    shapes = load_shapes()
    for name, m, n, k in shapes:
        mp = -(-m // 32) * 32
        for s in sparsities:
            a, w, bias, m0, sh = make_layer(rng, m, n, k, s)
            csr = K.dense_to_csr(w)
            out = np.empty((m, n), np.int8)
            for fmt, block in (("csr", 1), ("bsr4", 4)):
                pk = K.pack_spmm(*csr, k, bias, m0, sh, block=block)
                t = median_ms(lambda: pk.run(a, 0, -128, 127, 1, out=out), args.reps) * 1e6
                P = pk.npairs
                if m >= 4:
                    rows[fmt].append(dict(name=name, s=s, t=t, c_in=mp * k, c_out=mp * n,
                                          c_pair=mp * P))
                else:
                    rows["mv_" + fmt].append(dict(name=name, s=s, t=t, c_mv_pair=m * P,
                                                  c_mv_out=m * n))
        pd = K.pack_gemm(make_layer(rng, m, n, k, 0.0)[1], bias, m0, sh)
        a = make_layer(rng, m, n, k, 0.0)[0]
        rows["dense"].append(dict(name=name, t=median_ms(lambda: pd.run(a, 0, -128, 127, 1),
                                                         max(3, args.reps // 4)) * 1e6,
                                  c_mac=m * n * k, c_dout=m * n))
    print(f"ISA {K.isa()['selected']}; dense kernel {pd.kernel_name}; times in ns")
    models = {}
    for fmt, cols in (("csr", ["c_in", "c_out", "c_pair"]), ("bsr4", ["c_in", "c_out", "c_pair"]),
                      ("mv_csr", ["c_mv_pair", "c_mv_out"]),
                      ("mv_bsr4", ["c_mv_pair", "c_mv_out"]), ("dense", ["c_mac", "c_dout"])):
        if len(rows[fmt]) < len(cols):
            continue
        coef, med, worst = fit(rows[fmt], cols)
        models[fmt] = coef
        consts = ", ".join(f"{c} = {v:.4g}" for c, v in coef.items())
        print(f"{fmt:8s} {consts}   (error median {med:.0%}, worst {worst:.0%})")
    if args.dense_c_mac is not None:
        models["dense"] = {"c_mac": args.dense_c_mac, "c_dout": 0.0}
    d = models["dense"]
    print(f"\npredicted crossover sparsity vs dense with c_mac = {d['c_mac']:.4g} ns, "
          f"c_dout = {d['c_dout']:.4g} ns (P ~ (1 - s) N K / 2 for CSR):")
    for name, m, n, k in shapes:
        if m < 4 or "csr" not in models or "dense" not in models:
            continue
        mp = -(-m // 32) * 32
        c, d = models["csr"], models["dense"]
        dense = d["c_mac"] * m * n * k + d["c_dout"] * m * n
        fixed = c["c_in"] * mp * k + c["c_out"] * mp * n
        per_density = c["c_pair"] * mp * n * k / 2
        s = 1 - (dense - fixed) / per_density if per_density else 1.0
        print(f"  {name:16s} ({m}, {n}, {k}): CSR from {max(s, 0.0):.0%}")


if __name__ == "__main__":
    main()
