"""Layer-wise reconstruction against the float teacher (no gradients, no torch).

    reconstruct(teacher, student, batches, masks, keep)   # edits student's weights

For every pruned conv2d (groups 1) / dense layer of the student (a mask, or channels
removed), in order, with X_s the layer's
input in the *student* (every earlier layer already compressed, so errors do not
accumulate) and Y_t = X_t W_t^T + b_t the teacher's pre-activation output on the
teacher's own input, over the calibration data (a conv as im2col rows):

1. Refit, regularised toward the teacher's weights W_0 (its kept rows and columns):
       W* = argmin ||X_s W^T + b - Y_t||^2 + lam ||W - W_0||^2
          = ((X_s - mu_s)^T (Y_t - mu_y) + lam W_0^T)^T (H + lam I)^-1
   with H = (X_s - mu_s)^T (X_s - mu_s) and lam = damp * mean(diag H) * max(1, K / rows)
   (with fewer calibration rows than inputs, the teacher's weights weigh more). Only Gram
   matrices are accumulated (X_s^T X_s, X_s^T X_t, sums): (Y_t - mu_y) = (X_t - mu_t) W_t^T.
   A pruned layer is refit exactly under its mask, row by row, when that is cheap
   (EXACT_BUDGET), else approximately by CG_ITERS conjugate-gradient steps on all rows at
   once (CG_BUDGET); otherwise step 2 does the pruning too.
2. Compress W* column by column keeping ||X_s (W - W*)^T||^2 small: the OBS update
   (SparseGPT for a fixed mask, GPTQ for rounding; one pass does both). Column j is
   replaced by q_j = mask_j * round(w_j / s) * s (s = the row's int8 scale), and the error
   (w_j - q_j) / U[j, j] is spread over the columns not yet done through row j of U, the
   upper Cholesky factor of (H + lam I)^-1. Columns go in blocks of 128 with one matrix
   product per block for the rest (GPTQ's lazy batch update).
3. The bias that is optimal for the result: b = mu_y - W mu_s.

The row scales are stored in params["w_scale"], so quantize_graph rounds the weights to
exactly the q_j chosen here. Depthwise and affine layers are left to bias correction.
"""
import numpy as np

from qengine.convert.executor import _taps, out_size, pad_nhwc, run_node
from qengine.convert.prune import geometry, weight_layers

DAMP = 0.01       # lam = DAMP * mean(diag H); raised x10 if Cholesky still fails
BLOCK = 128
CHUNK = 1 << 22   # im2col elements per Gram update
EXACT_BUDGET = 4e9  # flops under which a pruned layer is refit exactly, row by row
CG_ITERS = 25       # else by this many conjugate-gradient steps on all rows at once
CG_BUDGET = 4e10    # ... when they cost less than this; else the OBS update alone


def im2col(x, node):
    """Rows of the layer's input as the weight sees them: [R, kh*kw*C] (OHWI order)."""
    if node.op == "dense":
        return x.reshape(-1, x.shape[-1])
    (kh, kw), strides, pads, dil = geometry(node)
    n, h, w, c = x.shape
    ho = out_size(h, kh, strides[0], dil[0], pads[0], pads[2])
    wo = out_size(w, kw, strides[1], dil[1], pads[1], pads[3])
    xp = pad_nhwc(x, pads, 0.0)
    views = [v for _, _, v in _taps(xp, kh, kw, strides, dil, ho, wo)]
    return np.stack(views, axis=3).reshape(n * ho * wo, kh * kw * c)


