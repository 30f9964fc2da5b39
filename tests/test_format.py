"""The loader refuses every malformed file with ModelFormatError naming the problem."""
import copy
import json
import os

import numpy as np
import pytest

import qengine
from qengine import ModelFormatError
from qengine import format as F

import modelgen


@pytest.fixture
def valid(tmp_path, rng):
    g, _ = modelgen.mlp(rng, sizes=(16, 8, 4), batch=2)
    path = g.save(tmp_path / "ok.qmodel")
    return path, F.read(path).header


def _rewrite(path, header, tmp_path, name="bad.qmodel"):
    """Write `header` verbatim (its constants table included) over the valid file's data."""
    raw = open(path, "rb").read()
    _, _, _, _, hlen, data_off, _ = F.PREAMBLE.unpack_from(raw, 0)
    data = raw[data_off:]
    blob = json.dumps(header).encode()
    new_off = (F.PREAMBLE.size + len(blob) + 63) // 64 * 64
    size = new_off + len(data)
    pre = F.PREAMBLE.pack(F.MAGIC, 1, 0, 0, len(blob), new_off, size)
    out = tmp_path / name
    out.write_bytes(pre + blob + b"\0" * (new_off - 64 - len(blob)) + data)
    return out


def _edit(header, fn):
    h = copy.deepcopy(header)
    fn(h)
    return h


def _set(path, value):
    def fn(h):
        *keys, last = path
        d = h
        for k in keys:
            d = d[k]
        d[last] = value
    return fn


HEADER_EDITS = [
    (_set(["constants", "fc1.weight", "offset"], 10**9), "offset must be an integer in"),
    (_set(["constants", "fc1.weight", "offset"], 2048), "outside the data section"),
    (_set(["constants", "fc1.weight", "offset"], 3), "misaligned"),
    (_set(["constants", "fc1.weight", "offset"], -64), "offset must be an integer"),
    (_set(["constants", "fc1.weight", "nbytes"], 7), "does not match shape"),
    (_set(["constants", "fc1.weight", "dtype"], "float64"), "unknown dtype"),
    (_set(["constants", "fc1.weight", "shape"], [-1, 16]), "shape must be a list"),
    (_set(["constants", "fc1.weight", "shape"], [16, 8]), "FullyConnected needs"),
    (_set(["values", "x", "scale"], 0), "scale must be a finite number > 0"),
    (_set(["values", "x", "scale"], "1"), "scale must be a finite number > 0"),
    (_set(["values", "x", "zero_point"], 300), "zero_point must be an integer"),
    (_set(["values", "x", "dtype"], "int4"), "unknown dtype"),
    (_set(["values", "h1", "shape"], [2, 9]), "declared"),
    (_set(["values", "h2", "dtype"], "int16"), "must be int8|int16 value must have zero point 0"),
    (_set(["nodes", 0, "op"], "Frobnicate"), "unknown op 'Frobnicate'"),
    (_set(["nodes", 0, "inputs"], ["nope"]), "'nope' is not described"),
    (_set(["nodes", 0, "constants", "weight"], "missing"), "not in the file"),
    (_set(["nodes", 0, "attrs", "qmin"], 200), "qmin"),
    (_set(["nodes", 0, "attrs", "qmax"], -128), "qmax"),
    (_set(["nodes", 1, "outputs"], ["h1"]), "already produced"),
    (_set(["outputs"], ["h9"]), None),
    (_set(["inputs"], []), "at least one input"),
    (_set(["nodes"], "all"), "'nodes' must be a list"),
    (lambda h: h["nodes"].reverse(), "topological order"),
    (lambda h: h["nodes"][0].pop("constants"), "needs a constant 'weight'"),
    (lambda h: h.pop("values"), "'values' must be an object"),
]


@pytest.mark.parametrize("edit, message", HEADER_EDITS)
def test_header_edits_are_refused(valid, tmp_path, edit, message):
    path, header = valid
    bad = _rewrite(path, _edit(header, edit), tmp_path)
    with pytest.raises(ModelFormatError, match=message):
        qengine.load(bad)


def test_the_rewriter_itself_keeps_a_valid_file_valid(valid, tmp_path):
    path, header = valid
    qengine.load(_rewrite(path, header, tmp_path))


def test_out_of_range_constants(valid, tmp_path, rng):
    g, _ = modelgen.mlp(rng, sizes=(16, 8, 4), batch=2)
    for role, value, message in [("weight", -128, r"\[-127, 127\]"), ("sh", 0, "sh"),
                                 ("sh", 63, "sh"), ("m0", -5, "m0")]:
        g2 = copy.deepcopy(g)
        arr = g2.constants[f"fc1.{role}"]
        arr.flat[0] = value
        with pytest.raises(ModelFormatError, match=message):
            qengine.load(g2.save(tmp_path / f"{role}.qmodel"))


def test_preamble_problems(valid, tmp_path):
    path, _ = valid
    raw = bytearray(open(path, "rb").read())
    cases = {
        "magic": (lambda b: b.__setitem__(slice(0, 8), b"NOTQMODL"), "bad magic"),
        "newer": (lambda b: b.__setitem__(slice(8, 10), (2).to_bytes(2, "little")),
                  "made by a newer qengine"),
        "flags": (lambda b: b.__setitem__(slice(12, 16), (1).to_bytes(4, "little")), "flags"),
        "hlen": (lambda b: b.__setitem__(slice(16, 24), (10**12).to_bytes(8, "little")),
                 "do not fit"),
        "truncated": (lambda b: b.__delitem__(slice(len(b) - 10, len(b))), "truncated"),
        "appended": (lambda b: b.extend(b"\0" * 64), "truncated or appended"),
        "short": (lambda b: b.__delitem__(slice(20, len(b))), "too short"),
    }
    for name, (mutate, message) in cases.items():
        b = bytearray(raw)
        mutate(b)
        p = tmp_path / f"{name}.qmodel"
        p.write_bytes(bytes(b))
        with pytest.raises(ModelFormatError, match=message):
            qengine.load(p)


def test_header_not_json_or_nan(valid, tmp_path):
    path, header = valid
    raw = bytearray(open(path, "rb").read())
    raw[64] = ord("!")
    p = tmp_path / "notjson.qmodel"
    p.write_bytes(bytes(raw))
    with pytest.raises(ModelFormatError, match="not valid JSON"):
        qengine.load(p)
    text = json.dumps(header).replace('"scale": 0.05', '"scale": NaN', 1)
    assert "NaN" in text
    with pytest.raises(ModelFormatError):
        qengine.load(_rewrite(path, json.loads(text), tmp_path))


def test_missing_file_is_a_format_error(tmp_path):
    with pytest.raises(ModelFormatError, match="cannot read"):
        qengine.load(tmp_path / "nope.qmodel")


def test_writer_is_atomic_and_leaves_no_temp(tmp_path, rng):
    g, _ = modelgen.mlp(rng, sizes=(16, 8, 4))
    g.save(tmp_path / "a.qmodel")
    assert sorted(os.listdir(tmp_path)) == ["a.qmodel"]
    g.constants["bad"] = np.zeros(3, np.float64)  # cannot be stored: nothing written
    with pytest.raises(ValueError):
        g.save(tmp_path / "b.qmodel")
    assert sorted(os.listdir(tmp_path)) == ["a.qmodel"]


# the loader fuzzer: tests/fuzz_loader.py, run by tests/test_fuzz.py
