"""Activation ranges from calibration data, run through the float teacher.

    ranges = calibrate(graph, data, method="percentile", percentile=99.99)
    ranges["conv1_out"] -> (lo, hi)   # float range of that tensor, always containing 0

`data`: an array (a batch, in the ONNX model's layout: NCHW for images), an iterable of
arrays (samples or batches), an `.npy` / `.npz` path, or dicts {input name: array} for
multi-input models.

Methods (docs/CONVERTER.md, "Calibration"):
  minmax      the observed min and max.
  percentile  the p-th and (100-p)-th percentiles of the observed values (p = 99.99).
  entropy     TensorRT's KL-divergence threshold on the |x| histogram: the clip T whose
              quantized distribution is closest to the observed one; range
              [max(min, -T), min(max, T)].
  mse         the range (a * min, a * max), a in (0, 1], minimising the expected squared
              error (clipping error plus step^2 / 12 inside) over the histogram.
Non-minmax methods take two passes over the data: min/max first, then a 4096-bin
histogram over [-A, A], A = max |x|, per tensor.
"""
import os
import sys
import time

import numpy as np

from qengine.convert.executor import FloatExecutor

METHODS = ("minmax", "percentile", "entropy", "mse")
HIST_BINS = 4096  # over [-A, A]: 2048 bins per sign


def iter_batches(graph, data, batch_size=16, layout="onnx"):
    """Yield feeds for the executor (stored layout) from any accepted `data` form."""
    if isinstance(data, (str, os.PathLike)):
        data = _load_path(graph, os.fspath(data))
    if isinstance(data, np.ndarray) or (isinstance(data, dict) and len(graph.inputs) and
                                        all(k in graph.inputs for k in data)):
        data = [data]
    pending, count = [], 0
    for item in data:
        feed = _as_feed(graph, item, layout)
        n, i = len(next(iter(feed.values()))), 0
        while i < n:
            take = min(batch_size - count, n - i)
            pending.append({k: v[i:i + take] for k, v in feed.items()})
            count, i = count + take, i + take
            if count == batch_size:
                yield _concat(pending)
                pending, count = [], 0
    if count:
        yield _concat(pending)


def _concat(feeds):
    if len(feeds) == 1:
        return feeds[0]
    return {k: np.concatenate([f[k] for f in feeds]) for k in feeds[0]}


def _load_path(graph, path):
    if not os.path.exists(path):
        raise ValueError(f"calibration data file {path!r} does not exist")
    if path.endswith(".npz"):
        with np.load(path) as z:
            names = list(z.keys())
            if all(i in names for i in graph.inputs):
                return {i: z[i] for i in graph.inputs}
            if len(graph.inputs) == 1 and names:
                key = next((k for k in ("x", "input", "data", "calib", "x_calib") if k in names), names[0])
                return z[key]
            raise ValueError(f"{path}: arrays {names} do not name the inputs {graph.inputs}")
    return np.load(path, allow_pickle=False)


def _as_feed(graph, item, layout):
    if not isinstance(item, dict):
        if len(graph.inputs) != 1:
            raise ValueError(f"model has inputs {graph.inputs}: give dicts {{name: array}}")
        item = {graph.inputs[0]: item}
    feed = {}
    for name in graph.inputs:
        if name not in item:
            raise ValueError(f"calibration data lacks input {name!r}")
        x = np.asarray(item[name], np.float32)
        rank = len(graph.shapes[name])
        if x.ndim == rank - 1:
            x = x[None]
        if x.ndim != rank:
            raise ValueError(f"calibration data for {name!r} has shape {x.shape}; the model "
                             f"takes rank-{rank} batches (stored shape {graph.shapes[name]})")
        if layout == "onnx":
            x = graph.to_stored(name, x)
        if x.shape[1:] != tuple(graph.shapes[name][1:]):
            raise ValueError(f"calibration data for {name!r} has shape {x.shape}, expected "
                             f"[batch, {', '.join(map(str, graph.shapes[name][1:]))}]")
        feed[name] = x
    return feed


class _Progress:
    """tqdm if installed, else one stderr line; silent for runs shorter than 2 s."""

    def __init__(self, desc, enabled=None):
        self.desc, self.enabled, self.t0, self.n, self.bar = desc, enabled, time.time(), 0, None

    def update(self, k):
        self.n += k
        show = self.enabled or (self.enabled is None and time.time() - self.t0 > 2.0)
        if not show:
            return
        if self.bar is None:
            try:
                from tqdm import tqdm
                self.bar = tqdm(desc=self.desc, unit="sample", initial=self.n)
            except ImportError:
                self.bar = False
        if self.bar:
            self.bar.update(k)
        else:
            sys.stderr.write(f"\r{self.desc}: {self.n} samples, {time.time() - self.t0:.0f} s")
            sys.stderr.flush()

    def close(self):
        if self.bar:
            self.bar.close()
        elif self.bar is False:
            sys.stderr.write("\n")


class _Stats:
    """Per-tensor min/max (pass 1) and histogram over [-A, A] (pass 2)."""

    def __init__(self):
        self.lo, self.hi, self.hist, self.absmax = {}, {}, {}, {}

    def minmax(self, name, x):
        lo, hi = float(x.min()), float(x.max())
        self.lo[name] = min(lo, self.lo.get(name, lo))
        self.hi[name] = max(hi, self.hi.get(name, hi))

    def histogram(self, name, x):
        a = self.absmax[name]
        if a <= 0:
            return
        idx = ((x.ravel().astype(np.float64) + a) * (HIST_BINS / (2 * a))).astype(np.int64)
        np.clip(idx, 0, HIST_BINS - 1, out=idx)
        h = np.bincount(idx, minlength=HIST_BINS)
        self.hist[name] = self.hist.get(name, 0) + h


