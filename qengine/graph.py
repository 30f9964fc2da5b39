"""The graph of a .qmodel file, checked completely before anything runs (docs/FORMAT.md,
"Validation"). Generic checks live here; each op's own checks live in qengine.ops."""
import math
from dataclasses import dataclass, field

import numpy as np

from qengine import format as F
from qengine.errors import ModelFormatError

# one activation may not exceed this: C offsets and sizes stay far from any overflow
MAX_VALUE_BYTES = 2**31 - 1
DTYPE_RANGE = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767),
               "uint16": (0, 65535), "int32": (-2**31, 2**31 - 1), "float32": None}


@dataclass(frozen=True)
class TensorInfo:
    """A graph input or output: name, shape, dtype, and its quantization."""
    name: str
    shape: tuple
    dtype: str
    scale: float
    zero_point: int

    @property
    def size(self):
        return math.prod(self.shape)


@dataclass
class Node:
    name: str
    op: str
    inputs: list
    outputs: list
    constants: dict           # role -> read-only ndarray
    attrs: dict
    spec: object = field(default=None, repr=False)


@dataclass
class Graph:
    inputs: list              # names
    outputs: list
    values: dict              # name -> TensorInfo
    nodes: list
    header: dict


def _fail(msg):
    raise ModelFormatError(msg)


def _str_list(where, v):
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        _fail(f"{where} must be a list of names, got {v!r}")
    return v


def _value(name, v):
    where = f"value {name!r}"
    if not isinstance(v, dict):
        _fail(f"{where} must be an object")
    dtype = v.get("dtype")
    if not isinstance(dtype, str) or dtype not in DTYPE_RANGE:
        _fail(f"{where}: unknown dtype {dtype!r}")
    shape = F._check_shape(where, v.get("shape"))
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    if nbytes > MAX_VALUE_BYTES:
        _fail(f"{where}: shape {list(shape)} of {dtype} is {nbytes} bytes, more than the "
              f"{MAX_VALUE_BYTES} bytes one activation may have")
    scale = v.get("scale", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) \
            or not math.isfinite(scale) or not 1e-30 <= scale <= 1e30:
        # the runtime needs scale and 1/scale as normal float32 (eq. 17, 18)
        _fail(f"{where}: scale must be a finite number > 0 (within [1e-30, 1e30]), "
              f"got {scale!r}")
    rng = DTYPE_RANGE[dtype] or (0, 0)
    zp = F._check_int(f"{where} zero_point", v.get("zero_point", 0), *rng)
    if dtype == "int16" and zp != 0:  # format 1.1: int16 activations are symmetric
        _fail(f"{where}: an int16 value must have zero point 0, got {zp}")
    return TensorInfo(name, shape, dtype, float(scale), zp)


