"""ONNX-level preprocessing: load, fix the batch size, constant-fold shape subgraphs.

PyTorch and tf2onnx exports compute reshape targets at run time (Shape -> Gather ->
Unsqueeze -> Concat -> Reshape, with Casts). With the batch fixed to 1 every such chain is
a constant: `fold_constants` evaluates it in numpy, alternating with ONNX shape inference
(which tells the shape a Shape node reads) until nothing changes. `onnx` is imported
lazily: `import qengine` never needs it.
"""
import os

import numpy as np

from qengine.errors import ModelFormatError


def onnx_module():
    try:
        import onnx
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the converter needs the `onnx` package to read ONNX files: "
                          "pip install 'qengine[convert]' (or pip install onnx)") from exc
    return onnx


def load(model):
    """A ModelProto from a path, bytes, or a ModelProto (never modified in place)."""
    onnx = onnx_module()
    if isinstance(model, onnx.ModelProto):
        out = onnx.ModelProto()
        out.CopyFrom(model)
        return out
    try:
        if isinstance(model, (bytes, bytearray)):
            return onnx.load_from_string(bytes(model))
        return onnx.load(os.fspath(model))
    except (OSError, ValueError) as exc:
        raise
    except Exception as exc:  # protobuf's DecodeError and friends
        raise ModelFormatError(f"cannot read ONNX model {model!r}: {exc}") from exc


def opset_version(model):
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return imp.version
    return 1


def attrs_of(node):
    """A node's attributes as python values (tensors as numpy arrays)."""
    onnx = onnx_module()
    out = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        if isinstance(v, onnx.TensorProto):
            v = onnx.numpy_helper.to_array(v)
        elif isinstance(v, bytes):
            v = v.decode()
        out[a.name] = v
    return out


def topo_sort(nodes, available):
    """Kahn's algorithm over node inputs/outputs; `available` are graph inputs/consts."""
    ready = set(available) | {""}
    pending, order = list(nodes), []
    while pending:
        rest = []
        for n in pending:
            if all(i in ready for i in n.input):
                order.append(n)
                ready.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(pending):
            missing = sorted({i for n in rest for i in n.input if i not in ready}, key=str)
            raise ModelFormatError(f"ONNX graph has a cycle or undefined tensors: {missing[:10]}")
        pending = rest
    return order


def graph_constants(graph):
    """Initializers and Constant nodes as numpy arrays; the remaining nodes."""
    onnx = onnx_module()
    consts = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    nodes = []
    for n in graph.node:
        if n.op_type == "Constant" and n.domain in ("", "ai.onnx"):
            a = attrs_of(n)
            if "value" in a:
                v = np.asarray(a["value"])
            elif "value_float" in a or "value_floats" in a:
                v = np.asarray(a.get("value_float", a.get("value_floats")), np.float32)
            elif "value_int" in a or "value_ints" in a:
                v = np.asarray(a.get("value_int", a.get("value_ints")), np.int64)
            else:
                nodes.append(n)  # sparse/string constants: reported as unsupported later
                continue
            consts[n.output[0]] = v
        else:
            nodes.append(n)
    return consts, nodes


def real_inputs(graph, consts):
    return [vi for vi in graph.input if vi.name not in consts]


def fix_batch(inputs, batch=1):
    """Set every symbolic or zero dimension of the graph inputs to `batch` (in place)."""
    for vi in inputs:
        for d in vi.type.tensor_type.shape.dim:
            if not d.HasField("dim_value") or d.dim_value <= 0:
                d.Clear()
                d.dim_value = batch


def infer_shapes(model, nodes, consts, inputs):
    """Static shapes of every tensor ONNX shape inference can find (None where unknown).

    Small constants go in as initializers (their values matter to Reshape & co.), large
    ones as typed inputs (only their shapes matter), so this stays cheap on big models."""
    onnx = onnx_module()
    h = onnx.helper
    inits, extra = [], []
    for name, v in consts.items():
        if v.size <= 4096:
            inits.append(onnx.numpy_helper.from_array(np.asarray(v), name))
        else:
            extra.append(h.make_tensor_value_info(
                name, h.np_dtype_to_tensor_dtype(v.dtype), list(v.shape)))
    g = h.make_graph(nodes, "fold", list(inputs) + extra, list(model.graph.output),
                     initializer=inits)
    m = h.make_model(g, opset_imports=list(model.opset_import))
    try:
        m = onnx.shape_inference.infer_shapes(m, data_prop=True)
    except Exception:  # inference is best effort: missing shapes are reported later
        pass
    shapes = {}
    for vi in list(m.graph.input) + list(m.graph.value_info) + list(m.graph.output):
        t = vi.type.tensor_type
        if t.HasField("shape"):
            dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim)
            shapes[vi.name] = dims
    for name, v in consts.items():
        shapes[name] = tuple(v.shape)
    return shapes


def _static(shape):
    return shape is not None and all(isinstance(d, int) and d >= 0 for d in shape)


# ---- numpy evaluation of the ops that appear in shape subgraphs ----

def _axes(a, ins, idx, opset, since):
    if opset >= since and len(ins) > idx and ins[idx] is not None:
        return [int(v) for v in np.asarray(ins[idx]).ravel()]
    return list(a.get("axes", [])) or None


def _slice(x, starts, ends, axes, steps):
    axes = list(range(len(starts))) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    sl = [slice(None)] * x.ndim
    for s, e, ax, st in zip(starts, ends, axes, steps):
        dim = x.shape[ax]
        s = int(max(min(s, dim), -dim - 1)) if abs(s) < 2**62 else (dim if s > 0 else 0)
        e = int(max(min(e, dim), -dim - 1)) if abs(e) < 2**62 else (dim if e > 0 else -dim - 1)
        if e == -dim - 1:
            e = None
        sl[ax] = slice(s, e, int(st))
    return x[tuple(sl)]


