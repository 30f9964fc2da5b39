"""The int16 (format 1.1) ops of a .qmodel graph run with the public 16x8 kernels, node
by node: KernelExecutor (kexec.py) hands a node here when one of its values is int16.
Parameters are derived exactly as the runtime's op specs derive them (qengine/ops.py), so
the results are the runtime's, bit for bit."""
import numpy as np

from qengine import kernels as K

INT16 = (-32768, 32767)


def is_wide(vi, vo):
    return any(v["dtype"] == "int16" for v in list(vi) + [vo])


def quantize(x, v, nt=1):
    return K.quantize16(np.ascontiguousarray(x, np.float32), v["scale"], 0, num_threads=nt)


def dequantize(q, v):
    return K.dequantize16(np.ascontiguousarray(q), v["scale"], 0)


def step16(ex, n, ins, vi, vo):
    """One int16 node's output (int16, or int8 for a 16-bit layer feeding an 8-bit one)."""
    op, a, x = n["op"], n["attrs"], ins[0]
    so, zo = vo["scale"], vo["zero_point"]
    out_dtype = np.int8 if vo["dtype"] == "int8" else np.int16
    lo, hi = (-128, 127) if out_dtype == np.int8 else INT16
    qmin, qmax = a.get("qmin", lo), a.get("qmax", hi)
    nt = ex.nt
    if op in ("Conv2D", "FullyConnected"):
        p = ex._packed.get(n["name"])
        if p is None:
            w, b = ex.const(n, "weight"), ex.const(n, "bias")
            m0, sh = ex.const(n, "m0"), ex.const(n, "sh")
            p = ex._packed[n["name"]] = (
                K.pack_conv2d16(w, b, m0, sh, a["stride"], a["padding"], a["dilation"],
                                a["groups"], 0) if op == "Conv2D"
                else K.pack_gemm16(w, b, m0, sh))
        return p.run(np.ascontiguousarray(x), out_dtype == np.int8, zo, qmin, qmax, nt)
    if op == "Add":
        return K.add16(x, ins[1], vi[0]["scale"], 0, vi[1]["scale"], 0, so, 0, qmin, qmax,
                       num_threads=nt)
    if op == "MaxPool2D":
        return K.maxpool2d16(x, a["kernel"], a["stride"], a["padding"], qmin, qmax,
                             num_threads=nt)
    if op == "AvgPool2D":
        return K.avgpool2d16(x, a["kernel"], vi[0]["scale"], 0, so, 0, a["stride"],
                             a["padding"], bool(a.get("count_include_pad", 0)), qmin, qmax,
                             num_threads=nt)
    if op == "GlobalAvgPool":
        return K.global_avgpool16(x, vi[0]["scale"], 0, so, 0, qmin, qmax, num_threads=nt)
    if op == "Requantize":
        return K.requantize16(x, vi[0]["scale"], vi[0]["zero_point"], so, zo, out_dtype,
                              qmin, qmax, num_threads=nt)
    if op == "Reshape":
        return x.reshape((-1,) + tuple(vo["shape"][1:]))
    raise ValueError(f"KernelExecutor: op {op!r} ({n['name']}) has no int16 form")