def parse(qfile):
    """Build and check the Graph of a QModelFile (qengine.format.read)."""
    from qengine.ops import SPECS

    h = qfile.header
    values_raw = h.get("values")
    if not isinstance(values_raw, dict):
        _fail("header field 'values' must be an object")
    values = {name: _value(name, v) for name, v in values_raw.items()}
    inputs = _str_list("header field 'inputs'", h.get("inputs"))
    outputs = _str_list("header field 'outputs'", h.get("outputs"))
    if not inputs or not outputs:
        _fail("the graph needs at least one input and one output")
    nodes_raw = h.get("nodes")
    if not isinstance(nodes_raw, list):
        _fail("header field 'nodes' must be a list")

    produced = {}
    for name in inputs:
        if name not in values:
            _fail(f"graph input {name!r} is not described in 'values'")
        if name in produced:
            _fail(f"graph input {name!r} is listed twice")
        produced[name] = "<graph input>"
    nodes = []
    for i, n in enumerate(nodes_raw):
        if not isinstance(n, dict):
            _fail(f"node #{i} must be an object")
        name = n.get("name", f"#{i}")
        if not isinstance(name, str):
            _fail(f"node #{i}: name must be a string")
        where = f"node {name!r}"
        op = n.get("op")
        if not isinstance(op, str) or op not in SPECS:
            _fail(f"{where}: unknown op {op!r} (this qengine knows {sorted(SPECS)})")
        ins = _str_list(f"{where} inputs", n.get("inputs"))
        outs = _str_list(f"{where} outputs", n.get("outputs"))
        for v in ins:
            if v not in values:
                _fail(f"{where}: input {v!r} is not described in 'values'")
            if v not in produced:
                _fail(f"{where}: input {v!r} is not produced by an earlier node (nodes "
                      f"must be in topological order; a cycle is an error)")
        for v in outs:
            if v not in values:
                _fail(f"{where}: output {v!r} is not described in 'values'")
            if v in produced:
                _fail(f"{where}: output {v!r} is already produced by {produced[v]}")
            produced[v] = where
        consts_raw = n.get("constants", {})
        if not isinstance(consts_raw, dict) or not all(
                isinstance(c, str) for c in consts_raw.values()):
            _fail(f"{where}: 'constants' must map roles to constant names")
        consts = {}
        for role, cname in consts_raw.items():
            if cname not in qfile.constants:
                _fail(f"{where}: constant {cname!r} ({role}) is not in the file")
            consts[role] = qfile.constants[cname]
        attrs = n.get("attrs", {})
        if not isinstance(attrs, dict):
            _fail(f"{where}: 'attrs' must be an object")
        node = Node(name, op, ins, outs, consts, attrs, SPECS[op])
        node.spec.check(node, [values[v] for v in ins], [values[v] for v in outs])
        nodes.append(node)
    for v in outputs:
        if v not in produced:
            _fail(f"graph output {v!r} is never produced")
        if values[v].dtype not in ("int8", "int16", "float32"):
            _fail(f"graph output {v!r} must be int8, int16 or float32, got "
                  f"{values[v].dtype}")
    for v in inputs:
        if values[v].dtype not in ("int8", "int16"):
            _fail(f"graph input {v!r} must be int8 or int16, got {values[v].dtype}")
    return Graph(inputs, outputs, values, nodes, h)


# ---- small checks shared by the op specs ---------------------------------------------

def need_attr_int(node, key, lo, hi, default=None):
    v = node.attrs.get(key, default)
    return F._check_int(f"node {node.name!r} attribute {key!r}", v, lo, hi)


def need_attr_ints(node, key, count, lo, hi, default=None):
    v = node.attrs.get(key, default)
    if not isinstance(v, list) or len(v) != count:
        _fail(f"node {node.name!r} attribute {key!r} must be a list of {count} integers, "
              f"got {v!r}")
    return [F._check_int(f"node {node.name!r} attribute {key!r}", x, lo, hi) for x in v]


def need_const(node, role, dtype, shape=None, lo=None, hi=None):
    if role not in node.constants:
        _fail(f"node {node.name!r} ({node.op}) needs a constant {role!r}")
    arr = node.constants[role]
    if arr.dtype != np.dtype(dtype):
        _fail(f"node {node.name!r}: constant {role!r} must be {dtype}, got {arr.dtype}")
    if shape is not None and tuple(arr.shape) != tuple(shape):
        _fail(f"node {node.name!r}: constant {role!r} has shape {list(arr.shape)}, "
              f"expected {list(shape)}")
    if arr.size and lo is not None and (arr.min() < lo or arr.max() > hi):
        _fail(f"node {node.name!r}: constant {role!r} values must lie in [{lo}, {hi}]")
    return arr


def need_arity(node, n_in, n_out):
    if len(node.inputs) != n_in or len(node.outputs) != n_out:
        _fail(f"node {node.name!r} ({node.op}) takes {n_in} input(s) and {n_out} "
              f"output(s), got {len(node.inputs)} and {len(node.outputs)}")


def need_shape(node, info, shape):
    if tuple(info.shape) != tuple(shape):
        _fail(f"node {node.name!r}: value {info.name!r} is declared {list(info.shape)} but "
              f"the op gives {list(shape)}")


def need_dtype(node, info, dtype):
    if info.dtype != dtype:
        _fail(f"node {node.name!r}: value {info.name!r} must be {dtype}, got {info.dtype}")
