"""Synthetic MobileNetV2-224 and ResNet-18 .qmodels: the real layer shapes with random
int8 weights and realistic quantization, for runtime benchmarks until converted models
are available.

    python -m benchmarks.synthetic OUTDIR     # writes mobilenet_v2.qmodel, resnet18.qmodel

Each layer is quantized the way a converter would: weights symmetric per output channel,
activations per tensor (input: ImageNet-normalized range; ReLU6 outputs scale 6/255 and
zero point -128; ReLU outputs zero point -128), bias with the input zero point folded in
(eq. 3), and per-channel (m0, sh) from M = s_in * s_w / s_out. The weight scales are
chosen so that M keeps the outputs spread over the int8 range for random inputs, so the
clamps and the requantization do real work. Batch 1, NHWC.
"""
import math
import sys
from pathlib import Path

import numpy as np

from qengine import quant as Q
from qengine.builder import GraphBuilder

RELU6_SCALE = 6.0 / 255.0


class Synth:
    def __init__(self, seed=0):
        self.g = GraphBuilder()
        self.rng = np.random.default_rng(seed)
        self.q = {}      # value -> (shape, scale, zero_point)
        self.n = 0

    def _value(self, prefix, shape, scale, zp):
        self.n += 1
        name = f"{prefix}_{self.n}"
        self.g.value(name, shape, scale, zp)
        self.q[name] = (tuple(shape), scale, zp)
        return name

    def input(self, shape, scale=1 / 58.0, zp=-14):
        name = self._value("input", shape, scale, zp)
        self.g.inputs.append(name)
        return name

    def _out_quant(self, act):
        if act == "relu6":
            return RELU6_SCALE, -128, -128, 127
        if act == "relu":
            return 0.04, -128, -128, 127
        return 0.08, int(self.rng.integers(-8, 8)), -128, 127

    def _weights(self, o, k, s_in, s_out):
        """int8 weights [o, k], bias, m0, sh: per-channel scales so that an input spread
        over ~25 levels gives outputs spread over ~25 levels (M = 1 / (sqrt(k) * 40))."""
        w = np.clip(np.round(self.rng.normal(0, 40, size=(o, k))), -127, 127).astype(np.int8)
        M = 1.0 / (math.sqrt(k) * 40.0) * self.rng.uniform(0.8, 1.25, size=o)
        s_w = M * s_out / s_in
        m0, sh = zip(*(Q.multiplier(s_in * sw / s_out) for sw in s_w))
        return w, np.array(m0, np.int32), np.array(sh, np.int32)

    def conv(self, x, o, k, stride=1, pad=None, groups=1, act=None):
        (n, h, w, c), s_in, z_in = self.q[x]
        pad = k // 2 if pad is None else pad
        oh = (h + 2 * pad - k) // stride + 1
        ow = (w + 2 * pad - k) // stride + 1
        s_out, z_out, qmin, qmax = self._out_quant(act)
        kk = k * k * c // groups
        wt, m0, sh = self._weights(o, kk, s_in, s_out)
        acc_std = math.sqrt(kk) * 40 * 25
        bias = np.round(self.rng.normal(0, 0.2 * acc_std, size=o)).astype(np.int64)
        bias = (bias - z_in * wt.astype(np.int64).sum(1)).astype(np.int32)
        y = self._value("conv", (n, oh, ow, o), s_out, z_out)
        self.g.node("Conv2D", f"conv{self.n}", [x], [y],
                    dict(weight=wt.reshape(o, k, k, c // groups), bias=bias, m0=m0, sh=sh),
                    stride=[stride, stride], padding=[pad] * 4, dilation=[1, 1],
                    groups=groups, qmin=qmin, qmax=qmax)
        return y

    def fc(self, x, o):
        (b, k), s_in, z_in = self.q[x]
        s_out, z_out, qmin, qmax = self._out_quant(None)
        wt, m0, sh = self._weights(o, k, s_in, s_out)
        bias = (np.round(self.rng.normal(0, 2000, size=o)).astype(np.int64)
                - z_in * wt.astype(np.int64).sum(1)).astype(np.int32)
        y = self._value("logits", (b, o), s_out, z_out)
        self.g.node("FullyConnected", f"fc{self.n}", [x], [y],
                    dict(weight=wt, bias=bias, m0=m0, sh=sh), qmin=qmin, qmax=qmax)
        return y

    def add(self, a, b, act=None):
        shape, sa, _ = self.q[a]
        sb = self.q[b][1]
        if act == "relu":
            s, z, qmin = 1.4 * max(sa, sb), -128, -128
        else:
            s, z, qmin = 1.4 * max(sa, sb), int(self.rng.integers(-8, 8)), -128
        y = self._value("add", shape, s, z)
        self.g.node("Add", f"add{self.n}", [a, b], [y], qmin=qmin, qmax=127)
        return y

    def maxpool(self, x, k, stride, pad):
        (n, h, w, c), s, z = self.q[x]
        oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
        y = self._value("maxpool", (n, oh, ow, c), s, z)
        self.g.node("MaxPool2D", f"maxpool{self.n}", [x], [y], kernel=[k, k],
                    stride=[stride, stride], padding=[pad] * 4)
        return y

    def head(self, x, classes=1000):
        """global average pool -> flatten -> fully connected logits."""
        (n, h, w, c), s, z = self.q[x]
        p = self._value("pool", (n, 1, 1, c), s, z)
        self.g.node("GlobalAvgPool", f"gap{self.n}", [x], [p])
        f = self._value("flat", (n, c), s, z)
        self.g.node("Reshape", f"flatten{self.n}", [p], [f])
        y = self.fc(f, classes)
        self.g.output(y)
        return y

    def save(self, path, name):
        return self.g.save(path, producer={"name": "benchmarks.synthetic", "version": name})


def mobilenet_v2(path, seed=0):
    """MobileNetV2 (width 1.0, 224x224): 52 convs, 10 residual adds, ReLU6, 3.5 M params."""
    s = Synth(seed)
    x = s.conv(s.input((1, 224, 224, 3)), 32, 3, stride=2, act="relu6")
    c = 32
    for t, c_out, n, stride in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                                (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
        for i in range(n):
            st = stride if i == 0 else 1
            h = s.conv(x, c * t, 1, act="relu6") if t != 1 else x
            h = s.conv(h, c * t, 3, stride=st, groups=c * t, act="relu6")
            h = s.conv(h, c_out, 1)
            x = s.add(x, h) if st == 1 and c == c_out else h
            c = c_out
    x = s.conv(x, 1280, 1, act="relu6")
    s.head(x)
    return s.save(path, "mobilenet_v2-224")


def resnet18(path, seed=0):
    """ResNet-18 (224x224): 7x7 stem, max pool, 8 basic blocks, 11.7 M params."""
    s = Synth(seed)
    x = s.conv(s.input((1, 224, 224, 3)), 64, 7, stride=2, pad=3, act="relu")
    x = s.maxpool(x, 3, 2, 1)
    c = 64
    for c_out, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
        for i in range(2):
            st = stride if i == 0 else 1
            h = s.conv(x, c_out, 3, stride=st, act="relu")
            h = s.conv(h, c_out, 3)
            short = s.conv(x, c_out, 1, stride=st, pad=0) if (st != 1 or c != c_out) else x
            x = s.add(h, short, act="relu")
            c = c_out
    s.head(x)
    return s.save(path, "resnet18-224")


MODELS = {"mobilenet_v2": mobilenet_v2, "resnet18": resnet18}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0] if argv else ".")
    out.mkdir(parents=True, exist_ok=True)
    for name, fn in MODELS.items():
        path = fn(out / f"{name}.qmodel")
        print(f"{path}: {Path(path).stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
