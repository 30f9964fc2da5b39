"""Run-time dispatch: detection, QENGINE_ISA forcing, and clear errors instead of SIGILL."""
import os
import subprocess
import sys

import pytest

from qengine import kernels as K

KNOWN = ["scalar", "avx2", "avx512vnni", "neon", "neondot"]


def _python(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


def test_isa_report():
    info = K.isa()
    assert "scalar" in info["available"]
    assert set(info["available"]) <= set(info["compiled"]) <= set(KNOWN)
    assert info["selected"] in info["available"]


def test_default_selects_the_best_available():
    order = ["avx512vnni", "avx2", "neondot", "neon", "scalar"]
    best = next(v for v in order if v in K.isa()["available"])
    r = _python("from qengine import kernels as K; print(K.isa()['selected'])", QENGINE_ISA="")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == best


@pytest.mark.parametrize("variant", KNOWN)
def test_env_forces_a_variant_or_fails_clearly(variant):
    r = _python("from qengine import kernels as K; print(K.isa()['selected'])",
                QENGINE_ISA=variant)
    if variant in K.isa()["available"]:
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == variant
    else:
        assert r.returncode == 1, "forcing a missing variant must raise, not crash"
        assert "ValueError" in r.stderr and f"QENGINE_ISA={variant}" in r.stderr


def test_unknown_variant_name():
    with pytest.raises(ValueError, match="unknown ISA variant"):
        with K.use_isa("sse9"):
            pass
    r = _python("import qengine", QENGINE_ISA="sse9")
    assert r.returncode == 1 and "unknown ISA variant" in r.stderr


def test_use_isa_restores_the_previous_variant():
    before = K.isa()["selected"]
    with K.use_isa("scalar"):
        assert K.isa()["selected"] == "scalar"
    assert K.isa()["selected"] == before


@pytest.mark.skipif(not os.environ.get("QENGINE_EXPECT_BEST"),
                    reason="QENGINE_EXPECT_BEST names the variant this CPU must select")
def test_this_cpu_selects_the_expected_variant():
    """Set by .ci/arm.sh per emulated CPU: cortex-a72 -> neon (no dot product), a76 -> neondot."""
    want = os.environ["QENGINE_EXPECT_BEST"]
    r = _python("from qengine import kernels as K; i = K.isa(); "
                "print(i['selected'], ','.join(i['available']))", QENGINE_ISA="")
    assert r.returncode == 0, r.stderr
    selected, available = r.stdout.split()
    assert selected == want
    order = ["scalar", "neon", "neondot"] if "neon" in want else ["scalar", "avx2", "avx512vnni"]
    better = order[order.index(want) + 1:]  # e.g. neondot on a Cortex-A72
    assert not set(better) & set(available.split(",")), f"{available} lists a better variant"
