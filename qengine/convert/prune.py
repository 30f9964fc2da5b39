"""Pruning on the float IR, before quantization (DESIGN.md section 6, docs/CONVERTER.md
"Pruning").

    spec = parse_spec({"sparsity": 0.8, "method": "importance"})
    student, info = prune_graph(graph, batches, spec)   # graph (the teacher) is not changed

Methods (the weight matrix of a layer is W [O, K]: a dense layer's [N, K], a conv's OHWI
weight seen as [O, kh*kw*C]):
  magnitude   unstructured: the smallest |w| go, per layer (scope "layer") or below one
              threshold over all prunable layers (scope "global").
  importance  unstructured, the Wanda criterion: score(n, k) = |W[n, k]| * ||X[:, k]||_2,
              X the calibration activations entering the layer (im2col columns for a conv),
              compared within each output row (every row keeps the same count).
  block       (magnitude and importance) the unit removed: (1, 1) single weights, (1, 4)
              blocks of 4 consecutive K values of one output row (scored by the sum of
              their 4 scores) -- the unit of the 1x4 sparse kernels (docs/SPARSE.md), which
              run such layers 1.5-3x faster than unstructured ones at the same sparsity.
              "auto" (default): (1, 4) on 1x1 convolutions (the layers the runtime stores
              as 1x4 blocks), (1, 1) elsewhere.
  2:4         at most 2 nonzeros in every 4 consecutive weights along K (the importance
              score picks which 2); a last partial group of g < 4 keeps min(g, 2).
  channel     structured: whole output channels of a producer layer go, with the matching
              channels of every layer between it and the layers that read them (depthwise
              convs, ReLU-like tables, pools, reshapes that keep the channel axis) and the
              matching input channels of those readers. A producer whose channels reach an
              add, mul, concat, softmax or a graph output is left alone (a residual add
              needs both operands' channels to agree). The result is a smaller dense model.
              Channel score: the summed Wanda scores of the reader weights that would go.

Which layers are prunable is decided here, on the IR: conv2d with groups 1 and dense,
except the per-channel affine layers lower.py makes (attrs["affine"]). The first layer
that reads a graph input and the last one that writes a graph output are "sensitive":
`sensitive` = "cap" (default: at most `sensitive_cap` sparsity), "skip" or "prune".
Every layer's sparsity is capped at `max_layer_sparsity` so none is destroyed.
"""
import copy
from dataclasses import dataclass, field

import numpy as np

from qengine.convert.recover import tap_sums

METHODS = ("magnitude", "importance", "channel", "2:4")
DEFAULTS = {"sparsity": 0.5, "method": "magnitude", "scope": "layer", "layers": "all",
            "sensitive": "cap", "sensitive_cap": 0.5, "max_layer_sparsity": 0.95,
            "exclude": (), "block": "auto"}
BLOCKS = ((1, 1), (1, 4))
CHANNEL_OPS = ("relu", "clip", "leaky_relu", "sigmoid", "tanh", "hard_sigmoid", "hard_swish",
               "max_pool", "avg_pool", "global_avg_pool")