def _reshape(x, shape, allowzero=0):
    shape = [int(s) for s in shape]
    if not allowzero:
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(shape)


def _binary(op, a, b):
    if op == "Div" and np.issubdtype(np.result_type(a, b), np.integer):
        return np.trunc(np.true_divide(a, b)).astype(np.result_type(a, b))
    return {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide,
            "Pow": np.power, "Equal": np.equal, "Less": np.less, "Greater": np.greater,
            "Min": np.minimum, "Max": np.maximum, "And": np.logical_and,
            "Or": np.logical_or, "Mod": np.mod}[op](a, b)


def evaluate(node, ins, opset):
    """Outputs of `node` on constant inputs `ins` (None for absent optional inputs), or
    None when this op is not one we fold."""
    onnx = onnx_module()
    op, a = node.op_type, attrs_of(node)
    x = ins[0] if ins else None
    if op in ("Identity", "Dropout"):
        return [x]
    if op == "Cast":
        return [x.astype(onnx.helper.tensor_dtype_to_np_dtype(a["to"]))]
    if op == "Gather":
        return [np.take(x, ins[1].astype(np.int64), axis=a.get("axis", 0))]
    if op == "Concat":
        return [np.concatenate([np.atleast_1d(i) for i in ins], axis=a["axis"])]
    if op == "Unsqueeze":
        axes = _axes(a, ins, 1, opset, 13)
        out_rank = x.ndim + len(axes)
        for ax in sorted(v % out_rank for v in axes):
            x = np.expand_dims(x, ax)
        return [x]
    if op == "Squeeze":
        axes = _axes(a, ins, 1, opset, 13)
        if axes is None:
            return [np.squeeze(x)]
        return [np.squeeze(x, axis=tuple(v % x.ndim for v in axes))]
    if op == "Slice":
        if opset >= 10:
            get = lambda i: None if len(ins) <= i or ins[i] is None else [int(v) for v in ins[i]]
            return [_slice(x, get(1), get(2), get(3), get(4))]
        return [_slice(x, a["starts"], a["ends"], a.get("axes"), None)]
    if op in ("Add", "Sub", "Mul", "Div", "Pow", "Equal", "Less", "Greater", "Min", "Max",
              "And", "Or", "Mod") and len(ins) == 2:
        return [np.asarray(_binary(op, ins[0], ins[1]))]
    if op in ("Neg", "Sqrt", "Floor", "Ceil", "Abs", "Not", "Reciprocal", "Exp", "Relu"):
        f = {"Neg": np.negative, "Sqrt": np.sqrt, "Floor": np.floor, "Ceil": np.ceil,
             "Abs": np.abs, "Not": np.logical_not, "Reciprocal": np.reciprocal,
             "Exp": np.exp, "Relu": lambda v: np.maximum(v, 0)}[op]
        return [np.asarray(f(x))]
    if op == "Where":
        return [np.where(ins[0], ins[1], ins[2])]
    if op == "Reshape":
        return [_reshape(x, ins[1], a.get("allowzero", 0))]
    if op == "Flatten":
        ax = a.get("axis", 1) % max(x.ndim, 1)
        return [x.reshape(int(np.prod(x.shape[:ax])), -1)]
    if op == "Transpose":
        return [np.transpose(x, a.get("perm"))]
    if op == "ConstantOfShape":
        v = np.asarray(a.get("value", np.zeros(1, np.float32))).ravel()
        return [np.full([int(s) for s in x], v[0], dtype=v.dtype)]
    if op == "Range":
        return [np.arange(ins[0], ins[1], ins[2]).astype(ins[0].dtype)]
    if op == "Expand":
        return [np.array(x * np.ones([int(s) for s in ins[1]], dtype=x.dtype))]
    if op == "Tile":
        return [np.tile(x, [int(r) for r in ins[1]])]
    if op == "Size":
        return [np.asarray(x.size, np.int64)]
    if op == "ReduceProd" and opset < 18:
        axes = a.get("axes")
        return [np.prod(x, axis=None if axes is None else tuple(axes),
                        keepdims=bool(a.get("keepdims", 1)))]
    if op == "Transpose":
        return [np.transpose(x, a.get("perm"))]
    return None


def fold_constants(model, nodes, consts, inputs, opset, max_rounds=8):
    """Evaluate every node whose inputs are all constants (and every Shape of a tensor
    with a static shape); repeat with fresh shape inference until nothing changes.
    Returns (remaining nodes, consts, shapes)."""
    for _ in range(max_rounds):
        shapes = infer_shapes(model, nodes, consts, inputs)
        kept, changed = [], False
        for n in nodes:
            if n.domain not in ("", "ai.onnx"):
                kept.append(n)
                continue
            outs = None
            if n.op_type == "Shape" and _static(shapes.get(n.input[0])):
                a = attrs_of(n)
                s = np.asarray(shapes[n.input[0]], np.int64)
                start, end = a.get("start", 0), a.get("end", len(s))
                outs = [s[start:end]]
            elif n.op_type == "Size" and _static(shapes.get(n.input[0])):
                outs = [np.asarray(int(np.prod(shapes[n.input[0]])), np.int64)]
            elif n.input and all(i == "" or i in consts for i in n.input):
                ins = [consts[i] if i else None for i in n.input]
                try:
                    outs = evaluate(n, ins, opset)
                except Exception:
                    outs = None
            if outs is None:
                kept.append(n)
                continue
            for name, v in zip(n.output, outs):
                consts[name] = np.asarray(v)
            changed = True
        nodes = kept
        if not changed:
            return nodes, consts, shapes
    return nodes, consts, infer_shapes(model, nodes, consts, inputs)
