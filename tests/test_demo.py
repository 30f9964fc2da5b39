"""`qengine demo` (the main job) runs offline end to end and says true things."""
import io
import os
import subprocess
import sys

import pytest

pytest.importorskip("onnx")

from qengine import demo  # noqa: E402


def test_demo_rows_and_files(tmp_path):
    out = io.StringIO()
    rows = demo.run(out_dir=str(tmp_path), repeats=30, stream=out)
    by_name = {r[0]: r for r in rows}
    float_acc = by_name["float32 (numpy reference)"][1]
    int8 = by_name["int8"]
    assert float_acc > 0.95
    assert abs(int8[1] - float_acc) <= 0.003          # within 0.3 points of float
    assert int8[2] < by_name["float32 (numpy reference)"][2]  # smaller file
    assert int8[3] > 0 and int8[4] > 1.0              # faster than the numpy float model
    written = [f for f in os.listdir(tmp_path) if f.endswith(".qmodel")]
    assert len(written) == sum(1 for r in rows[1:] if r[1] is not None)
    assert "qengine demo: digits CNN" in out.getvalue()


def test_demo_cli(tmp_path):
    r = subprocess.run([sys.executable, "-m", "qengine", "demo", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "int8" in r.stdout and "speed-up" in r.stdout