def parse_spec(prune):
    """Validated pruning settings (DEFAULTS filled in) from the `prune=` argument."""
    if not isinstance(prune, dict):
        raise ValueError(f"prune must be a dict such as {{'sparsity': 0.8, 'method': "
                         f"'magnitude'}}, got {prune!r}")
    unknown = set(prune) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"prune: unknown keys {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    s = dict(DEFAULTS, **prune)
    if s["method"] not in METHODS:
        raise ValueError(f"prune method {s['method']!r}: choose one of {', '.join(METHODS)}")
    for key in ("sparsity", "sensitive_cap", "max_layer_sparsity"):
        v = s[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1:
            raise ValueError(f"prune {key} must be a number in [0, 1), got {v!r}")
    choices = {"scope": ("layer", "global"), "layers": ("all", "pointwise"),
               "sensitive": ("cap", "skip", "prune")}
    for key, allowed in choices.items():
        if s[key] not in allowed:
            raise ValueError(f"prune {key}={s[key]!r}: choose one of {', '.join(allowed)}")
    s["exclude"] = tuple(s["exclude"])
    s["block"] = _parse_block(s["block"])
    if s["block"] != (1, 1) and s["block"] != "auto" and \
            s["method"] not in ("magnitude", "importance"):
        raise ValueError(f"prune block={s['block']!r} is for methods magnitude and importance, "
                         f"not {s['method']!r}")
    return s


def _parse_block(b):
    """"auto", (1, 1) or (1, 4) from "auto", "1x4", (1, 4), [1, 4], ..."""
    if b == "auto":
        return b
    if isinstance(b, str) and "x" in b:
        try:
            b = tuple(int(v) for v in b.split("x"))
        except ValueError:
            pass
    if isinstance(b, (tuple, list)) and tuple(b) in BLOCKS and \
            all(isinstance(v, int) and not isinstance(v, bool) for v in b):
        return tuple(b)
    raise ValueError(f"prune block={b!r}: choose 'auto', (1, 1) or (1, 4)")


def layer_block(node, spec):
    """The pruning unit (1, 1) or (1, 4) of a layer (spec["block"], "auto" resolved)."""
    if spec["block"] != "auto":
        return spec["block"]
    if spec["method"] in ("magnitude", "importance") and node.op == "conv2d" and \
            is_pointwise(node):
        return (1, 4)
    return (1, 1)


@dataclass
class PruneInfo:
    """What pruning did: masks {layer: bool [O, ...] weight mask, True = kept} for
    unstructured methods; keep {tensor: kept channel indices} for channel pruning;
    target {layer: sparsity asked}."""
    masks: dict = field(default_factory=dict)
    keep: dict = field(default_factory=dict)
    target: dict = field(default_factory=dict)


# ---- which layers ----

def is_depthwise(node):
    w = node.params.get("weight")
    return node.op == "conv2d" and w is not None and node.attrs["groups"] > 1 \
        and w.shape[3] == 1 and w.shape[0] == node.attrs["groups"]


def is_pointwise(node):
    """A layer the runtime can store sparse: dense, or a 1x1 stride-1 unpadded conv."""
    if node.op == "dense":
        return True
    a, w = node.attrs, node.params["weight"]
    return node.op == "conv2d" and a["groups"] == 1 and w.shape[1:3] == (1, 1) and \
        tuple(a["strides"]) == (1, 1) and not any(a["pads"])


def weight_layers(graph):
    """conv2d (groups 1) and dense layers that hold a real weight matrix."""
    return [n for n in graph.nodes if n.op in ("conv2d", "dense")
            and not n.attrs.get("affine") and (n.op == "dense" or n.attrs["groups"] == 1)]


def sensitive_layers(graph):
    """Names of the first layer reading a graph input and the last writing a graph output."""
    layers = weight_layers(graph)
    out = set()
    first = next((n for n in layers if any(i in graph.inputs for i in n.inputs)), None)
    last = next((n for n in reversed(layers) if n.outputs[0] in graph.outputs), None)
    for n in (first, last):
        if n is not None:
            out.add(n.name)
    return out


def layer_targets(graph, spec):
    """{layer: sparsity} for the unstructured methods (and the channel producers' cap)."""
    s, sens = spec["sparsity"], sensitive_layers(graph)
    targets = {}
    for n in weight_layers(graph):
        if n.name in spec["exclude"] or (spec["layers"] == "pointwise" and not is_pointwise(n)):
            continue
        t = s
        if n.name in sens:
            if spec["sensitive"] == "skip":
                continue
            if spec["sensitive"] == "cap":
                t = min(t, spec["sensitive_cap"])
        t = min(t, spec["max_layer_sparsity"])
        if t > 0:
            targets[n.name] = t
    return targets


# ---- activation statistics ----

def geometry(node):
    """(kernel, strides, pads, dilations) of a conv2d / dense node (dense: 1x1)."""
    if node.op == "dense":
        return (1, 1), (1, 1), (0, 0, 0, 0), (1, 1)
    a = node.attrs
    return node.params["weight"].shape[1:3], a["strides"], a["pads"], a["dilations"]


class ColumnNorms:
    """Sum over the calibration data of X[:, k]^2 for each weight layer's input columns
    (a conv's im2col columns, ordered like its OHWI weight): an on_tensor callback."""

    def __init__(self, graph, layers):
        self.by_input = {}
        for n in layers:
            self.by_input.setdefault(n.inputs[0], []).append(n)
        self.sq = {n.name: 0.0 for n in layers}

    def see(self, name, x):
        for n in self.by_input.get(name, ()):
            x2 = np.square(x.astype(np.float64))
            s, _ = tap_sums(x2.reshape(-1, x.shape[-1]) if n.op == "dense" else x2,
                            geometry(n), 0.0)
            self.sq[n.name] = self.sq[n.name] + s.reshape(-1)

    def norms(self, name):
        return np.sqrt(self.sq[name])


def wanda_scores(node, norms):
    """|W[n, k]| * ||X[:, k]||_2 as [O, K]."""
    w = node.params["weight"]
    return np.abs(w.reshape(w.shape[0], -1)).astype(np.float64) * norms[None, :]


# ---- unstructured masks ----

def _row_mask(scores, sparsity):
    """Keep the top (1 - sparsity) of every row."""
    o, k = scores.shape
    drop = int(np.floor(k * sparsity))
    mask = np.ones((o, k), bool)
    if drop:
        idx = np.argsort(scores, axis=1, kind="stable")[:, :drop]
        np.put_along_axis(mask, idx, False, axis=1)
    return mask


def _flat_mask(scores, sparsity):
    drop = int(np.floor(scores.size * sparsity))
    mask = np.ones(scores.size, bool)
    if drop:
        mask[np.argsort(scores, axis=None, kind="stable")[:drop]] = False
    return mask.reshape(scores.shape)


def block_scores(scores, width=4):
    """[O, K] element scores -> [O, ceil(K / width)] sums over blocks of `width` columns."""
    o, k = scores.shape
    kb = -(-k // width)
    padded = np.zeros((o, kb * width))
    padded[:, :k] = scores
    return padded.reshape(o, kb, width).sum(axis=2)


def expand_blocks(mask, k, width=4):
    """Block mask [O, ceil(K / width)] -> element mask [O, K]."""
    return np.repeat(mask, width, axis=1)[:, :k]


def nm_mask(scores, n=2, m=4):
    """At most n nonzeros in every m consecutive columns (the top-n scores of each group)."""
    o, k = scores.shape
    kp = -(-k // m) * m
    padded = np.full((o, kp), -np.inf)
    padded[:, :k] = scores
    groups = padded.reshape(o, kp // m, m)
    order = np.argsort(-groups, axis=2, kind="stable")
    mask = np.zeros(groups.shape, bool)
    np.put_along_axis(mask, order[:, :, :n], True, axis=2)
    return mask.reshape(o, kp)[:, :k]


def unstructured_masks(graph, spec, norms):
    """{layer: bool mask [O, K]} for magnitude / importance / 2:4."""
    method, targets = spec["method"], layer_targets(graph, spec)
    nodes = {n.name: n for n in graph.nodes}
    masks = {}
    if method == "2:4":
        sens = sensitive_layers(graph)
        for name in targets:
            if name in sens and spec["sensitive"] != "prune":
                continue
            masks[name] = nm_mask(wanda_scores(nodes[name], norms(name)))
        return masks
    blocked = {name: layer_block(nodes[name], spec) == (1, 4) for name in targets}

    def masked(name, scores, pick, t):
        """pick(scores, t) on single weights, or on 1x4 block sums expanded back."""
        if not blocked[name]:
            return pick(scores, t)
        return expand_blocks(pick(block_scores(scores), t), scores.shape[1])

    if method == "importance":
        return {name: masked(name, wanda_scores(nodes[name], norms(name)), _row_mask, t)
                for name, t in targets.items()}
    mags = {name: np.abs(nodes[name].params["weight"].reshape(
        nodes[name].params["weight"].shape[0], -1)) for name in targets}
    if spec["scope"] == "layer" or not mags:
        return {name: masked(name, m, _flat_mask, targets[name]) for name, m in mags.items()}
    # global: one threshold over every prunable layer's units (weights, or blocks by their
    # mean |w|), then each layer's own cap
    units = {name: block_scores(m) / block_scores(np.ones_like(m)) if blocked[name] else m
             for name, m in mags.items()}
    allw = np.concatenate([u.reshape(-1) for u in units.values()])
    thr = np.quantile(allw, spec["sparsity"]) if allw.size else 0.0
    for name, m in mags.items():
        s = min(float(np.mean(units[name] < thr)), targets[name])
        masks[name] = masked(name, m, _flat_mask, s)
    return masks


# ---- channel pruning ----

def _keeps_channel_axis(g, node):
    return node.op == "reshape" and g.shapes[node.outputs[0]][-1] == g.shapes[node.inputs[0]][-1]


def channel_groups(graph, spec):
    """[(producer, passthrough nodes, reader nodes, tensors)] for channel pruning: the
    channels of producer.outputs[0] flow through passthrough nodes (channel by channel)
    to the readers' input channels and nowhere else."""
    targets = layer_targets(graph, spec)
    groups = []
    for p in weight_layers(graph):
        if p.name not in targets:
            continue
        through, readers, tensors, ok = [], [], [p.outputs[0]], True
        stack = [p.outputs[0]]
        while stack and ok:
            t = stack.pop()
            if t in graph.outputs:
                ok = False
            for c in graph.consumers(t):
                if c.op in CHANNEL_OPS or is_depthwise(c) or _keeps_channel_axis(graph, c):
                    through.append(c)
                    tensors.append(c.outputs[0])
                    stack.append(c.outputs[0])
                elif c.op in ("conv2d", "dense") and not c.attrs.get("affine") and \
                        (c.op == "dense" or c.attrs["groups"] == 1):
                    readers.append(c)
                else:
                    ok = False
        if ok and readers:
            groups.append((p, through, readers, tensors))
    return groups


def channel_scores(readers, norms):
    """Per channel: the summed Wanda scores of the reader weights that read it."""
    total = 0.0
    for r in readers:
        w = r.params["weight"]
        s = wanda_scores(r, norms(r.name))                  # [O, kh*kw*C] or [N, K]
        c = w.shape[-1]
        total = total + s.reshape(s.shape[0], -1, c).sum(axis=(0, 1))
    return total


def prune_channels(student, spec, norms):
    """Shrink `student` in place; returns {tensor: kept channel indices}."""
    targets = layer_targets(student, spec)
    keep = {}
    plans = []
    for p, through, readers, tensors in channel_groups(student, spec):
        c = p.params["weight"].shape[0]
        n_keep = max(1, int(round(c * (1 - targets[p.name]))))
        score = channel_scores(readers, norms)
        idx = np.sort(np.argsort(-score, kind="stable")[:n_keep])
        plans.append((p, through, readers, tensors, idx))
    for p, through, readers, tensors, idx in plans:   # scores first, then edits
        for n in [p] + [t for t in through if is_depthwise(t)]:
            n.params["weight"] = np.ascontiguousarray(n.params["weight"][idx])
            if n.params.get("bias") is not None:
                n.params["bias"] = np.ascontiguousarray(n.params["bias"][idx])
            if n is not p:
                n.attrs["groups"] = len(idx)
        for r in readers:
            r.params["weight"] = np.ascontiguousarray(r.params["weight"][..., idx])
        for t in tensors:
            student.shapes[t] = tuple(student.shapes[t][:-1]) + (len(idx),)
            keep[t] = idx
        for t in through:
            if t.op == "reshape":
                t.attrs["shape"] = tuple(t.attrs["shape"][:-1]) + (len(idx),)
    return keep


# ---- the pass ----

def collect_norms(graph, batches, layers):
    from qengine.convert.executor import FloatExecutor
    cn = ColumnNorms(graph, layers)
    ex = FloatExecutor(graph)
    for feed in batches:
        ex.run(feed, on_tensor=cn.see)
    return cn


def prune_graph(graph, batches, spec):
    """A pruned copy of `graph` (the float teacher is untouched) and its PruneInfo."""
    student = copy.deepcopy(graph)
    info = PruneInfo(target=layer_targets(student, spec))
    needs_norms = spec["method"] != "magnitude"
    cn = collect_norms(student, batches, weight_layers(student)) if needs_norms else None
    norms = cn.norms if cn is not None else None
    if spec["method"] == "channel":
        info.keep = prune_channels(student, spec, norms)
        return student, info
    info.masks = unstructured_masks(student, spec, norms)
    nodes = {n.name: n for n in student.nodes}
    for name, mask in info.masks.items():
        w = nodes[name].params["weight"]
        nodes[name].params["weight"] = (w * mask.reshape(w.shape)).astype(np.float32)
        info.masks[name] = mask.reshape(w.shape)
    return student, info
