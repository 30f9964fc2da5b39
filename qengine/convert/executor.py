"""The float reference executor: runs the IR (ir.py) in numpy, NHWC, float32.

It is the teacher for calibration and for the report, so it can hand back any
intermediate tensor. Convolution and pooling loop over the kernel taps (kh * kw strided
views, each one matmul or multiply-add), which needs no im2col buffer. The conv and pool
helpers take a dtype and pad value so the integer simulation (simulate.py) reuses them
with float64 (exact for int8 products: every partial sum stays far below 2^53).
"""
import numpy as np


def _taps(xp, kh, kw, strides, dil, ho, wo):
    """Yield (i, j, view) for each kernel tap: view[n, y, x, c] = xp[n, y*s + i*d, ...]."""
    sh, sw = strides
    dh, dw = dil
    for i in range(kh):
        for j in range(kw):
            y0, x0 = i * dh, j * dw
            yield i, j, xp[:, y0:y0 + (ho - 1) * sh + 1:sh, x0:x0 + (wo - 1) * sw + 1:sw, :]


def pad_nhwc(x, pads, value, dtype=None):
    t, l, b, r = pads
    if not (t or l or b or r):
        return x if dtype is None else x.astype(dtype, copy=False)
    n, h, w, c = x.shape
    out = np.full((n, h + t + b, w + l + r, c), value, dtype=dtype or x.dtype)
    out[:, t:t + h, l:l + w, :] = x
    return out


def out_size(size, k, s, d, p0, p1):
    return (size + p0 + p1 - ((k - 1) * d + 1)) // s + 1


def conv2d(x, w, b, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), groups=1,
           pad_value=0.0, dtype=np.float32):
    """NHWC convolution; w is OHWI [O, kh, kw, C/groups]; b [O] or None."""
    o, kh, kw, cg = w.shape
    n, h, wd, c = x.shape
    ho = out_size(h, kh, strides[0], dilations[0], pads[0], pads[2])
    wo = out_size(wd, kw, strides[1], dilations[1], pads[1], pads[3])
    xp = pad_nhwc(x, pads, pad_value, dtype)
    w = w.astype(dtype, copy=False)
    out = np.zeros((n, ho, wo, o), dtype)
    if groups == 1:
        for i, j, v in _taps(xp, kh, kw, strides, dilations, ho, wo):
            out += v @ w[:, i, j, :].T
    elif cg == 1 and o == c:  # depthwise
        for i, j, v in _taps(xp, kh, kw, strides, dilations, ho, wo):
            out += v * w[:, i, j, 0]
    else:
        og = o // groups
        for i, j, v in _taps(xp, kh, kw, strides, dilations, ho, wo):
            vg = v.reshape(n, ho, wo, groups, cg)
            wg = w[:, i, j, :].reshape(groups, og, cg)
            out += np.einsum("nyxgc,goc->nyxgo", vg, wg).reshape(n, ho, wo, o)
    if b is not None:
        out += b.astype(dtype, copy=False)
    return out


def max_pool(x, kernel, strides, pads, fill=-np.inf):
    n, h, w, c = x.shape
    ho = out_size(h, kernel[0], strides[0], 1, pads[0], pads[2])
    wo = out_size(w, kernel[1], strides[1], 1, pads[1], pads[3])
    xp = pad_nhwc(x, pads, fill)
    out = None
    for _, _, v in _taps(xp, kernel[0], kernel[1], strides, (1, 1), ho, wo):
        out = v.copy() if out is None else np.maximum(out, v, out=out)
    return out


def pool_counts(shape, kernel, strides, pads, count_pads, count_include_pad):
    """Divisor of each average-pool window: the taps inside the input, plus those in the
    declared padding when count_include_pad (never the ceil_mode overhang)."""
    n, h, w, c = shape
    if count_include_pad:
        t, l, b, r = count_pads
        ones = np.zeros((1, h + pads[0] + pads[2], w + pads[1] + pads[3], 1))
        y0, x0 = pads[0] - t, pads[1] - l
        ones[:, y0:y0 + h + t + b, x0:x0 + w + l + r, :] = 1
        padded = ones
    else:
        padded = pad_nhwc(np.ones((1, h, w, 1)), pads, 0.0)
    ho = out_size(h, kernel[0], strides[0], 1, pads[0], pads[2])
    wo = out_size(w, kernel[1], strides[1], 1, pads[1], pads[3])
    cnt = 0
    for _, _, v in _taps(padded, kernel[0], kernel[1], strides, (1, 1), ho, wo):
        cnt = cnt + v
    return cnt


def avg_pool_sum(x, kernel, strides, pads, pad_value=0.0, dtype=np.float32):
    n, h, w, c = x.shape
    ho = out_size(h, kernel[0], strides[0], 1, pads[0], pads[2])
    wo = out_size(w, kernel[1], strides[1], 1, pads[1], pads[3])
    xp = pad_nhwc(x, pads, pad_value, dtype)
    out = np.zeros((n, ho, wo, c), dtype)
    for _, _, v in _taps(xp, kernel[0], kernel[1], strides, (1, 1), ho, wo):
        out += v
    return out


