"""ONNX float model -> the converter's NHWC graph IR (qengine/convert/ir.py).

Steps: load, fix the batch to 1, fold constant (shape) subgraphs (onnx_fold.py), reject
every unsupported op at once, translate node by node while tracking each tensor's layout,
then run the canonicalisation passes (passes.py).

Layouts. ONNX image tensors are NCHW; the runtime's are NHWC. Each tensor has a layout:
  "plain"    stored exactly as in ONNX;
  "nhwc"     a 4-D ONNX NCHW tensor stored as NHWC;
  "flat"     an ONNX [N, C*H*W] flattening of an "nhwc" tensor, stored in H, W, C order
             (what flattening NHWC memory gives); the next dense layer's weight columns
             are permuted to match, so no data moves.
Converting between layouts is free (a reshape) when C == 1 or H * W == 1, else a
transpose node. A Transpose that only turns NHWC into NCHW or back (tf2onnx models)
becomes an alias.
"""
import numpy as np

from qengine.errors import ModelFormatError, UnsupportedOpError
from qengine.convert import onnx_fold as F
from qengine.convert.ir import Graph, Node
from qengine.convert import passes

SUPPORTED = {
    "Conv", "Gemm", "MatMul", "BatchNormalization", "Relu", "Clip", "LeakyRelu", "Sigmoid",
    "HardSigmoid", "HardSwish", "Tanh", "Add", "Sub", "Mul", "Div", "Concat", "MaxPool",
    "AveragePool", "GlobalAveragePool", "ReduceMean", "Flatten", "Reshape", "Squeeze",
    "Unsqueeze", "Transpose", "Pad", "Softmax", "Dropout", "Identity",
}
UNARY = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "HardSwish": "hard_swish"}


class _Unsupported(Exception):
    """A supported op type used in a way we cannot convert (collected, reported at once)."""


def import_onnx(model, canonicalize=True):
    """Read a float ONNX model (path, bytes or ModelProto) into a `Graph`.

    Raises `qengine.UnsupportedOpError` naming every op (type and node name) that cannot be
    converted. With `canonicalize`, runs passes.canonicalize (BN folding, Identity and
    Dropout removal, Pad folding, activation fusion)."""
    model = F.load(model)
    try:
        return _import(model, canonicalize)
    except (TypeError, KeyError, IndexError, AttributeError, UnicodeError) as exc:
        # a field of an unexpected type or arity (a corrupt or adversarial file) that no
        # specific check caught: still a clear ModelFormatError, never a stray TypeError
        raise ModelFormatError(f"malformed ONNX model: {type(exc).__name__}: {exc}") from exc


def _import(model, canonicalize):
    opset = F.opset_version(model)
    consts, nodes = F.graph_constants(model.graph)
    inputs = F.real_inputs(model.graph, consts)
    F.fix_batch(inputs)
    nodes = F.topo_sort(nodes, [vi.name for vi in inputs] + list(consts))
    nodes, consts, shapes = F.fold_constants(model, nodes, consts, inputs, opset)

    t = _Translator(opset, consts, shapes)
    g = t.run(model, inputs, nodes)
    if canonicalize:
        passes.canonicalize(g)
    return g


