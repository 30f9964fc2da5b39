"""Canonicalisation passes on the float IR, each a small function that edits a Graph in
place and returns how many rewrites it made. `canonicalize` runs them in order.

(Constant folding of shape subgraphs happens earlier, on the ONNX graph: onnx_fold.py.)
"""
import numpy as np

from qengine.convert.ir import Node


def _single_consumer(g, tensor):
    """The one node reading `tensor`, or None if several read it or it is a graph output."""
    users = g.consumers(tensor)
    if len(users) != 1 or tensor in g.outputs:
        return None
    return users[0]


def _replace_uses(g, old, new):
    for n in g.nodes:
        n.inputs = [new if t == old else t for t in n.inputs]
    g.outputs = [new if t == old else t for t in g.outputs]


def _bypass(g, node):
    """Remove a one-input node whose output equals its input."""
    src, dst = node.inputs[0], node.outputs[0]
    prod = g.producer_of(src)
    if dst in g.outputs and prod is not None and _single_consumer_any(g, src) and src not in g.outputs:
        # keep the output's name: the producer writes it directly
        prod.outputs = [dst if t == src else t for t in prod.outputs]
        g.shapes.pop(src, None)
    else:
        _replace_uses(g, dst, src)
        if dst in g.output_layouts:
            g.output_layouts[src] = g.output_layouts.pop(dst)
        g.shapes.pop(dst, None)
    g.nodes.remove(node)


def _single_consumer_any(g, tensor):
    return len(g.consumers(tensor)) == 1


def drop_identity(g):
    """Identity and Dropout (imported as identity) are removed."""
    count = 0
    for node in [n for n in g.nodes if n.op == "identity"]:
        if node.inputs[0] in g.inputs and node.outputs[0] in g.outputs:
            continue  # a model that only copies its input keeps the copy
        _bypass(g, node)
        count += 1
    return count


def simplify_reshapes(g):
    """reshape(reshape(x)) -> reshape(x); a reshape to the same shape is dropped."""
    count = 0
    for node in [n for n in g.nodes if n.op == "reshape"]:
        src = node.inputs[0]
        prod = g.producer_of(src)
        if prod is not None and prod.op == "reshape" and _single_consumer(g, src) is node:
            node.inputs = [prod.inputs[0]]
            g.nodes.remove(prod)
            g.shapes.pop(src, None)
            count += 1
        if g.shapes.get(node.inputs[0]) == tuple(node.attrs["shape"]) and node.inputs[0] not in g.inputs:
            _bypass(g, node)
            count += 1
    return count


def fold_batchnorm(g):
    """batchnorm after conv2d/dense (its only consumer) is folded into the weights:
    W'[o] = W[o] * scale[o], b' = b * scale + shift. Any other batchnorm becomes a
    depthwise 1x1 conv2d (4-D) or a diagonal dense (2-D), which quantize like any layer."""
    count = 0
    for bn in [n for n in g.nodes if n.op == "batchnorm"]:
        scale, shift = bn.params["scale"], bn.params["shift"]
        prod = g.producer_of(bn.inputs[0])
        if (prod is not None and prod.op in ("conv2d", "dense") and prod.attrs.get("act") is None
                and _single_consumer(g, bn.inputs[0]) is bn):
            w = prod.params["weight"]
            prod.params["weight"] = (w * scale.reshape((-1,) + (1,) * (w.ndim - 1))).astype(np.float32)
            prod.params["bias"] = (prod.params["bias"] * scale + shift).astype(np.float32)
            _bypass(g, bn)
        elif len(g.shapes[bn.inputs[0]]) == 4:
            c = scale.size
            bn.op, bn.attrs = "conv2d", {"strides": (1, 1), "pads": (0, 0, 0, 0),
                                         "dilations": (1, 1), "groups": c, "act": None}
            bn.params = {"weight": scale.reshape(c, 1, 1, 1).astype(np.float32), "bias": shift}
        else:
            bn.op, bn.attrs = "dense", {"act": None}
            bn.params = {"weight": np.diag(scale).astype(np.float32), "bias": shift}
        count += 1
    return count


