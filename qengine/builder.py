"""Assemble a quantized graph in memory and save it as a .qmodel (used by the converter
and by tests). Knows nothing about ops: the loader checks what is built."""
import numpy as np

from qengine import __version__
from qengine import format as F


class GraphBuilder:
    def __init__(self, scheme="int8"):
        self.scheme = scheme
        self.values, self.constants, self.nodes = {}, {}, []
        self.inputs, self.outputs = [], []

    def value(self, name, shape, scale=1.0, zero_point=0, dtype="int8"):
        self.values[name] = {"dtype": dtype, "shape": [int(d) for d in shape],
                             "scale": float(scale), "zero_point": int(zero_point)}
        return name

    def input(self, name, shape, scale=1.0, zero_point=0, dtype="int8"):
        self.inputs.append(self.value(name, shape, scale, zero_point, dtype))
        return name

    def output(self, name):
        self.outputs.append(name)
        return name

    def const(self, name, array):
        self.constants[name] = np.ascontiguousarray(array)
        return name

    def node(self, op, name, inputs, outputs, constants=None, **attrs):
        """constants: {role: ndarray}; stored as '<node>.<role>'."""
        refs = {role: self.const(f"{name}.{role}", arr)
                for role, arr in (constants or {}).items()}
        self.nodes.append({"name": name, "op": op, "inputs": list(inputs),
                           "outputs": list(outputs), "constants": refs, "attrs": attrs})

    def header(self, producer=None, settings=None):
        return {"producer": producer or {"name": "qengine", "version": __version__},
                "settings": settings or {}, "scheme": self.scheme, "inputs": self.inputs,
                "outputs": self.outputs, "values": self.values, "nodes": self.nodes}

    def save(self, path, producer=None, settings=None):
        F.write(path, self.header(producer, settings), self.constants)
        return path
