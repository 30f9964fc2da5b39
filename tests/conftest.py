import numpy as np
import pytest

from qengine import kernels as K

ALL_VARIANTS = ["scalar", "avx2", "avx512vnni", "neon", "neondot"]


@pytest.fixture(params=ALL_VARIANTS)
def isa(request):
    """Runs the test once per ISA variant; a variant this CPU lacks is skipped, not passed."""
    name = request.param
    if name not in K.isa()["available"]:
        pytest.skip(f"{name} is not available on this machine/build")
    with K.use_isa(name):
        yield name


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