class _Translator:
    def __init__(self, opset, consts, shapes):
        self.opset, self.consts, self.oshape = opset, consts, shapes
        self.nodes, self.shapes, self.ir_consts = [], {}, {}
        self.name = {}    # ONNX tensor -> IR tensor
        self.layout = {}  # IR tensor -> "plain" | "nhwc" | ("flat", (C, H, W))
        self.cache = {}   # (IR tensor, wanted layout) -> converted IR tensor
        self.problems = []
        self.count = 0

    # ---- helpers ----
    def fresh(self, base):
        self.count += 1
        return f"{base}__{self.count}"

    def emit(self, op, inputs, outputs, shape, attrs=None, params=None, name=None):
        self.nodes.append(Node(op, name or outputs[0], list(inputs), list(outputs),
                               dict(attrs or {}), dict(params or {})))
        self.shapes[outputs[0]] = tuple(int(s) for s in shape)
        return outputs[0]

    def define(self, onnx_name, ir_name, layout):
        self.name[onnx_name] = ir_name
        self.layout[ir_name] = layout

    def shape_of(self, onnx_name):
        s = self.oshape.get(onnx_name)
        if s is None or any(d is None for d in s):
            raise _Unsupported(f"tensor {onnx_name!r} has no static shape")
        return tuple(int(d) for d in s)

    def const(self, onnx_name):
        return self.consts.get(onnx_name) if onnx_name else None

    def get(self, onnx_name, want=None):
        """The IR tensor for ONNX tensor `onnx_name`, converted to layout `want`."""
        if onnx_name in self.consts:
            raise _Unsupported(f"constant tensor {onnx_name!r} used as an activation")
        if onnx_name not in self.name:
            raise _Unsupported(f"input {onnx_name!r} comes from an unsupported node")
        ir = self.name[onnx_name]
        have = self.layout[ir]
        if want is None or have == want:
            return ir
        key = (ir, want)
        if key in self.cache:
            return self.cache[key]
        s = self.shapes[ir]
        if have == "nhwc" and want == "plain":
            n, h, w, c = s
            out_shape = (n, c, h, w)
            if c == 1 or h * w == 1:
                out = self.emit("reshape", [ir], [self.fresh(ir)], out_shape, {"shape": out_shape})
            else:
                out = self.emit("transpose", [ir], [self.fresh(ir)], out_shape, {"perm": (0, 3, 1, 2)})
        elif have == "plain" and want == "nhwc":
            if len(s) != 4:
                raise _Unsupported(f"tensor {onnx_name!r} of shape {s} used as an image")
            n, c, h, w = s
            out_shape = (n, h, w, c)
            if c == 1 or h * w == 1:
                out = self.emit("reshape", [ir], [self.fresh(ir)], out_shape, {"shape": out_shape})
            else:
                out = self.emit("transpose", [ir], [self.fresh(ir)], out_shape, {"perm": (0, 2, 3, 1)})
        elif isinstance(have, tuple) and want == "plain":
            c, h, w = have[1]
            n = s[0]
            a = self.emit("reshape", [ir], [self.fresh(ir)], (n, h, w, c), {"shape": (n, h, w, c)})
            b = self.emit("transpose", [a], [self.fresh(ir)], (n, c, h, w), {"perm": (0, 3, 1, 2)})
            out = self.emit("reshape", [b], [self.fresh(ir)], s, {"shape": s})
        else:
            out = self.get(onnx_name, "plain")
            if want != "plain":
                raise _Unsupported(f"cannot convert {onnx_name!r} to layout {want}")
        self.layout[out] = want
        self.cache[key] = out
        return out

    def const_like(self, value, partner_ir):
        """A constant operand rearranged to broadcast against `partner_ir`'s stored layout;
        returns the name of an IR constant."""
        v = np.asarray(value, np.float32)
        lay = self.layout[partner_ir]
        if lay == "nhwc" and v.ndim >= 1 and v.size > 1:
            v = v.reshape((1,) * (4 - v.ndim) + v.shape).transpose(0, 2, 3, 1)
        elif isinstance(lay, tuple) and v.size > 1 and v.shape[-1] != 1:
            c, h, w = lay[1]
            lead = v.shape[:-1]
            v = v.reshape(lead + (c, h, w))
            v = np.moveaxis(v, -3, -1).reshape(lead + (c * h * w,))
        name = self.fresh("const")
        self.ir_consts[name] = np.ascontiguousarray(v, np.float32)
        return name

    # ---- driver ----
    def run(self, model, inputs, nodes):
        consumers = {}
        for n in nodes:
            for i in n.input:
                consumers.setdefault(i, []).append(n)
        in_layouts = {}
        for vi in inputs:
            s = self.shape_of(vi.name)
            users = consumers.get(vi.name, [])
            to_nchw = users and all(
                u.op_type == "Transpose" and list(F.attrs_of(u).get("perm", [])) == [0, 3, 1, 2]
                for u in users)
            if len(s) == 4 and not to_nchw:
                self.shapes[vi.name] = (s[0], s[2], s[3], s[1])
                self.define(vi.name, vi.name, "nhwc")
            else:
                self.shapes[vi.name] = s
                self.define(vi.name, vi.name, "plain")
            in_layouts[vi.name] = self.layout[vi.name]
        poisoned = set()  # outputs of unsupported nodes: their consumers are not blamed
        for n in nodes:
            label = f"{n.op_type} ({n.name or n.output[0]})"
            if n.op_type not in SUPPORTED or n.domain not in ("", "ai.onnx"):
                self.problems.append(label if n.domain in ("", "ai.onnx")
                                     else f"{n.domain}.{label}")
                poisoned.update(n.output)
                continue
            if any(i in poisoned for i in n.input):
                poisoned.update(n.output)
                continue
            try:
                getattr(self, "op_" + n.op_type)(n, F.attrs_of(n))
            except _Unsupported as exc:
                self.problems.append(f"{label}: {exc}")
                poisoned.update(n.output)
        outputs, out_layouts = [], {}
        for vi in model.graph.output:
            if vi.name in poisoned:
                continue
            try:
                if vi.name in self.consts:
                    raise _Unsupported("graph output is a constant")
                ir = self.get(vi.name)
                if isinstance(self.layout[ir], tuple):
                    ir = self.get(vi.name, "plain")
            except _Unsupported as exc:
                self.problems.append(f"output {vi.name}: {exc}")
                continue
            outputs.append(ir)
            out_layouts[ir] = self.layout[ir]
        if self.problems:
            raise UnsupportedOpError(f"{len(self.problems)} unsupported op(s): "
                                     + "; ".join(self.problems))
        g = Graph(self.nodes, [vi.name for vi in inputs], outputs, self.shapes,
                  self.ir_consts, in_layouts, out_layouts,
                  producer=f"{model.producer_name} {model.producer_version}".strip())
        _rename_outputs(g, [vi.name for vi in model.graph.output])
        return g

    # ---- ops ----
    def op_Identity(self, n, a):
        x = self.get(n.input[0])
        out = self.emit("identity", [x], [n.output[0]], self.shapes[x])
        self.define(n.output[0], out, self.layout[x])

    def op_Dropout(self, n, a):
        if len(n.output) > 1 and n.output[1]:
            raise _Unsupported("Dropout mask output is used")
        self.op_Identity(n, a)

    def _unary(self, n, op, attrs=None):
        x = self.get(n.input[0])
        out = self.emit(op, [x], [n.output[0]], self.shapes[x], attrs)
        self.define(n.output[0], out, self.layout[x])

    def op_Relu(self, n, a):
        self._unary(n, "relu")

    op_Sigmoid = op_Tanh = op_HardSwish = lambda self, n, a: self._unary(n, UNARY[n.op_type])

    def op_LeakyRelu(self, n, a):
        self._unary(n, "leaky_relu", {"alpha": float(a.get("alpha", 0.01))})

    def op_HardSigmoid(self, n, a):
        self._unary(n, "hard_sigmoid", {"alpha": float(a.get("alpha", 0.2)),
                                        "beta": float(a.get("beta", 0.5))})

    def op_Clip(self, n, a):
        if self.opset < 11:
            lo, hi = a.get("min", -np.inf), a.get("max", np.inf)
        else:
            lo, hi = -np.inf, np.inf
            for idx, name in ((1, "min"), (2, "max")):
                if len(n.input) > idx and n.input[idx]:
                    v = self.const(n.input[idx])
                    if v is None:
                        raise _Unsupported(f"Clip {name} is not a constant")
                    if idx == 1:
                        lo = float(v)
                    else:
                        hi = float(v)
        self._unary(n, "clip", {"lo": float(lo), "hi": float(hi)})

    def op_Softmax(self, n, a):
        x = self.get(n.input[0])
        rank = len(self.shape_of(n.input[0]))
        axis = a.get("axis", 1 if self.opset < 13 else -1) % rank
        lay = self.layout[x]
        if self.opset < 13 and axis != rank - 1:
            raise _Unsupported("Softmax (opset < 13) over more than the last axis")
        if lay == "nhwc":
            stored_axis = {0: 0, 1: 3, 2: 1, 3: 2}[axis]
        elif isinstance(lay, tuple):
            stored_axis = 1  # a permutation of the last axis: softmax does not care
        else:
            stored_axis = axis
        self._unary(n, "softmax", {"axis": stored_axis})

    def _dense(self, n, x_onnx, weight, bias, act=None):
        x = self.get(x_onnx)
        lay = self.layout[x]
        if lay == "nhwc":
            x = self.get(x_onnx, "plain")
            lay = "plain"
        weight = np.asarray(weight, np.float32)
        if isinstance(lay, tuple):
            c, h, w = lay[1]
            weight = weight.reshape(-1, c, h, w).transpose(0, 2, 3, 1).reshape(weight.shape[0], -1)
        s = self.shapes[x]
        if s[-1] != weight.shape[1]:
            raise _Unsupported(f"input has {s[-1]} features, weights expect {weight.shape[1]}")
        out = self.emit("dense", [x], [n.output[0]], s[:-1] + (weight.shape[0],), {"act": act},
                        {"weight": np.ascontiguousarray(weight),
                         "bias": np.asarray(bias, np.float32).reshape(-1)})
        self.define(n.output[0], out, "plain")

    def op_Gemm(self, n, a):
        b = self.const(n.input[1])
        if b is None:
            raise _Unsupported("Gemm with non-constant B")
        if a.get("transA", 0):
            raise _Unsupported("Gemm with transA=1")
        w = (b if a.get("transB", 0) else b.T) * a.get("alpha", 1.0)
        nout = w.shape[0]
        bias = np.zeros(nout, np.float32)
        if len(n.input) > 2 and n.input[2]:
            c = self.const(n.input[2])
            if c is None:
                raise _Unsupported("Gemm with non-constant C")
            if c.size not in (1, nout):
                raise _Unsupported(f"Gemm C of shape {c.shape} is not per output")
            bias = np.broadcast_to(c.reshape(-1) * a.get("beta", 1.0), (nout,))
        self._dense(n, n.input[0], w, bias)

    def op_MatMul(self, n, a):
        b = self.const(n.input[1])
        if b is None or b.ndim != 2:
            raise _Unsupported("MatMul whose second input is not a constant 2-D matrix")
        self._dense(n, n.input[0], b.T, np.zeros(b.shape[1], np.float32))

    def op_Conv(self, n, a):
        w = self.const(n.input[1])
        if w is None:
            raise _Unsupported("Conv with non-constant weights")
        if w.ndim != 4:
            raise _Unsupported(f"only 2-D convolution is supported (weights {w.shape})")
        x = self.get(n.input[0], "nhwc")
        kh, kw = w.shape[2:]
        strides = tuple(a.get("strides", (1, 1)))
        dil = tuple(a.get("dilations", (1, 1)))
        pads = self._pads(a, self.shapes[x], (kh, kw), strides, dil)
        bias = np.zeros(w.shape[0], np.float32)
        if len(n.input) > 2 and n.input[2]:
            bias = self.const(n.input[2])
            if bias is None:
                raise _Unsupported("Conv with non-constant bias")
        groups = int(a.get("group", 1))
        if self.shapes[x][3] != w.shape[1] * groups:
            raise _Unsupported(f"input has {self.shapes[x][3]} channels, weights {w.shape}")
        oshape = self.shape_of(n.output[0])
        out = self.emit("conv2d", [x], [n.output[0]], (oshape[0], oshape[2], oshape[3], oshape[1]),
                        {"strides": strides, "pads": pads, "dilations": dil, "groups": groups,
                         "act": None},
                        {"weight": np.ascontiguousarray(w.transpose(0, 2, 3, 1), np.float32),
                         "bias": np.asarray(bias, np.float32)})
        self.define(n.output[0], out, "nhwc")

    def _pads(self, a, xs, k, strides, dil):
        """(top, left, bottom, right) from ONNX pads / auto_pad."""
        auto = a.get("auto_pad", "NOTSET")
        if auto in ("NOTSET", ""):
            p = list(a.get("pads", (0, 0, 0, 0)))
            if len(p) != 4:
                raise _Unsupported(f"pads {p} are not 2-D")
            return (p[0], p[1], p[2], p[3])
        if auto == "VALID":
            return (0, 0, 0, 0)
        out = []
        for size, kk, s, d in zip(xs[1:3], k, strides, dil):
            total = max((-(-size // s) - 1) * s + (kk - 1) * d + 1 - size, 0)
            small, big = total // 2, total - total // 2
            out.append((small, big) if auto == "SAME_UPPER" else (big, small))
        return (out[0][0], out[1][0], out[0][1], out[1][1])

    def op_BatchNormalization(self, n, a):
        if len(n.output) > 1 and any(n.output[1:]):
            raise _Unsupported("BatchNormalization in training mode")
        gamma, beta, mean, var = (self.const(i) for i in n.input[1:5])
        if any(v is None for v in (gamma, beta, mean, var)):
            raise _Unsupported("BatchNormalization with non-constant parameters")
        scale = gamma / np.sqrt(var + a.get("epsilon", 1e-5))
        shift = beta - mean * scale
        x = self.get(n.input[0])
        lay = self.layout[x]
        if isinstance(lay, tuple) or (lay == "plain" and len(self.shapes[x]) != 2):
            raise _Unsupported(f"BatchNormalization on a tensor of shape {self.shapes[x]}")
        out = self.emit("batchnorm", [x], [n.output[0]], self.shapes[x], {},
                        {"scale": scale.astype(np.float32), "shift": shift.astype(np.float32)})
        self.define(n.output[0], out, lay)

    def _binary(self, n, op):
        a_c, b_c = self.const(n.input[0]), self.const(n.input[1])
        if op in ("Sub", "Div") and b_c is None:
            raise _Unsupported(f"{op} with a non-constant second operand")
        if b_c is not None and op == "Sub":
            b_c, op = -b_c, "Add"
        if b_c is not None and op == "Div":
            b_c, op = 1.0 / b_c, "Mul"
        irop = {"Add": "add", "Mul": "mul"}.get(op)
        if irop is None:
            raise _Unsupported(f"{op} with a constant first operand")
        out_rank = len(self.shape_of(n.output[0]))
        if a_c is not None or b_c is not None:
            t_onnx, c = (n.input[1], a_c) if a_c is not None else (n.input[0], b_c)
            x = self.get(t_onnx)
            if len(self.shapes[x]) != out_rank:
                raise _Unsupported("constant operand broadcasts the activation to a higher rank")
            ins = [x, self.const_like(c, x)]
            lay = self.layout[x]
        else:
            xa, xb = self.get(n.input[0]), self.get(n.input[1])
            la, lb = self.layout[xa], self.layout[xb]
            if la != lb:
                want = "nhwc" if "nhwc" in (la, lb) and out_rank == 4 else "plain"
                xa, xb = self.get(n.input[0], want), self.get(n.input[1], want)
            if len(self.shapes[xa]) != len(self.shapes[xb]):
                raise _Unsupported("operands of different ranks")
            ins, lay = [xa, xb], self.layout[xa]
        shape = np.broadcast_shapes(*[self.shapes[i] if i in self.shapes
                                      else self.ir_consts[i].shape for i in ins])
        attrs = {"act": None} if irop == "add" else {}
        out = self.emit(irop, ins, [n.output[0]], shape, attrs)
        self.define(n.output[0], out, lay)

    op_Add = lambda self, n, a: self._binary(n, "Add")
    op_Sub = lambda self, n, a: self._binary(n, "Sub")
    op_Mul = lambda self, n, a: self._binary(n, "Mul")
    op_Div = lambda self, n, a: self._binary(n, "Div")

    def op_Concat(self, n, a):
        if any(i in self.consts for i in n.input):
            raise _Unsupported("Concat with a constant input")
        rank = len(self.shape_of(n.output[0]))
        axis = a["axis"] % rank
        lays = {self.layout[self.get(i)] for i in n.input}
        want = "nhwc" if lays == {"nhwc"} else "plain"
        ins = [self.get(i, want) for i in n.input]
        if want == "nhwc":
            axis = {0: 0, 1: 3, 2: 1, 3: 2}[axis]
        shape = list(self.shapes[ins[0]])
        shape[axis] = sum(self.shapes[i][axis] for i in ins)
        out = self.emit("concat", ins, [n.output[0]], shape, {"axis": axis})
        self.define(n.output[0], out, want)

    def _pool(self, n, a, op):
        if len(n.output) > 1 and n.output[1]:
            raise _Unsupported("MaxPool indices output is used")
        if any(d != 1 for d in a.get("dilations", (1, 1))):
            raise _Unsupported("pooling with dilation")
        k = tuple(a["kernel_shape"])
        if len(k) != 2:
            raise _Unsupported(f"only 2-D pooling (kernel {k})")
        x = self.get(n.input[0], "nhwc")
        strides = tuple(a.get("strides", (1, 1)))
        pads = self._pads(a, self.shapes[x], k, strides, (1, 1))
        oshape = self.shape_of(n.output[0])
        oshape = (oshape[0], oshape[2], oshape[3], oshape[1])
        # ceil_mode: extra rows/columns at the end, padded but never counted
        extra = [max((o - 1) * s + kk - (size + p0 + p1), 0) for o, s, kk, size, p0, p1 in
                 zip(oshape[1:3], strides, k, self.shapes[x][1:3], pads[:2], pads[2:])]
        attrs = {"kernel": k, "strides": strides,
                 "pads": (pads[0], pads[1], pads[2] + extra[0], pads[3] + extra[1])}
        if op == "avg_pool":
            attrs["count_include_pad"] = bool(a.get("count_include_pad", 0))
            attrs["count_pads"] = pads
        out = self.emit(op, [x], [n.output[0]], oshape, attrs)
        self.define(n.output[0], out, "nhwc")

    op_MaxPool = lambda self, n, a: self._pool(n, a, "max_pool")
    op_AveragePool = lambda self, n, a: self._pool(n, a, "avg_pool")

    def op_GlobalAveragePool(self, n, a):
        x = self.get(n.input[0], "nhwc")
        s = self.shapes[x]
        out = self.emit("global_avg_pool", [x], [n.output[0]], (s[0], 1, 1, s[3]), {"keepdims": True})
        self.define(n.output[0], out, "nhwc")

    def op_ReduceMean(self, n, a):
        axes = a.get("axes")
        if self.opset >= 18 and len(n.input) > 1 and n.input[1]:
            axes = self.const(n.input[1])
            if axes is None:
                raise _Unsupported("ReduceMean with non-constant axes")
        rank = len(self.shape_of(n.input[0]))
        if axes is None or rank != 4 or sorted(int(v) % 4 for v in axes) != [2, 3]:
            raise _Unsupported(f"ReduceMean over axes {axes} (only H, W of an image)")
        keep = bool(a.get("keepdims", 1))
        x = self.get(n.input[0], "nhwc")
        s = self.shapes[x]
        shape = (s[0], 1, 1, s[3]) if keep else (s[0], s[3])
        out = self.emit("global_avg_pool", [x], [n.output[0]], shape, {"keepdims": keep})
        self.define(n.output[0], out, "nhwc" if keep else "plain")

    def _reshape_to(self, n):
        """Flatten, Reshape, Squeeze, Unsqueeze: all are 'reshape to the inferred shape'."""
        target = self.shape_of(n.output[0])
        src = self.shape_of(n.input[0])
        x = self.get(n.input[0])
        lay = self.layout[x]
        if target == src:
            self.define(n.output[0], x, lay)
            return
        if lay == "nhwc":
            nb, c, h, w = src
            if c == 1 or h * w == 1:
                pass  # stored memory equals NCHW memory: a plain reshape
            elif len(target) == 2 and target == (nb, c * h * w):
                out = self.emit("reshape", [x], [n.output[0]], target, {"shape": target})
                self.define(n.output[0], out, ("flat", (c, h, w)))
                return
            else:
                x = self.get(n.input[0], "plain")
        elif isinstance(lay, tuple):
            x = self.get(n.input[0], "plain")
        out = self.emit("reshape", [x], [n.output[0]], target, {"shape": target})
        self.define(n.output[0], out, "plain")

    op_Flatten = op_Reshape = op_Squeeze = op_Unsqueeze = lambda self, n, a: self._reshape_to(n)

    def op_Transpose(self, n, a):
        x = self.get(n.input[0])
        rank = len(self.shape_of(n.input[0]))
        perm = tuple(a.get("perm", tuple(reversed(range(rank)))))
        lay = self.layout[x]
        if perm == tuple(range(rank)):
            self.define(n.output[0], x, lay)
        elif lay == "nhwc" and perm == (0, 2, 3, 1):
            self.define(n.output[0], x, "plain")   # NCHW -> NHWC: the stored data already is
        elif lay == "plain" and rank == 4 and perm == (0, 3, 1, 2):
            self.define(n.output[0], x, "nhwc")    # NHWC -> NCHW: store it as it is
        else:
            x = self.get(n.input[0], "plain")
            shape = tuple(self.shapes[x][p] for p in perm)
            out = self.emit("transpose", [x], [n.output[0]], shape, {"perm": perm})
            self.define(n.output[0], out, "plain")

    def op_Pad(self, n, a):
        mode = a.get("mode", "constant")
        if mode != "constant":
            raise _Unsupported(f"Pad mode {mode!r}")
        if self.opset < 11:
            pads, value = a.get("pads"), a.get("value", 0.0)
        else:
            pads = self.const(n.input[1])
            value = 0.0
            if len(n.input) > 2 and n.input[2]:
                v = self.const(n.input[2])
                if v is None:
                    raise _Unsupported("Pad value is not a constant")
                value = float(v)
            if len(n.input) > 3 and n.input[3]:
                raise _Unsupported("Pad with axes input")
        if pads is None:
            raise _Unsupported("Pad pads are not constant")
        pads = [int(p) for p in pads]
        if len(pads) != 8 or any(pads[i] for i in (0, 1, 4, 5)) or min(pads) < 0:
            raise _Unsupported(f"Pad {pads}: only non-negative padding of H and W of an image")
        x = self.get(n.input[0], "nhwc")
        s = self.shapes[x]
        t, l, b, r = pads[2], pads[3], pads[6], pads[7]
        out = self.emit("pad", [x], [n.output[0]], (s[0], s[1] + t + b, s[2] + l + r, s[3]),
                        {"pads": (t, l, b, r), "value": value})
        self.define(n.output[0], out, "nhwc")


def _rename_outputs(g, names):
    """Give graph outputs their ONNX names where an alias or conversion renamed them."""
    for i, (ir, want) in enumerate(zip(list(g.outputs), names)):
        if ir == want or want in g.shapes or ir in g.inputs:
            continue
        for node in g.nodes:
            node.inputs = [want if t == ir else t for t in node.inputs]
            node.outputs = [want if t == ir else t for t in node.outputs]
        g.shapes[want] = g.shapes.pop(ir)
        g.output_layouts[want] = g.output_layouts.pop(ir)
        g.outputs[i] = want