def fold_pad(g):
    """pad followed by its only consumer conv2d (pad value 0), avg_pool counting padding
    (value 0) or max_pool (value -inf) moves into that consumer's padding."""
    count = 0
    for pad in [n for n in g.nodes if n.op == "pad"]:
        user = _single_consumer(g, pad.outputs[0])
        v = pad.attrs["value"]
        ok = user is not None and (
            (user.op == "conv2d" and v == 0.0)
            or (user.op == "avg_pool" and user.attrs["count_include_pad"] and v == 0.0)
            or (user.op == "max_pool" and v == -np.inf))
        if not ok:
            continue
        p = pad.attrs["pads"]
        user.attrs["pads"] = tuple(a + b for a, b in zip(user.attrs["pads"], p))
        if user.op == "avg_pool":
            user.attrs["count_pads"] = tuple(a + b for a, b in zip(user.attrs["count_pads"], p))
        user.inputs = [pad.inputs[0]]
        g.shapes.pop(pad.outputs[0], None)
        g.nodes.remove(pad)
        count += 1
    return count


def fold_bias_add(g):
    """dense/conv2d followed by add of a per-output-channel constant (MatMul + Add)
    takes the constant into its bias."""
    count = 0
    for add in [n for n in g.nodes if n.op == "add"]:
        const = [i for i in add.inputs if i in g.consts]
        if len(const) != 1 or add.attrs.get("act") is not None:
            continue
        x = [i for i in add.inputs if i not in g.consts][0]
        prod = g.producer_of(x)
        if prod is None or prod.op not in ("dense", "conv2d") or prod.attrs.get("act") is not None \
                or _single_consumer(g, x) is not add:
            continue
        c = g.consts[const[0]]
        n_out = prod.params["bias"].size
        if c.size not in (1, n_out) or (c.size == n_out and c.shape[-1] != n_out):
            continue
        prod.params["bias"] = (prod.params["bias"] + c.reshape(-1)).astype(np.float32)
        add.inputs = [x]
        _bypass(g, add)
        count += 1
    return count


def _clamp_of(node):
    if node.op == "relu":
        return (0.0, np.inf)
    if node.op == "clip":
        return (node.attrs["lo"], node.attrs["hi"])
    return None


def fuse_activation(g):
    """conv2d/dense/add followed by relu/clip (its only consumer): the clamp becomes the
    producer's `act` attribute (later the quantized qmin/qmax)."""
    count = 0
    for node in [n for n in g.nodes if n.op in ("relu", "clip")]:
        prod = g.producer_of(node.inputs[0])
        if prod is None or prod.op not in ("conv2d", "dense", "add") \
                or _single_consumer(g, node.inputs[0]) is not node:
            continue
        lo, hi = _clamp_of(node)
        old = prod.attrs.get("act") or (-np.inf, np.inf)
        prod.attrs["act"] = (max(lo, old[0]), min(hi, old[1]))
        _bypass(g, node)
        count += 1
    return count


def remove_dead(g):
    """Drop nodes whose outputs nobody reads, and unused constants."""
    count, changed = 0, True
    while changed:
        changed = False
        used = set(g.outputs) | {i for n in g.nodes for i in n.inputs}
        for n in list(g.nodes):
            if not any(o in used for o in n.outputs):
                g.nodes.remove(n)
                for o in n.outputs:
                    g.shapes.pop(o, None)
                count += 1
                changed = True
    used = {i for n in g.nodes for i in n.inputs}
    for name in [c for c in g.consts if c not in used]:
        del g.consts[name]
    return count


PASSES = [drop_identity, simplify_reshapes, fold_batchnorm, fold_pad, fold_bias_add,
          fuse_activation, remove_dead]


def canonicalize(g):
    """Run every pass until none rewrites anything; returns {pass name: rewrites}."""
    stats = {}
    for _ in range(4):
        total = 0
        for p in PASSES:
            k = p(g)
            stats[p.__name__] = stats.get(p.__name__, 0) + k
            total += k
        if not total:
            break
    return stats


__all__ = ["canonicalize", "Node"] + [p.__name__ for p in PASSES]
