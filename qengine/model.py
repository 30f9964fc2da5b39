"""qengine.load(path).run(x): the runtime a Raspberry Pi app imports (DESIGN.md section 2).

Loading maps the file, checks everything (qengine.graph) and builds the plan once
(qengine.plan). run() quantizes the inputs into the arena, makes one call into the C
executor with the GIL released, and dequantizes the outputs.

Concurrency: each Model owns one arena. A call that finds it in use (another Python
thread is inside run()) works in a fresh arena of its own, so concurrent calls are
correct and never wait for each other; the extra arena is freed when the call returns.
"""
import os
import threading

import numpy as np

from qengine import _native
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


def quantize(x, info, out):
    """float32 -> int8/int16 (docs/QUANTIZATION.md): q = clamp(floor(x / s + 0.5) + z).
    NaN becomes the zero point (real 0); +-inf saturate."""
    lo, hi = G.DTYPE_RANGE[info.dtype]
    with np.errstate(over="ignore", invalid="ignore"):  # huge finite x: inf, saturated below
        q = np.floor(np.asarray(x, np.float32) * np.float32(1.0 / info.scale) + np.float32(0.5))
    # +-inf must saturate whatever the zero point: map them beyond the range before adding it
    q = np.nan_to_num(q, nan=0.0, posinf=hi - lo, neginf=lo - hi)
    np.clip(q + info.zero_point, lo, hi, out=q)
    out[...] = q.reshape(out.shape)


def dequantize(q, info):
    return (q.astype(np.float32) - np.float32(info.zero_point)) * np.float32(info.scale)


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
        self._plan = P.build(self.graph)
        self.arena_size = self._plan.arena_size
        self._lock = threading.Lock()
        self._arena, self._scratch = self._buffers()

    def _buffers(self):
        return (np.zeros(max(self._plan.arena_size, 1), np.uint8),
                np.zeros(max(self._plan.scratch_size, 1), np.uint8))

    def _view(self, arena, info):
        off = self._plan.offsets[info.name]
        n = info.size * np.dtype(info.dtype).itemsize
        return arena[off:off + n].view(info.dtype).reshape(info.shape)

    # ---- inputs ----------------------------------------------------------------------
    def _feeds(self, x):
        if isinstance(x, dict):
            names = {i.name for i in self.inputs}
            unknown = set(x) - names
            missing = names - set(x)
            if unknown or missing:
                raise ValueError(f"inputs {sorted(unknown)} are not model inputs and "
                                 f"{sorted(missing)} are missing; the model takes "
                                 f"{[i.name for i in self.inputs]}")
            return [x[i.name] for i in self.inputs], True
        if len(self.inputs) != 1:
            raise ValueError(f"the model has {len(self.inputs)} inputs "
                             f"{[i.name for i in self.inputs]}: pass a dict")
        return [x], False

    @staticmethod
    def _check(info, x, raw):
        if not isinstance(x, np.ndarray):
            raise ValueError(f"input {info.name!r} must be a numpy array, got "
                             f"{type(x).__name__}")
        want = np.dtype(info.dtype) if raw else np.dtype(np.float32)
        if x.dtype != want:
            raise ValueError(f"input {info.name!r} must be {want} "
                             f"({'quantized, raw=True' if raw else 'float'}), got {x.dtype}")
        if x.shape != tuple(info.shape):
            raise ValueError(f"input {info.name!r} must have shape {tuple(info.shape)}, "
                             f"got {x.shape}")

    # ---- running ---------------------------------------------------------------------
    def _execute(self, x, raw, timed=False):
        xs, as_dict = self._feeds(x)
        for info, xi in zip(self.inputs, xs):
            self._check(info, xi, raw)
        own = self._lock.acquire(blocking=False)
        arena, scratch = (self._arena, self._scratch) if own else self._buffers()
        try:
            for info, xi in zip(self.inputs, xs):
                if raw:
                    self._view(arena, info)[...] = xi
                else:
                    quantize(xi, info, self._view(arena, info))
            if timed:
                times = self._plan.steps.profile(arena, scratch, self.num_threads)
            else:
                self._plan.steps.run(arena, scratch, self.num_threads)
                times = None
            outs = []
            for info in self.outputs:
                q = self._view(arena, info)
                outs.append(q.copy() if raw else dequantize(q, info))
        finally:
            if own:
                self._lock.release()
        if as_dict:
            return {i.name: o for i, o in zip(self.outputs, outs)}, times
        return (outs[0] if len(outs) == 1 else outs), times

    def run(self, x, raw=False):
        """Run the model. x: float32 array (quantized on entry), or a dict name -> array;
        raw=True takes already-quantized inputs and returns the integer outputs."""
        return self._execute(x, raw)[0]

    def profile(self, x, runs=50, raw=False):
        """Per-op time table over `runs` runs: rows of (op, node, kernel, ms, %)."""
        self._execute(x, raw)  # warm-up
        total = np.zeros(self._plan.steps.n, np.float64)
        for _ in range(int(runs)):
            total += self._execute(x, raw, timed=True)[1]
        ms = total / max(1, int(runs)) / 1e6
        return Profile([(n.op, n.name, k, float(t)) for n, k, t in
                        zip(self._plan.nodes, self._plan.steps.names, ms)])

    def __repr__(self):
        return (f"<qengine.Model {os.path.basename(self.path)}: {len(self.graph.nodes)} "
                f"nodes, inputs {[(i.name, i.shape) for i in self.inputs]}, "
                f"threads {self.num_threads}>")


class Profile(list):
    """Rows (op, node, kernel, ms); str() prints the table with shares."""

    def __str__(self):
        total = sum(r[3] for r in self) or 1.0
        lines = [f"{'op':<16} {'node':<24} {'kernel':<44} {'ms':>9} {'%':>6}"]
        for op, node, kernel, ms in self:
            lines.append(f"{op:<16} {node[:24]:<24} {kernel[:44]:<44} {ms:9.4f} "
                         f"{100 * ms / total:6.1f}")
        lines.append(f"{'total':<86} {total:9.4f} {100.0:6.1f}")
        return "\n".join(lines)


def load(path, num_threads=None):
    """Map and check a .qmodel file and build its plan. ModelFormatError if it is bad."""
    return Model(path, num_threads)


