import os

import numpy as np
import pytest

from qengine import kernels as K

ALL_VARIANTS = ["scalar", "avx2", "avx512vnni", "neon", "neondot"]
# QENGINE_TEST_ISA=neon,scalar limits the `isa` fixture to those variants (the slow
# emulated ARM runs of .ci/arm.sh test one variant per run); unset = every variant.
ONLY = [v for v in os.environ.get("QENGINE_TEST_ISA", "").replace(",", " ").split() if v]


@pytest.fixture(params=ALL_VARIANTS)
def isa(request):
    """Runs the test once per ISA variant; a variant this CPU lacks is skipped, not passed."""
    name = request.param
    if ONLY and name not in ONLY:
        pytest.skip(f"{name} not in QENGINE_TEST_ISA")
    if name not in K.isa()["available"]:
        pytest.skip(f"{name} is not available on this machine/build")
    only = os.environ.get("QENGINE_TEST_ISA", "").strip().lower()
    if only and name != only:
        pytest.skip(f"QENGINE_TEST_ISA={only} runs one variant")
    with K.use_isa(name):
        yield name


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
