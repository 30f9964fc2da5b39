"""The converter's float graph IR: a few plain dataclasses, NHWC, topologically ordered.

Tensors are named strings. `Graph.shapes[name]` is the *stored* shape (the runtime's
layout: 4-D activations are NHWC, batch 1). Weights live in `Node.params` as float32
numpy arrays; constant operands of elementwise ops live in `Graph.consts`.

Ops (attributes in brackets; `act` is None or a float clamp `(lo, hi)`, with `inf` ends,
applied to the op's output - ReLU is `(0, inf)`, ReLU6 `(0, 6)`):

    conv2d      x NHWC -> NHWC. params weight [O, kh, kw, C/groups] (OHWI), bias [O];
                [strides (sh, sw), pads (top, left, bottom, right), dilations, groups, act]
    dense       x [..., K] -> [..., N]. params weight [N, K], bias [N]; [act]
    add, mul    two inputs (activations or names in Graph.consts), numpy broadcasting
                on the stored layout; add takes [act]
    relu, clip [lo, hi], leaky_relu [alpha], sigmoid, hard_sigmoid [alpha, beta],
    hard_swish, tanh                        elementwise
    softmax     [axis]
    concat      [axis] (stored axis)
    max_pool, avg_pool   NHWC; [kernel, strides, pads, count_include_pad (avg)]
    global_avg_pool      NHWC -> [N, 1, 1, C] if [keepdims] else [N, C]
    reshape     [shape] (stored shape, batch included)
    transpose   [perm] (on the stored layout; only where the ONNX model really moves data)
    pad         NHWC; [pads (top, left, bottom, right), value]
    batchnorm   params scale [C], shift [C] on the last axis (only before folding)
    identity    (only before canonicalisation)

`Graph.input_layouts` / `output_layouts` say how each graph input/output relates to the
ONNX model: "nhwc" means the ONNX tensor is NCHW and is stored transposed; "plain" means
stored as in ONNX. `to_stored` / `to_onnx` convert arrays between the two.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np


@dataclass
class Node:
    """One operation: `op` reads tensors `inputs` and writes `outputs`."""
    op: str
    name: str
    inputs: List[str]
    outputs: List[str]
    attrs: dict = field(default_factory=dict)
    params: Dict[str, np.ndarray] = field(default_factory=dict)

    def __repr__(self):
        attrs = {k: v for k, v in self.attrs.items() if v is not None}
        return f"{self.op}({', '.join(self.inputs)} -> {', '.join(self.outputs)}; {attrs})"


@dataclass
class Graph:
    """Nodes in topological order; shapes of every activation tensor (stored layout)."""
    nodes: List[Node]
    inputs: List[str]
    outputs: List[str]
    shapes: Dict[str, Tuple[int, ...]]
    consts: Dict[str, np.ndarray] = field(default_factory=dict)
    input_layouts: Dict[str, str] = field(default_factory=dict)
    output_layouts: Dict[str, str] = field(default_factory=dict)
    producer: str = ""

    def consumers(self, tensor):
        """Nodes that read `tensor`."""
        return [n for n in self.nodes if tensor in n.inputs]

    def producer_of(self, tensor) -> Optional[Node]:
        for n in self.nodes:
            if tensor in n.outputs:
                return n
        return None

    def to_stored(self, name, x):
        """An ONNX-layout array for graph input/output `name` -> the stored layout."""
        layout = self.input_layouts.get(name) or self.output_layouts.get(name, "plain")
        x = np.asarray(x, dtype=np.float32)
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if layout == "nhwc" else x

    def to_onnx(self, name, x):
        """A stored-layout array for graph input/output `name` -> the ONNX layout."""
        layout = self.output_layouts.get(name) or self.input_layouts.get(name, "plain")
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if layout == "nhwc" else x

    def summary(self):
        """One line per node: op, inputs, outputs, output shape."""
        lines = [f"inputs: {[(i, self.shapes[i]) for i in self.inputs]}"]
        for n in self.nodes:
            lines.append(f"{n.name:<32} {n!r}  {self.shapes.get(n.outputs[0])}")
        lines.append(f"outputs: {self.outputs}")
        return "\n".join(lines)
