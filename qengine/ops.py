"""What each .qmodel op is: its checks (docs/FORMAT.md) and how it becomes a plan step.

An op spec has
  check(node, ins, outs)    raise ModelFormatError unless the node is fully valid
  prepare(node, ins, outs)  pack weights once, at load; returns an object for add_step
  scratch(prep, ins, outs)  bytes of scratch the step needs
  add_step(plan, i, prep, ins, outs, offsets)  fill step i of the compiled plan
and `alias = True` when the output is the input's buffer seen with another shape.
"""
import math

from qengine import _native
from qengine.errors import ModelFormatError
from qengine.graph import need_arity, need_attr_int, need_const, need_dtype, need_shape



def _requant_consts(node, n):
    need_const(node, "bias", "int32", (n,))
    need_const(node, "m0", "int32", (n,), 0, 2**31 - 1)
    need_const(node, "sh", "int32", (n,), 1, 62)


def _clamp(node):
    qmin = need_attr_int(node, "qmin", -128, 127, -128)
    qmax = need_attr_int(node, "qmax", qmin, 127, 127)
    return qmin, qmax


class FullyConnected:
    alias = False

    def check(self, node, ins, outs):
        need_arity(node, 1, 1)
        x, y = ins[0], outs[0]
        need_dtype(node, x, "int8")
        need_dtype(node, y, "int8")
        w = need_const(node, "weight", "int8", lo=-127, hi=127)
        if w.ndim != 2 or len(x.shape) != 2 or w.shape[1] != x.shape[1]:
            raise ModelFormatError(f"node {node.name!r}: FullyConnected needs x [B, K] and "
                                   f"weight [N, K], got {list(x.shape)} and {list(w.shape)}")
        _requant_consts(node, w.shape[0])
        need_shape(node, y, (x.shape[0], w.shape[0]))
        _clamp(node)

    def prepare(self, node, ins, outs):
        c = node.constants
        return _native.PackedGemm(c["weight"], c["bias"], c["m0"], c["sh"],
                                  _native.isa_selected())

    def scratch(self, prep, ins, outs):
        return prep.scratch_size(ins[0].shape[0])

    def add_step(self, plan, i, prep, node, ins, outs, offsets):
        qmin, qmax = _clamp(node)
        plan.set_fc(i, prep, ins[0].shape[0], offsets[node.inputs[0]],
                    offsets[node.outputs[0]], outs[0].zero_point, qmin, qmax)


class Reshape:
    """Same bytes, another shape: no step; the planner makes the output an alias."""
    alias = True

    def check(self, node, ins, outs):
        need_arity(node, 1, 1)
        x, y = ins[0], outs[0]
        need_dtype(node, y, x.dtype)
        if math.prod(x.shape) != math.prod(y.shape):
            need_shape(node, y, x.shape)
        if (x.scale, x.zero_point) != (y.scale, y.zero_point):
            raise ModelFormatError(f"node {node.name!r}: Reshape must keep the scale and "
                                   f"zero point of its input")


SPECS = {"FullyConnected": FullyConnected(), "Reshape": Reshape()}
