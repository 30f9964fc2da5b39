"""Build the execution plan once at load: op order (the file's topological order), packed
weights, one activation arena with buffers reused by liveness, and the compiled steps."""
import os
from dataclasses import dataclass

import numpy as np

from qengine import _native
from qengine.errors import ModelFormatError

ALIGN = 64
# Refuse a plan whose activation memory (arena + scratch) exceeds this many MiB: a header
# can declare huge but consistent shapes in a few bytes, and loading must not try to
# allocate them. QENGINE_MAX_ARENA_MB raises the limit.
DEFAULT_MAX_ARENA_MB = 1024


def max_arena_bytes():
    mb = os.environ.get("QENGINE_MAX_ARENA_MB", "").strip()
    return (int(mb) if mb else DEFAULT_MAX_ARENA_MB) << 20


def _check_memory(what, nbytes):
    if nbytes > max_arena_bytes():
        raise ModelFormatError(
            f"the model needs {nbytes / 2**20:.1f} MiB of {what}, more than the limit of "
            f"{max_arena_bytes() >> 20} MiB (set QENGINE_MAX_ARENA_MB to allow more)")




@dataclass
class BuiltPlan:
    steps: object          # _native.Plan
    offsets: dict          # value name -> byte offset in the arena
    arena_size: int
    scratch_size: int
    nodes: list            # the nodes that have a step, in step order


def _nbytes(info):
    return int(np.prod(info.shape, dtype=np.int64)) * np.dtype(info.dtype).itemsize


def _lifetimes(graph):
    """[first, last] step index during which each buffer must hold its value. Aliases
    (Reshape) share their source's buffer, so their uses extend its lifetime."""
    root = {v: v for v in graph.values}
    first, last = {}, {}
    end = len(graph.nodes)
    for v in graph.inputs:
        first[v] = last[v] = -1
    for i, node in enumerate(graph.nodes):
        if node.spec.alias:
            root[node.outputs[0]] = root[node.inputs[0]]
        for v in node.inputs:
            last[root[v]] = max(last.get(root[v], i), i)
        for v in node.outputs:
            first.setdefault(root[v], i)
            last[root[v]] = max(last.get(root[v], i), i)
    for v in graph.outputs:
        last[root[v]] = end
    return root, first, last


def assign_offsets(graph):
    """Greedy first-fit of buffers, largest first, into one arena: two buffers may overlap
    in memory only if their lifetimes do not. Returns ({value: offset}, arena bytes)."""
    root, first, last = _lifetimes(graph)
    buffers = sorted(first, key=lambda v: -_nbytes(graph.values[v]))
    placed = []   # (offset, end, first, last)
    offsets = {}
    for v in buffers:
        size = (_nbytes(graph.values[v]) + ALIGN - 1) // ALIGN * ALIGN
        clashes = sorted((o, e) for o, e, f, l in placed
                         if not (l < first[v] or last[v] < f))
        offset = 0
        for o, e in clashes:
            if offset + size <= o:
                break
            offset = max(offset, e)
        placed.append((offset, offset + size, first[v], last[v]))
        offsets[v] = offset
    arena = max((e for _, e, _, _ in placed), default=0)
    return {v: offsets[root[v]] for v in graph.values if root[v] in offsets}, arena


def build(graph, num_threads):
    """The compiled plan of a checked graph, for num_threads threads (scratch sizes depend
    on it). Weights are packed here, once."""
    offsets, arena = assign_offsets(graph)
    _check_memory("activation memory", arena)
    nodes = [n for n in graph.nodes if not n.spec.alias]
    steps = _native.Plan(len(nodes))
    scratch = 0
    for i, node in enumerate(nodes):
        ins = [graph.values[v] for v in node.inputs]
        outs = [graph.values[v] for v in node.outputs]
        if any(o.size == 0 for o in outs):
            steps.set_nop(i, "(empty output)")
            continue
        prep = node.spec.prepare(node, ins, outs)
        scratch = max(scratch, node.spec.scratch(prep, ins, outs, num_threads))
        node.spec.add_step(steps, i, prep, node, ins, outs, offsets)
    scratch += ALIGN
    _check_memory("activation and scratch memory", arena + scratch)
    steps.set_io([graph.values[v] for v in graph.inputs],
                 [graph.values[v] for v in graph.outputs], offsets, arena, scratch,
                 num_threads)
    return BuiltPlan(steps, offsets, arena, scratch, nodes)
