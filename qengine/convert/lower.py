"""Fit the canonical float IR to the version-1 operator table (docs/FORMAT.md), before
calibration, so that the teacher computes exactly the graph that will be written.

    n = lower_for_runtime(graph)     # rewrites in place; UnsupportedOpError lists the rest

Rewrites:
  add / mul with a constant operand that varies only along the last axis (a scalar, [C],
  [1, 1, 1, C], ...) -> a per-channel affine layer y = x * w + b: a depthwise 1x1
  conv2d on 4-D tensors, a diagonal dense layer on [B, K]. The table has no constant
  operands; this keeps the op exact (weights per channel: w = c for mul, 1 for add).
  transpose that only moves size-1 axes -> reshape (no data moves).
  pad with zero pads -> reshape.
Everything the table cannot express (a transpose that moves data, a standalone pad, a
softmax or concat not over the last axis, ...) is collected and raised at once as one
`qengine.UnsupportedOpError`, before any calibration work.
"""
import numpy as np

from qengine.convert.ir import Node
from qengine.errors import UnsupportedOpError

SUPPORTED = ("conv2d", "dense", "add", "mul", "relu", "clip", "leaky_relu", "sigmoid",
             "tanh", "hard_sigmoid", "hard_swish", "softmax", "concat", "max_pool",
             "avg_pool", "global_avg_pool", "reshape")


def _channel_const(g, name, shape):
    """The constant `name` as a per-channel vector [C] for a tensor of `shape`, or None
    if it varies along another axis."""
    c = np.asarray(g.consts[name], np.float32)
    if c.ndim > len(shape):
        return None
    lead = c.shape[:-1] if c.ndim else ()
    if any(d != 1 for d in lead):
        return None
    v = c.reshape(-1)
    if v.size not in (1, shape[-1]):
        return None
    return np.broadcast_to(v, (shape[-1],)).astype(np.float32)


def _affine_node(node, x, shape, w, b):
    """y = x * w + b per channel, as the op the table has for this rank."""
    c = shape[-1]
    if len(shape) == 4:
        return Node("conv2d", node.name, [x], list(node.outputs),
                    {"strides": (1, 1), "pads": (0, 0, 0, 0), "dilations": (1, 1),
                     "groups": c, "act": node.attrs.get("act"), "affine": True},
                    {"weight": w.reshape(c, 1, 1, 1).copy(), "bias": b})
    return Node("dense", node.name, [x], list(node.outputs),
                {"act": node.attrs.get("act"), "affine": True},
                {"weight": np.diag(w).astype(np.float32), "bias": b})


def lower_for_runtime(g):
    """Rewrite `g` in place (see the module docstring); returns the number of rewrites."""
    problems, count = [], 0
    for idx, n in enumerate(list(g.nodes)):
        where = f"{n.op} ({n.name})"
        shape = g.shapes.get(n.outputs[0])
        if n.op in ("add", "mul") and any(i in g.consts for i in n.inputs):
            acts = [i for i in n.inputs if i not in g.consts]
            const = next(i for i in n.inputs if i in g.consts)
            vec = _channel_const(g, const, shape) if len(acts) == 1 else None
            ok = vec is not None and g.shapes[acts[0]] == shape and len(shape) in (2, 4)
            if not ok:
                problems.append(f"{where}: a constant operand is supported only when it "
                                f"varies along the channel axis alone")
                continue
            if n.op == "mul":
                w, b = vec, np.zeros_like(vec)
            else:
                w, b = np.ones_like(vec), vec
            g.nodes[g.nodes.index(n)] = _affine_node(n, acts[0], shape, w, b)
            count += 1
        elif n.op == "transpose":
            src = g.shapes[n.inputs[0]]
            moved = [a for a in n.attrs["perm"] if src[a] != 1]
            if moved != sorted(moved):
                problems.append(f"{where}: Transpose {list(n.attrs['perm'])} moves data; "
                                f"the runtime has no transpose")
                continue
            n.op, n.attrs = "reshape", {"shape": tuple(shape)}
            count += 1
        elif n.op == "pad":
            if any(n.attrs["pads"]):
                problems.append(f"{where}: a Pad that cannot be folded into the next "
                                f"convolution (the runtime has no pad op)")
                continue
            n.op, n.attrs = "reshape", {"shape": tuple(shape)}
            count += 1
        elif n.op in ("softmax", "concat"):
            rank = len(shape)
            if n.attrs["axis"] not in (-1, rank - 1):
                problems.append(f"{where}: only over the last (channel) axis of the stored "
                                f"NHWC layout, got axis {n.attrs['axis']} of rank {rank}")
        elif n.op == "avg_pool":
            if n.attrs["count_include_pad"] and tuple(n.attrs["count_pads"]) != tuple(n.attrs["pads"]):
                problems.append(f"{where}: count_include_pad with ceil_mode overhang")
        elif n.op not in SUPPORTED:
            problems.append(f"{where}: no version-1 .qmodel operator for it")
    if problems:
        raise UnsupportedOpError("cannot write these nodes as .qmodel version-1 operators: "
                                 + "; ".join(problems))
    return count
