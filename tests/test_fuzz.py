"""Run the fuzzers (tests/fuzz_*.py) in subprocesses: a crash (segfault, sanitizer abort)
fails the test with the fuzzer's output instead of killing pytest.

CI runs a modest number of examples per target (below); QENGINE_FUZZ_EXAMPLES=N runs N
for every target (the loader, each kernel function, the converter). docs/RELIABILITY.md."""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
CI_EXAMPLES = {"loader": 1000, "kernels": 150, "convert": 300}


def _run(name, *args, timeout=1800):
    n = os.environ.get("QENGINE_FUZZ_EXAMPLES") or str(CI_EXAMPLES[name])
    script = os.path.join(HERE, f"fuzz_{name}.py")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    r = subprocess.run([sys.executable, script, *args, n], capture_output=True, text=True,
                       timeout=timeout, env=env)
    seed = next((line for line in r.stderr.splitlines() if "QENGINE_FUZZ_SEED=" in line), "")
    assert r.returncode == 0, (f"fuzz_{name} failed (exit code {r.returncode}; replay with "
                               f"{seed}):\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}")
    assert f"fuzz {name}:" in r.stdout
    print(r.stdout.strip().splitlines()[-1])


def test_fuzz_loader(tmp_path):
    """Mutated .qmodel files: ModelFormatError or a clean run."""
    _run("loader", str(tmp_path))


def test_fuzz_kernels():
    """Every qengine.kernels function: ValueError or exactly the numpy reference."""
    _run("kernels")


def test_fuzz_converter(tmp_path):
    """Malformed ONNX files: a clear error, the input untouched, no partial output."""
    pytest.importorskip("onnx")
    _run("convert", str(tmp_path))