def calibrate(graph, data, method="percentile", percentile=99.99, batch_size=16,
              layout="onnx", progress=None, max_samples=None, observe=None):
    """{tensor name: (lo, hi)} for every activation tensor of `graph` (see module doc).
    `observe(name, array)`, if given, also sees every tensor of the first pass (the
    converter collects bias-correction statistics there, saving a teacher pass)."""
    if method not in METHODS:
        raise ValueError(f"calibrate={method!r}: choose one of {', '.join(METHODS)}")
    if method == "percentile" and not 50 < percentile <= 100:
        raise ValueError(f"percentile={percentile} must be in (50, 100]")
    ex, st = FloatExecutor(graph), _Stats()

    def passes(fn, desc):
        prog, seen = _Progress(desc, progress), 0
        for feed in iter_batches(graph, data, batch_size, layout):
            if max_samples is not None and seen >= max_samples:
                break
            ex.run(feed, on_tensor=fn)
            k = len(next(iter(feed.values())))
            seen += k
            prog.update(k)
        prog.close()
        if seen == 0:
            raise ValueError("calibration data is empty")

    first = st.minmax if observe is None else (lambda k, x: (st.minmax(k, x), observe(k, x)))
    passes(first, "calibration (min/max)")
    if method != "minmax":
        st.absmax = {k: max(abs(st.lo[k]), abs(st.hi[k])) for k in st.lo}
        passes(st.histogram, f"calibration ({method} histograms)")
    ranges = {}
    for name in st.lo:
        lo, hi = min(st.lo[name], 0.0), max(st.hi[name], 0.0)
        h = st.hist.get(name)
        if method != "minmax" and h is not None:
            a = st.absmax[name]
            if method == "percentile":
                lo, hi = percentile_range(h, a, percentile, lo, hi)
            elif method == "entropy":
                t = entropy_threshold(h, a, levels=256 if st.lo[name] >= 0 else 128)
                lo, hi = max(lo, -t), min(hi, t)
            else:
                lo, hi = mse_range(h, a, lo, hi)
        ranges[name] = (float(min(lo, 0.0)), float(max(hi, 0.0)))
    return ranges


def _centers(a):
    edges = np.linspace(-a, a, HIST_BINS + 1)
    return (edges[:-1] + edges[1:]) / 2


def percentile_range(hist, a, p, lo, hi):
    """(100-p)-th and p-th percentiles from the histogram, linear inside a bin."""
    cdf = np.cumsum(hist) / hist.sum()
    edges = np.linspace(-a, a, HIST_BINS + 1)
    q_lo = np.interp(1 - p / 100, np.concatenate([[0], cdf]), edges)
    q_hi = np.interp(p / 100, np.concatenate([[0], cdf]), edges)
    return max(lo, min(q_lo, 0.0)), min(hi, max(q_hi, 0.0))


def entropy_threshold(hist, a, levels=128, start=None):
    """TensorRT-style KL calibration on |x|: returns the threshold T minimising
    KL(P || Q), P = the histogram of |x| clipped at T (outliers added to the last bin),
    Q = P quantized to `levels` levels and expanded back over P's non-empty bins."""
    half = HIST_BINS // 2
    h = (hist[half:] + hist[:half][::-1]).astype(np.float64)  # fold to |x|, 2048 bins
    # the spike of exact zeros (ReLU outputs, padding) is not information about the
    # tail: flatten it, as NVIDIA's calibrator does, or it dominates the divergence
    h[0] = h[1]
    nb = len(h)
    if h.sum() == 0:
        return a
    width = a / nb
    best_i, best_kl = nb, np.inf
    start = start or 128
    step = max(1, (nb - start) // 256)  # ~256 candidates, fine enough at 2048 bins
    for i in list(range(start, nb, step)) + [nb]:
        p = h[:i].copy()
        p[-1] += h[i:].sum()
        nz = p > 0
        # merge i bins into `levels` groups; spread each group's mass over its non-empty bins
        grp = (np.arange(i) * levels) // i
        mass = np.bincount(grp, weights=h[:i], minlength=levels)
        cnt = np.bincount(grp, weights=nz.astype(np.float64), minlength=levels)
        q = np.where(nz, mass[grp] / np.maximum(cnt[grp], 1), 0.0)
        ps, qs = p[nz] / p.sum(), q[nz] / max(q.sum(), 1e-30)
        kl = float(np.sum(ps * np.log(ps / np.maximum(qs, 1e-30))))
        if kl < best_kl:
            best_kl, best_i = kl, i
    return (best_i + 0.5) * width if best_i < nb else a


def mse_range(hist, a, lo, hi, steps=128):
    """Range (f * lo, f * hi), f in (0, 1], with the smallest expected squared error of
    8-bit affine quantization over the histogram."""
    c = _centers(a)
    w = hist.astype(np.float64)
    f = np.linspace(1.0 / steps, 1.0, steps)[:, None]
    l, u = lo * f, hi * f
    step = (u - l) / 255.0
    clipped = np.clip(c[None, :], l, u)
    err = (c[None, :] - clipped) ** 2 + (step ** 2) / 12.0
    best = int(np.argmin((err * w[None, :]).sum(axis=1)))
    return float(l[best, 0]), float(u[best, 0])
