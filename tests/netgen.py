"""Build small .qmodel graphs op by op with GraphBuilder, together with their numpy
reference (tests/reference.py, tests/reference_ops.py): Net().conv(...).add(...) keeps
the node and a function computing its output from the values before it."""
import numpy as np

from qengine.builder import GraphBuilder

import reference as R
import reference_ops as RO


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


class Net:
    def __init__(self, seed=0):
        self.g = GraphBuilder()
        self.rng = np.random.default_rng(seed)
        self.info = {}     # name -> (shape, scale, zero_point, dtype)
        self.steps = []    # (output name, fn(env) -> array)
        self.count = 0

    # ---- values ---------------------------------------------------------------------
    def _value(self, prefix, shape, scale=None, zp=None, dtype="int8"):
        self.count += 1
        name = f"{prefix}{self.count}"
        scale = float(self.rng.uniform(0.02, 0.2)) if scale is None else scale
        zp = int(self.rng.integers(-30, 30)) if zp is None else zp
        self.g.value(name, shape, scale, zp, dtype)
        self.info[name] = (tuple(shape), scale, zp, dtype)
        return name

    def input(self, shape, scale=None, zp=None):
        name = self._value("in", shape, scale, zp)
        self.g.inputs.append(name)
        return name

    def output(self, *names):
        for n in names:
            self.g.output(n)
        return self

    def shape(self, v):
        return self.info[v][0]

    def _node(self, op, inputs, out, fn, consts=None, **attrs):
        self.g.node(op, f"{op.lower()}{self.count}", inputs, [out], consts, **attrs)
        self.steps.append((out, fn))
        return out

    # ---- weighted ops -----------------------------------------------------------------
    def _requant(self, n, k):
        m0 = self.rng.integers(2**30, 2**31, size=n, dtype=np.int64).astype(np.int32)
        sh = np.full(n, 31 + int(np.ceil(np.log2(60 * 60 * np.sqrt(k) / 40))), np.int32)
        return m0, sh

    def conv(self, x, o, k, stride=1, padding=(0, 0, 0, 0), dilation=1, groups=1,
             clamp=None, scale=None, zp=None):
        n, h, w, c = self.shape(x)
        (kh, kw), stride, dilation = _pair(k), _pair(stride), _pair(dilation)
        zx = self.info[x][2]
        wt = self.rng.integers(-127, 128, size=(o, kh, kw, c // groups), dtype=np.int8)
        bias = self.rng.integers(-3000, 3000, size=o).astype(np.int64)
        bias = (bias - zx * wt.astype(np.int64).reshape(o, -1).sum(1)).astype(np.int32)
        m0, sh = self._requant(o, kh * kw * c // groups)
        oh = (h + padding[0] + padding[2] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
        ow = (w + padding[1] + padding[3] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
        y = self._value("conv", (n, oh, ow, o), scale, zp)
        zy = self.info[y][2]
        qmin, qmax = clamp or (-128, 127)

        def fn(env):
            return R.qconv2d(env[x], wt, bias, m0, sh, zy, stride, padding, dilation, groups,
                             zx, qmin, qmax)[0]
        return self._node("Conv2D", [x], y, fn,
                          dict(weight=wt, bias=bias, m0=m0, sh=sh), stride=list(stride),
                          padding=list(padding), dilation=list(dilation), groups=groups,
                          qmin=qmin, qmax=qmax)

    def fc(self, x, n_out, clamp=None):
        b, k = self.shape(x)
        zx = self.info[x][2]
        wt = self.rng.integers(-127, 128, size=(n_out, k), dtype=np.int8)
        bias = (self.rng.integers(-3000, 3000, size=n_out)
                - zx * wt.astype(np.int64).sum(1)).astype(np.int32)
        m0, sh = self._requant(n_out, k)
        y = self._value("fc", (b, n_out))
        zy = self.info[y][2]
        qmin, qmax = clamp or (-128, 127)
        return self._node("FullyConnected", [x], y,
                          lambda env: R.qgemm(env[x], wt, bias, m0, sh, zy, qmin, qmax)[0],
                          dict(weight=wt, bias=bias, m0=m0, sh=sh), qmin=qmin, qmax=qmax)

    # ---- pools --------------------------------------------------------------------------
    @staticmethod
    def _pool_shape(shape, kernel, stride, padding):
        n, h, w, c = shape
        (kh, kw), (sh, sw), (t, l, b, r) = kernel, stride, padding
        return n, (h + t + b - kh) // sh + 1, (w + l + r - kw) // sw + 1, c

    def maxpool(self, x, kernel, stride=1, padding=(0, 0, 0, 0), clamp=None):
        kernel, stride = _pair(kernel), _pair(stride)
        _, sx, zx, _ = self.info[x]
        y = self._value("maxpool", self._pool_shape(self.shape(x), kernel, stride, padding),
                        sx, zx)
        qmin, qmax = clamp or (-128, 127)
        return self._node("MaxPool2D", [x], y,
                          lambda env: RO.maxpool2d(env[x], kernel, stride, padding, qmin, qmax),
                          kernel=list(kernel), stride=list(stride), padding=list(padding),
                          qmin=qmin, qmax=qmax)

    def avgpool(self, x, kernel, stride=1, padding=(0, 0, 0, 0), count_include_pad=0,
                clamp=None):
        kernel, stride = _pair(kernel), _pair(stride)
        _, sx, zx, _ = self.info[x]
        y = self._value("avgpool", self._pool_shape(self.shape(x), kernel, stride, padding))
        _, sy, zy, _ = self.info[y]
        qmin, qmax = clamp or (-128, 127)
        return self._node("AvgPool2D", [x], y,
                          lambda env: RO.avgpool2d(env[x], kernel, stride, padding, sx, zx, sy,
                                                   zy, bool(count_include_pad), qmin, qmax),
                          kernel=list(kernel), stride=list(stride), padding=list(padding),
                          count_include_pad=count_include_pad, qmin=qmin, qmax=qmax)

    def gavgpool(self, x, clamp=None):
        n, h, w, c = self.shape(x)
        _, sx, zx, _ = self.info[x]
        y = self._value("gap", (n, 1, 1, c))
        _, sy, zy, _ = self.info[y]
        qmin, qmax = clamp or (-128, 127)
        return self._node("GlobalAvgPool", [x], y,
                          lambda env: RO.global_avgpool(env[x], sx, zx, sy, zy, qmin, qmax),
                          qmin=qmin, qmax=qmax)

    # ---- elementwise and friends ----------------------------------------------------------
    def add(self, a, b, clamp=None, op="Add", scale=None, zp=None):
        _, sa, za, _ = self.info[a]
        _, sb, zb, _ = self.info[b]
        shape = np.broadcast_shapes(self.shape(a), self.shape(b))
        y = self._value(op.lower(), shape, scale, zp)
        _, sy, zy, _ = self.info[y]
        qmin, qmax = clamp or (-128, 127)
        ref = RO.add if op == "Add" else RO.mul
        return self._node(op, [a, b], y,
                          lambda env: ref(env[a], env[b], sa, za, sb, zb, sy, zy, qmin, qmax),
                          qmin=qmin, qmax=qmax)

    def mul(self, a, b, clamp=None):
        return self.add(a, b, clamp, op="Mul")

    def concat(self, xs, scale=None, zp=None):
        lead = self.shape(xs[0])[:-1]
        y = self._value("concat", lead + (sum(self.shape(x)[-1] for x in xs),), scale, zp)
        _, sy, zy, _ = self.info[y]
        return self._node("Concat", list(xs), y, lambda env: RO.concat(
            [env[x] for x in xs], [self.info[x][1] for x in xs],
            [self.info[x][2] for x in xs], sy, zy))

    def lut(self, x, f="sigmoid"):
        from qengine import quant as Q
        _, sx, zx, _ = self.info[x]
        y = self._value("lut", self.shape(x))
        _, sy, zy, _ = self.info[y]
        table = Q.lut_table(f, sx, zx, sy, zy)
        return self._node("Lut", [x], y, lambda env: RO.lut(env[x], table),
                          dict(table=table))

    def requantize(self, x, clamp=None, scale=None, zp=None):
        _, sx, zx, _ = self.info[x]
        y = self._value("requant", self.shape(x), scale, zp)
        _, sy, zy, _ = self.info[y]
        qmin, qmax = clamp or (-128, 127)
        return self._node("Requantize", [x], y,
                          lambda env: RO.requantize_op(env[x], sx, zx, sy, zy, qmin, qmax),
                          qmin=qmin, qmax=qmax)

    def softmax(self, x, int8_out=False):
        sx = self.info[x][1]
        if int8_out:
            y = self._value("softmax", self.shape(x), 1 / 256, -128)
        else:
            y = self._value("softmax", self.shape(x), 1.0, 0, "float32")
        return self._node("Softmax", [x], y, lambda env: RO.softmax(env[x], sx, int8_out))

    def reshape(self, x, shape):
        _, sx, zx, dtype = self.info[x]
        y = self._value("reshape", shape, sx, zx, dtype)
        return self._node("Reshape", [x], y, lambda env: env[x].reshape(shape))

    # ---- running the reference ------------------------------------------------------------
    def random_inputs(self):
        return {v: self.rng.integers(-128, 128, size=self.info[v][0], dtype=np.int8)
                for v in self.g.inputs}

    def reference(self, feeds):
        env = dict(feeds)
        for out, fn in self.steps:
            env[out] = fn(env)
        return {v: env[v] for v in self.g.outputs}

    def save(self, path):
        if not self.g.outputs:
            self.g.output(self.steps[-1][0])
        return self.g.save(path)


def small_cnn(seed=0, batch=1):
    """A small CNN touching most ops: conv (3x3 padded, 1x1, depthwise), pools, add,
    concat, fc, softmax. Returns the Net (net.reference(feeds) is its reference)."""
    net = Net(seed)
    x = net.input((batch, 8, 8, 3))
    a = net.conv(x, 8, 3, padding=(1, 1, 1, 1), clamp=(-20, 127))
    b = net.conv(a, 8, 3, padding=(1, 1, 1, 1), groups=8)
    c = net.add(a, b)
    d = net.maxpool(c, 2, stride=2)
    e = net.conv(d, 6, 1)
    f = net.concat([d, e])
    g = net.avgpool(f, 2, stride=2)
    h = net.gavgpool(g)
    i = net.reshape(h, (batch, 14))
    j = net.fc(i, 10)
    net.softmax(j, int8_out=True)
    return net