class Gram:
    """X_s^T X_s, X_s^T X_t, column sums and row count, accumulated in float64."""

    def __init__(self):
        self.hs = self.cross = self.ss = self.st = None
        self.rows = 0

    def add(self, node_s, node_t, xs, xt):
        n = xs.shape[0]
        k = max(1, int(np.prod(node_s.params["weight"].shape[1:])))
        per = max(1, int(np.prod(xs.shape[1:-1])) * k)
        step = max(1, CHUNK // per)
        for i in range(0, n, step):
            a = im2col(xs[i:i + step], node_s).astype(np.float64)
            b = im2col(xt[i:i + step], node_t).astype(np.float64)
            if self.hs is None:
                self.hs, self.cross = a.T @ a, a.T @ b
                self.ss, self.st = a.sum(0), b.sum(0)
            else:
                self.hs += a.T @ a
                self.cross += a.T @ b
                self.ss += a.sum(0)
                self.st += b.sum(0)
            self.rows += a.shape[0]


def damped_cholesky_inverse(h, damp=DAMP):
    """(U, lam): U upper triangular with (H + lam I)^-1 = U^T U; lam grows until H + lam I
    factorises. One Cholesky and one triangular inverse: factor H + lam I = V V^T with V
    *upper* (the Cholesky factor of the index-reversed matrix, reversed back), then
    U = V^-1."""
    k = h.shape[0]
    base = float(np.mean(np.diag(h))) if k else 1.0
    base = base if base > 0 else 1.0
    for _ in range(8):
        lam = damp * base
        try:
            low = np.linalg.cholesky((h + lam * np.eye(k))[::-1, ::-1])
            v = low[::-1, ::-1]
            return np.linalg.inv(v), lam
        except np.linalg.LinAlgError:
            damp *= 10
    raise np.linalg.LinAlgError("reconstruction: the Gram matrix stays singular")


def int8_scales(w, mask=None):
    """Per-row symmetric int8 scale of the surviving weights (0 for an empty row)."""
    wm = w if mask is None else w * mask
    return np.abs(wm).max(axis=1) / 127.0 if w.size else np.zeros(w.shape[0])


def obs_compress(w, u, mask=None, scale=None, block=BLOCK):
    """Columns of W [O, K] replaced by their compressed value (mask, int8 rounding with
    per-row `scale`), each column's error spread over the later ones through U (step 2 of
    the module docstring). Returns the compressed W (float64)."""
    w = np.array(w, np.float64)
    o, k = w.shape
    q = np.zeros_like(w)
    safe = None if scale is None else np.where(scale > 0, scale, 1.0)
    for i1 in range(0, k, block):
        i2 = min(i1 + block, k)
        w1 = w[:, i1:i2].copy()
        err = np.zeros((o, i2 - i1))
        u1 = u[i1:i2, i1:i2]
        for i in range(i2 - i1):
            col = w1[:, i]
            qc = col if safe is None else np.clip(np.round(col / safe), -127, 127) * safe
            if scale is not None:
                qc = np.where(scale > 0, qc, 0.0)
            if mask is not None:
                qc = qc * mask[:, i1 + i]
            q[:, i1 + i] = qc
            e = (col - qc) / u1[i, i]
            w1[:, i:] -= np.outer(e, u1[i, i:])
            err[:, i] = e
        if i2 < k:
            w[:, i2:] -= err @ u[i1:i2, i2:]
    return q


def masked_cost(mask):
    """Flops of solving every row's masked system exactly (sum of |S|^3 / 3)."""
    return float(np.sum(mask.sum(axis=1) ** 3)) / 3


def masked_refit(hd, rhs, mask):
    """Row by row, the exact least squares over the row's surviving weights S:
    (H + lam I)[S, S] w_S = rhs[S, n]. Better than the sequential OBS update (which can
    only move the columns after a pruned one), and affordable for small S."""
    w = np.zeros(mask.shape)
    for n in range(mask.shape[0]):
        s = np.flatnonzero(mask[n])
        if s.size:
            w[n, s] = np.linalg.solve(hd[np.ix_(s, s)], rhs[s, n])
    return w


def masked_cg(hd, rhs, mask, w0, iters=None):
    """The same solution as masked_refit, by conjugate gradients run on every row at once
    (each row's system restricted to its mask; Jacobi preconditioner), from w0. One
    iteration costs one [O, K] x [K, K] product."""
    iters = iters or CG_ITERS
    b = rhs.T * mask
    x = w0 * mask
    d = np.diag(hd)[None, :]
    r = b - (x @ hd) * mask
    z = r / d
    p = z.copy()
    rz = np.sum(r * z, axis=1)
    for _ in range(iters):
        ap = (p @ hd) * mask
        den = np.sum(p * ap, axis=1)
        alpha = np.where(den > 0, rz / np.where(den > 0, den, 1), 0.0)
        x += alpha[:, None] * p
        r -= alpha[:, None] * ap
        z = r / d
        rz_new = np.sum(r * z, axis=1)
        beta = np.where(rz > 0, rz_new / np.where(rz > 0, rz, 1), 0.0)
        p = z + beta[:, None] * p
        rz = rz_new
    return x


def _input_columns(node_t, keep_in, k_teacher):
    """Indices of the teacher's im2col columns that the student layer still has (its
    input channels `keep_in`, in every kernel tap)."""
    if keep_in is None:
        return np.arange(k_teacher)
    c = node_t.params["weight"].shape[-1]
    return (np.arange(k_teacher // c)[:, None] * c + keep_in[None, :]).reshape(-1)


def naive(w, mask=None, quantize=True):
    """What compression without recovery gives: mask, then round with the row's scale."""
    m = 1.0 if mask is None else mask
    wm = w * m
    if not quantize:
        return wm
    s = int8_scales(w, None if mask is None else mask)
    safe = np.where(s > 0, s, 1.0)[:, None]
    return np.clip(np.round(wm / safe), -127, 127) * safe


def refit(node_s, node_t, gram, mask=None, keep_out=None, keep_in=None, damp=DAMP,
          quantize=True):
    """Steps 1-3 for one layer; writes node_s.params weight, bias and w_scale."""
    wt = node_t.params["weight"]
    wt = wt.reshape(wt.shape[0], -1).astype(np.float64)
    bt = node_t.params.get("bias")
    bt = np.zeros(wt.shape[0]) if bt is None else bt.astype(np.float64)
    if keep_out is not None:
        wt, bt = wt[keep_out], bt[keep_out]
    cols = _input_columns(node_t, keep_in, wt.shape[1])
    r = max(gram.rows, 1)
    mu_s, mu_t = gram.ss / r, gram.st / r
    h = gram.hs - r * np.outer(mu_s, mu_s)
    cross = gram.cross - r * np.outer(mu_s, mu_t)          # (X_s - mu_s)^T (X_t - mu_t)
    w0 = wt[:, cols]
    # fewer calibration rows than weights per row: trust the teacher's weights more
    u, lam = damped_cholesky_inverse(h, damp * max(1.0, h.shape[0] / r))
    rhs = cross @ wt.T + lam * w0.T                        # [K_s, O]
    wstar = ((u.T @ (u @ rhs))).T                          # (H + lam I)^-1 rhs
    m2 = None if mask is None else mask.reshape(mask.shape[0], -1).astype(np.float64)
    if m2 is not None and masked_cost(m2) <= EXACT_BUDGET:
        wstar = masked_refit(h + lam * np.eye(h.shape[0]), rhs, m2)
    elif m2 is not None and m2.shape[0] * m2.shape[1] ** 2 * CG_ITERS <= CG_BUDGET:
        wstar = masked_cg(h + lam * np.eye(h.shape[0]), rhs, m2, wstar)
    scale = int8_scales(wstar, m2) if quantize else None
    w = obs_compress(wstar, u, m2, scale)
    mu_y = wt @ mu_t + bt
    b = mu_y - w @ mu_s
    shape = node_s.params["weight"].shape
    node_s.params["weight"] = w.reshape(shape).astype(np.float32)
    node_s.params["bias"] = b.astype(np.float32)
    if quantize:
        node_s.params["w_scale"] = scale
    return _residual(h, cross, wt, naive(w0, m2, quantize)) / r, _residual(h, cross, wt, w) / r


def _residual(h, cross, wt, w):
    """tr(W H W^T) - 2 tr(W C W_t^T): the part of the centered ||X_s W^T - Y_t||^2 that
    depends on W (the rest, ||Y_t - mu_y||^2, is the same for every W)."""
    return float(np.sum((w @ h) * w) - 2 * np.sum((w @ cross) * wt)) if w.size else 0.0


def _free(env, node, last, idx, keep):
    for i in node.inputs:
        if last.get(i) == idx and i not in keep:
            env.pop(i, None)


def reconstruct(teacher, student, batches, masks=None, keep=None, damp=DAMP, quantize=True,
                observe=None, progress=None):
    """Refit every pruned conv2d (groups 1) / dense layer of `student` (in `masks`, or with
    channels removed by `keep`; module docstring); the others keep their weights.
    `observe(name, array)` sees every tensor of the teacher (bias-correction means).
    Returns {layer: (error before, error after)} of the refit (the W-dependent part)."""
    masks, keep = masks or {}, keep or {}
    feeds = {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}
    tnodes = {n.name: n for n in teacher.nodes}
    # only compressed layers: refitting an unpruned layer to a few calibration samples
    # costs more than its rounding error (0.3-0.8 dB on random-init models)
    targets = {n.name for n in weight_layers(student)
               if n.name in masks or n.outputs[0] in keep or n.inputs[0] in keep}
    env_s, env_t = dict(feeds), dict(feeds)
    env_s.update(student.consts)
    env_t.update(teacher.consts)
    if observe is not None:
        for k, v in feeds.items():
            observe(k, v)
    last_s = {i: idx for idx, n in enumerate(student.nodes) for i in n.inputs}
    last_t = {i: idx for idx, n in enumerate(teacher.nodes) for i in n.inputs}
    outs = set(student.outputs) | set(teacher.outputs)
    result = {}
    for idx, n in enumerate(student.nodes):
        t = tnodes[n.name]
        if n.name in targets:
            g = Gram()
            g.add(n, t, env_s[n.inputs[0]], env_t[t.inputs[0]])
            result[n.name] = refit(n, t, g, masks.get(n.name), keep.get(n.outputs[0]),
                                   keep.get(n.inputs[0]), damp, quantize)
            if progress:
                progress(f"reconstruct {n.name}: {result[n.name][0]:.4g} -> "
                         f"{result[n.name][1]:.4g}")
        env_s[n.outputs[0]] = run_node(n, [env_s[i] for i in n.inputs]).astype(np.float32)
        env_t[t.outputs[0]] = run_node(t, [env_t[i] for i in t.inputs]).astype(np.float32)
        if observe is not None:
            observe(t.outputs[0], env_t[t.outputs[0]])
        _free(env_s, n, last_s, idx, outs)
        _free(env_t, t, last_t, idx, outs)
    return result
