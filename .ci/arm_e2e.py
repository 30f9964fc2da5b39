"""End-to-end check that a .qmodel gives the same bytes on every machine and variant.

  python arm_e2e.py make DIR          writes DIR/model.qmodel and DIR/inputs.npz (needs tests/)
  python arm_e2e.py run DIR OUT.npz   runs the model with every available ISA variant and
                                      1 and 3 threads, raw int8 and float in/out
  python arm_e2e.py compare A.npz B.npz ...
                                      every result of every file must equal, byte for byte,
                                      the first file's scalar result of the same input

.ci/arm.sh makes the model on x86, runs it natively and in the emulated aarch64 root
(Cortex-A72 and A76) and compares. Only numpy and qengine are needed for `run`.
"""
import os
import sys

import numpy as np

THREADS = (1, 3)


def make(d):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    import modelgen

    rng = np.random.default_rng(20240901)
    # odd sizes around the kernel tiles; a batch of 5 rows
    g, _ = modelgen.mlp(rng, sizes=(147, 129, 67, 33, 10), batch=5)
    os.makedirs(d, exist_ok=True)
    g.save(os.path.join(d, "model.qmodel"), producer="arm_e2e")
    raw = rng.integers(-128, 128, size=(5, 147), dtype=np.int8)
    real = rng.normal(0, 3, size=(5, 147)).astype(np.float32)
    real[0, :4] = [np.inf, -np.inf, 1e30, -1e30]  # saturating quantization
    np.savez(os.path.join(d, "inputs.npz"), raw=raw, real=real)


def run(d, out):
    import qengine
    from qengine import kernels as K

    inputs = np.load(os.path.join(d, "inputs.npz"))
    results = {}
    for variant in K.isa()["available"]:
        with K.use_isa(variant):
            for t in THREADS:
                m = qengine.load(os.path.join(d, "model.qmodel"), num_threads=t)
                results[f"raw/{variant}/t{t}"] = m.run(inputs["raw"], raw=True)
                results[f"real/{variant}/t{t}"] = m.run(inputs["real"])
    np.savez(out, **results)
    print(f"{out}: {len(results)} results, variants {K.isa()['available']}")


def compare(paths):
    files = [(p, np.load(p)) for p in paths]
    want = {k.split("/")[0]: files[0][1][k] for k in files[0][1].files if "/scalar/" in k}
    bad = n = 0
    for p, f in files:
        for k in f.files:
            ref, got = want[k.split("/")[0]], f[k]
            n += 1
            if ref.dtype != got.dtype or ref.shape != got.shape or ref.tobytes() != got.tobytes():
                bad += 1
                print(f"DIFFERENT: {p} {k}")
    print(f"e2e: {n} results from {len(files)} runs compared, {bad} different")
    return 1 if bad or n == 0 else 0


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "make":
        make(*args)
    elif cmd == "run":
        run(*args)
    elif cmd == "compare":
        sys.exit(compare(args))
    else:
        sys.exit(f"unknown command {cmd}")
