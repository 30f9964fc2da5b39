"""Load time and memory of the runtime on a MobileNetV2-sized .qmodel.

    python -m benchmarks.runtime_memory [--model PATH] [--repeats 7]

Without --model, the synthetic MobileNetV2-224 of benchmarks/synthetic.py is built in a
temporary folder. Every measurement runs in a fresh Python process (after `import qengine`):
- load time, cold: the first qengine.load() of a fresh copy of the file whose pages were
  written back (fsync) and dropped from the page cache with posix_fadvise(DONTNEED)
  (dropping the whole cache needs root); warm: a second load of the same file.
- memory: VmRSS after import, after load, and the peak (VmHWM) while running 50
  inferences at 1 thread, split into anonymous memory (packed weights, arena, the input
  array) and file pages (the mapped .qmodel, touched once by weight packing, and the code
  pages of the kernels); compared with the file size and the arena.
Medians over the repeats.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

CHILD = r"""
import json, sys, time
import numpy as np
import qengine

def status():
    out = {}
    for line in open("/proc/self/status"):
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[k] = int(v.split()[0]) * 1024
    return out

path, mode = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(0)
base = status()
t0 = time.perf_counter()
m = qengine.load(path, num_threads=1)
t1 = time.perf_counter()
if mode == "load":
    m2 = qengine.load(path, num_threads=1)
    t2 = time.perf_counter()
    print(json.dumps({"cold": t1 - t0, "warm": t2 - t1}))
else:
    x = rng.standard_normal(size=m.inputs[0].shape, dtype=np.float32)
    loaded = status()
    for _ in range(50):
        m.run(x)
    print(json.dumps({"base": base, "loaded": loaded, "ran": status(),
                      "arena": m.arena_size, "scratch": m.scratch_size,
                      "held": m._steps.held_bytes, "file": m.file_size}))
"""


def fresh_copy(src, folder, k):
    dst = os.path.join(folder, f"copy{k}.qmodel")
    shutil.copyfile(src, dst)
    fd = os.open(dst, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return dst


def child(path, mode):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", CHILD, path, mode], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            from benchmarks.synthetic import mobilenet_v2
            model = str(mobilenet_v2(os.path.join(tmp, "mobilenet_v2.qmodel")))
        loads = [child(fresh_copy(model, tmp, k), "load") for k in range(args.repeats)]
        mems = [child(model, "memory") for _ in range(max(3, args.repeats // 2))]
    cold = np.median([r["cold"] for r in loads]) * 1e3
    warm = np.median([r["warm"] for r in loads]) * 1e3
    r = mems[0]
    mb = 1 / 2**20

    def med(stage, key):
        return np.median([m[stage][key] - m["base"][key] for m in mems]) * mb

    print(f"model {os.path.basename(model)}: {r['file'] * mb:.2f} MiB file; packed weights "
          f"and tables {r['held'] * mb:.2f} MiB; arena {r['arena'] * mb:.2f} MiB + scratch "
          f"{r['scratch'] * mb:.2f} MiB")
    print(f"load time (median of {len(loads)} fresh processes): cold {cold:.1f} ms, "
          f"warm {warm:.1f} ms")
    print(f"{'RSS above import':<22} {'total':>8} {'anon':>8} {'file':>8}   (MiB)")
    print(f"{'after load':<22} {med('loaded', 'VmRSS'):8.2f} {med('loaded', 'RssAnon'):8.2f} "
          f"{med('loaded', 'RssFile'):8.2f}")
    print(f"{'after 50 runs':<22} {med('ran', 'VmRSS'):8.2f} {med('ran', 'RssAnon'):8.2f} "
          f"{med('ran', 'RssFile'):8.2f}")
    print(f"{'peak (VmHWM)':<22} {med('ran', 'VmHWM'):8.2f}")
    print(f"weights (file) + arena + scratch = "
          f"{(r['file'] + r['arena'] + r['scratch']) * mb:.2f} MiB")


if __name__ == "__main__":
    main()
