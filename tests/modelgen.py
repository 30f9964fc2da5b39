"""Small random quantized graphs for the runtime tests, each with a numpy reference."""
import numpy as np

from qengine.builder import GraphBuilder

import reference as R


def random_fc(rng, k, n, za):
    """A random FullyConnected layer: weights, bias with za folded in (eq. 3), m0, sh."""
    w = rng.integers(-127, 128, size=(n, k), dtype=np.int8)
    bias = rng.integers(-5000, 5000, size=n).astype(np.int64)
    bias = (bias - za * w.astype(np.int64).sum(axis=1)).astype(np.int32)
    m0 = rng.integers(2**30, 2**31, size=n, dtype=np.int64).astype(np.int32)
    sh = np.full(n, 31 + int(np.ceil(np.log2(60 * 60 * np.sqrt(k) / 40))), np.int32)
    return dict(weight=w, bias=bias, m0=m0, sh=sh)


def mlp(rng, sizes=(64, 48, 32, 10), batch=1, relu=True):
    """FC-ReLU-FC-ReLU-FC on a flattened [batch, 8, 8] input; returns (builder, reference)."""
    g = GraphBuilder()
    zp = [int(v) for v in rng.integers(-20, 20, size=len(sizes))]
    scales = [0.05 * (i + 1) for i in range(len(sizes))]
    g.input("x", (batch, sizes[0]), scales[0], zp[0])
    layers = []
    prev = "x"
    for i in range(1, len(sizes)):
        out = g.value(f"h{i}", (batch, sizes[i]), scales[i], zp[i])
        consts = random_fc(rng, sizes[i - 1], sizes[i], zp[i - 1])
        last = i == len(sizes) - 1
        qmin = -128 if (last or not relu) else zp[i]
        g.node("FullyConnected", f"fc{i}", [prev], [out], consts, qmin=qmin, qmax=127)
        layers.append((consts, zp[i], qmin))
        prev = out
    g.output(prev)

    def reference(xq):
        h = xq
        for c, z, qmin in layers:
            h = R.qgemm(h, c["weight"], c["bias"], c["m0"], c["sh"], z, qmin, 127)[0]
        return h

    return g, reference