def _sigmoid(x):
    return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)


UNARY = {
    "relu": lambda x, a: np.maximum(x, 0),
    "clip": lambda x, a: np.clip(x, a["lo"], a["hi"]),
    "leaky_relu": lambda x, a: np.where(x >= 0, x, x * a["alpha"]),
    "sigmoid": lambda x, a: _sigmoid(x),
    "tanh": lambda x, a: np.tanh(x),
    "hard_sigmoid": lambda x, a: np.clip(x * a["alpha"] + a["beta"], 0, 1),
    "hard_swish": lambda x, a: x * np.clip(x / 6 + 0.5, 0, 1),
}


def softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _act(y, act):
    if act is None:
        return y
    return np.clip(y, act[0], act[1])


def run_node(node, ins, consts=None):
    """Output of one IR node on float32 inputs `ins` (list of arrays)."""
    a, p, x = node.attrs, node.params, ins[0]
    op = node.op
    if op == "conv2d":
        y = conv2d(x, p["weight"], p["bias"], a["strides"], a["pads"], a["dilations"], a["groups"])
        return _act(y, a.get("act"))
    if op == "dense":
        return _act(x @ p["weight"].T + p["bias"], a.get("act"))
    if op == "add":
        return _act(ins[0] + ins[1], a.get("act"))
    if op == "mul":
        return ins[0] * ins[1]
    if op in UNARY:
        return UNARY[op](x, a).astype(np.float32)
    if op == "softmax":
        return softmax(x, a["axis"])
    if op == "concat":
        return np.concatenate(ins, axis=a["axis"])
    if op == "max_pool":
        return max_pool(x, a["kernel"], a["strides"], a["pads"])
    if op == "avg_pool":
        cnt = pool_counts(x.shape, a["kernel"], a["strides"], a["pads"], a["count_pads"],
                          a["count_include_pad"])
        return avg_pool_sum(x, a["kernel"], a["strides"], a["pads"]) / cnt.astype(np.float32)
    if op == "global_avg_pool":
        return x.mean(axis=(1, 2), keepdims=a["keepdims"])
    if op == "reshape":
        return x.reshape((x.shape[0],) + tuple(a["shape"][1:]))
    if op == "transpose":
        return np.ascontiguousarray(x.transpose(a["perm"]))
    if op == "pad":
        return pad_nhwc(x, a["pads"], a["value"])
    if op == "batchnorm":
        return x * p["scale"] + p["shift"]
    if op == "identity":
        return x
    raise ValueError(f"float executor: unknown op {op!r} ({node.name})")


class FloatExecutor:
    """Runs a float IR Graph. `run(x)` takes an array (one-input models) or a dict
    {input name: array}, in the stored layout (NHWC for images; Graph.to_stored converts
    from ONNX layout), any batch size. Returns {tensor: array} for the graph outputs plus
    every tensor named in `keep` ("all" keeps every tensor)."""

    def __init__(self, graph):
        self.g = graph
        last_use = {}
        for idx, n in enumerate(graph.nodes):
            for i in n.inputs:
                last_use[i] = idx
        self._last = last_use

    def _feeds(self, x):
        g = self.g
        if not isinstance(x, dict):
            if len(g.inputs) != 1:
                raise ValueError(f"model has inputs {g.inputs}: pass a dict")
            x = {g.inputs[0]: x}
        env = {}
        for name in g.inputs:
            if name not in x:
                raise ValueError(f"missing input {name!r}")
            arr = np.asarray(x[name], np.float32)
            want = g.shapes[name][1:]
            if arr.shape[1:] != tuple(want):
                raise ValueError(f"input {name!r} has shape {arr.shape}, expected "
                                 f"[batch, {', '.join(map(str, want))}] (stored layout)")
            env[name] = arr
        return env

    def run(self, x, keep=(), on_tensor=None):
        """`on_tensor(name, array)`, if given, sees every graph input and node output
        as it is computed (calibration uses this instead of keeping everything)."""
        g = self.g
        env = self._feeds(x)
        if on_tensor is not None:
            for name in g.inputs:
                on_tensor(name, env[name])
        env.update(g.consts)
        keep_all = keep == "all"
        keep = set(g.outputs) | (set() if keep_all else set(keep))
        out = {k: env[k] for k in keep if k in env and k in g.inputs}
        for idx, n in enumerate(g.nodes):
            y = run_node(n, [env[i] for i in n.inputs])
            env[n.outputs[0]] = y.astype(np.float32, copy=False)
            if on_tensor is not None:
                on_tensor(n.outputs[0], env[n.outputs[0]])
            if keep_all or n.outputs[0] in keep:
                out[n.outputs[0]] = env[n.outputs[0]]
            for i in n.inputs:  # free what no later node reads
                if self._last.get(i) == idx and i not in g.consts and i not in keep and not keep_all:
                    env.pop(i, None)
        return out

    def __call__(self, x):
        out = self.run(x)
        ys = [out[o] for o in self.g.outputs]
        return ys[0] if len(ys) == 1 else ys
