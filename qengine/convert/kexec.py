"""Run a .qmodel graph with the public kernels (qengine.kernels), node by node, any batch.

The converter's reference for what the runtime computes: every op calls the same kernel
and derives its integer parameters from the values' scales with the same qengine.quant
functions as the loader, so the results are the runtime's, bit for bit. Used for the
report, for bias correction and to check written files before they are loaded.

    ex = KernelExecutor(builder.header(), builder.constants)    # or from format.read()
    env = ex.run({"input": x_float_stored}, keep="all")          # {value: int8 array}
"""
import numpy as np

from qengine import kernels as K
from qengine.convert import kexec16


class KernelExecutor:
    def __init__(self, header, constants, num_threads=1):
        self.h, self.c, self.nt = header, constants, num_threads
        self.values = header["values"]
        self.nodes = header["nodes"]
        self._packed = {}
        self._last = {}
        for idx, n in enumerate(self.nodes):
            for i in n["inputs"]:
                self._last[i] = idx

    def const(self, node, role):
        return self.c[node["constants"][role]]

    def invalidate(self, name):
        """Forget the packed weights of node `name` (after its constants changed)."""
        self._packed.pop(name, None)

    def quantize_inputs(self, x):
        if not isinstance(x, dict):
            x = {self.h["inputs"][0]: x}
        env = {}
        for name in self.h["inputs"]:
            v, arr = self.values[name], np.asarray(x[name])
            if arr.dtype in (np.int8, np.int16):
                env[name] = np.ascontiguousarray(arr)
            elif v["dtype"] == "int16":
                env[name] = kexec16.quantize(arr, v, self.nt)
            else:
                env[name] = K.quantize(np.ascontiguousarray(arr, np.float32), v["scale"],
                                       v["zero_point"], num_threads=self.nt)
        return env

    def dequantize(self, name, q):
        v = self.values[name]
        if q.dtype == np.float32:
            return q
        if q.dtype == np.int16:
            return kexec16.dequantize(q, v)
        return K.dequantize(np.ascontiguousarray(q), v["scale"], v["zero_point"])

    def run(self, x, keep=(), before=None):
        """x: float (stored layout) or int8 arrays. Returns {value: array} for the outputs
        and `keep` ("all": every value). `before(node, ins)` is called before each node
        (bias correction edits constants there and calls invalidate)."""
        env = self.quantize_inputs(x)
        keep_all = keep == "all"
        keep = set(self.h["outputs"]) | (set() if keep_all else set(keep))
        out = {k: v for k, v in env.items() if keep_all or k in keep}
        for idx, n in enumerate(self.nodes):
            ins = [env[i] for i in n["inputs"]]
            if before is not None:
                before(n, ins)
            y = self.step(n, ins)
            env[n["outputs"][0]] = y
            if keep_all or n["outputs"][0] in keep:
                out[n["outputs"][0]] = y
            for i in n["inputs"]:
                if self._last.get(i) == idx and i not in keep and not keep_all:
                    env.pop(i, None)
        return out

    def step(self, n, ins):
        """One node's int8 output."""
        op, a, x = n["op"], n["attrs"], ins[0]
        vi = [self.values[i] for i in n["inputs"]]
        vo = self.values[n["outputs"][0]]
        zo, so = vo["zero_point"], vo["scale"]
        if kexec16.is_wide(vi, vo):
            return kexec16.step16(self, n, ins, vi, vo)
        qmin, qmax = a.get("qmin", -128), a.get("qmax", 127)
        nt = self.nt
        if op == "Conv2D":
            p = self._packed.get(n["name"])
            if p is None:
                p = self._packed[n["name"]] = K.pack_conv2d(
                    self.const(n, "weight"), self.const(n, "bias"), self.const(n, "m0"),
                    self.const(n, "sh"), a["stride"], a["padding"], a["dilation"],
                    a["groups"], vi[0]["zero_point"])
            return p.run(np.ascontiguousarray(x), zo, qmin, qmax, nt)
        if op == "FullyConnected":
            p = self._packed.get(n["name"])
            if p is None:
                p = self._packed[n["name"]] = K.pack_gemm(
                    self.const(n, "weight"), self.const(n, "bias"), self.const(n, "m0"),
                    self.const(n, "sh"))
            return p.run(np.ascontiguousarray(x), zo, qmin, qmax, nt)
        if op in ("Add", "Mul"):
            fn = K.add if op == "Add" else K.mul
            return fn(x, ins[1], vi[0]["scale"], vi[0]["zero_point"], vi[1]["scale"],
                      vi[1]["zero_point"], so, zo, qmin, qmax, num_threads=nt)
        if op == "Lut":
            return K.lut(x, self.const(n, "table"), num_threads=nt)
        if op == "Softmax":
            dtype = np.float32 if vo["dtype"] == "float32" else np.int8
            return K.softmax(x, vi[0]["scale"], dtype, num_threads=nt)
        if op == "Concat":
            return K.concat(list(ins), [v["scale"] for v in vi],
                            [v["zero_point"] for v in vi], so, zo, num_threads=nt)
        if op == "MaxPool2D":
            return K.maxpool2d(x, a["kernel"], a["stride"], a["padding"], qmin, qmax,
                               num_threads=nt)
        if op == "AvgPool2D":
            return K.avgpool2d(x, a["kernel"], vi[0]["scale"], vi[0]["zero_point"], so, zo,
                               a["stride"], a["padding"], bool(a.get("count_include_pad", 0)),
                               qmin, qmax, num_threads=nt)
        if op == "GlobalAvgPool":
            return K.global_avgpool(x, vi[0]["scale"], vi[0]["zero_point"], so, zo, qmin,
                                    qmax, num_threads=nt)
        if op == "Requantize":
            return K.requantize(x, vi[0]["scale"], vi[0]["zero_point"], so, zo, qmin, qmax,
                                num_threads=nt)
        if op == "Reshape":
            return x.reshape((-1,) + tuple(vo["shape"][1:]))
        raise ValueError(f"KernelExecutor: unknown op {op!r} ({n['name']})")
