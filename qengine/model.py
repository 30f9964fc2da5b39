"""qengine.load(path).run(x): the runtime a Raspberry Pi app imports (DESIGN.md section 2).

Loading maps the file, checks everything (qengine.graph) and builds the plan once
(qengine.plan). run() is one compiled method (qengine/_runtime.pxi, Plan.run): it checks
the inputs, allocates the outputs, then with the GIL released quantizes the inputs into
the arena (eq. 17), runs every step, and dequantizes the outputs (eq. 18).

Concurrency: each Model owns one arena (with its scratch). A call that finds it in use
(another Python thread is inside run()) works in a fresh arena of its own, so concurrent
calls are correct and never wait for each other; the extra arena is freed when the call
returns.
"""
import mmap
import os

import numpy as np

from qengine import format as F
from qengine import graph as G
from qengine import plan as P
from qengine.graph import TensorInfo

__all__ = ["load", "Model", "TensorInfo"]


def _default_threads():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class Model:
    """A loaded .qmodel. Use qengine.load()."""

    def __init__(self, path, num_threads=None):
        self.path = os.fspath(path)
        qfile = F.read(self.path)
        self.graph = G.parse(qfile)
        self.header = qfile.header
        self.file_size = qfile.size
        self.num_threads = _default_threads() if num_threads is None else int(num_threads)
        if not 1 <= self.num_threads <= 64:
            raise ValueError(f"num_threads must lie in [1, 64], got {num_threads}")
        self.inputs = [self.graph.values[v] for v in self.graph.inputs]
        self.outputs = [self.graph.values[v] for v in self.graph.outputs]
        self._plan = P.build(self.graph, self.num_threads)
        self.arena_size = self._plan.arena_size
        self.scratch_size = self._plan.scratch_size
        self._steps = self._plan.steps
        # Every step works on copies made at load (packed weights, tables in records), so
        # the file's pages are no longer needed: let the kernel drop them from this
        # process's RSS (clean file pages; read again from the file if info() looks).
        if qfile.mm is not None and hasattr(mmap, "MADV_DONTNEED"):
            qfile.mm.madvise(mmap.MADV_DONTNEED)

    def run(self, x, raw=False):
        """Run the model. x: float32 array (quantized on entry), or a dict name -> array;
        raw=True takes already-quantized inputs and returns the integer outputs. Returns
        an array (one output), a list (several), or a dict (dict in)."""
        return self._steps.run(x, raw)

    def profile(self, x, runs=50, raw=False):
        """Per-op time table over `runs` runs: rows of (op, node, kernel, ms), each the
        median over the runs (robust to a busy machine)."""
        steps = self._steps
        steps.run(x, raw)  # warm-up
        runs = max(1, int(runs))
        times = np.zeros((runs, max(steps.n, 1)), np.uint64)
        for r in range(runs):
            steps.run_timed(x, raw, times[r])
        ms = np.median(times[:, :steps.n], axis=0) / 1e6
        return Profile([(n.op, n.name, k, float(t)) for n, k, t in
                        zip(self._plan.nodes, steps.names, ms)])

    def __repr__(self):
        return (f"<qengine.Model {os.path.basename(self.path)}: {len(self.graph.nodes)} "
                f"nodes, inputs {[(i.name, i.shape) for i in self.inputs]}, "
                f"threads {self.num_threads}>")


class Profile(list):
    """Rows (op, node, kernel, ms); str() prints the table with shares."""

    def __str__(self):
        total = sum(r[3] for r in self)
        lines = [f"{'op':<16} {'node':<24} {'kernel':<48} {'ms':>9} {'%':>6}"]
        for op, node, kernel, ms in self:
            lines.append(f"{op:<16} {node[:24]:<24} {kernel[:48]:<48} {ms:9.4f} "
                         f"{100 * ms / (total or 1.0):6.1f}")
        lines.append(f"{'total':<90} {total:9.4f} {100.0:6.1f}")
        return "\n".join(lines)


def load(path, num_threads=None):
    """Map and check a .qmodel file and build its plan. ModelFormatError if it is bad."""
    return Model(path, num_threads)


