"""Shared test helpers: random quantization parameters and exact-equality reporting."""
import numpy as np


def random_requant(rng, n, sh_lo=1, sh_hi=62):
    m0 = rng.integers(2**30, 2**31, size=n, dtype=np.int64).astype(np.int32)
    sh = rng.integers(sh_lo, sh_hi + 1, size=n).astype(np.int32)
    return m0, sh


def assert_same(got, want, acc=None, **context):
    """Exact equality; on failure name the first index, reference, accumulator, got and the
    parameters passed as context."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"shape {got.shape} != reference {want.shape} ({context})"
    bad = np.argwhere(got != want)
    if bad.size:
        idx = tuple(bad[0])
        extra = f", acc={acc[idx]}" if acc is not None else ""
        ctx = ", ".join(f"{k}={v}" for k, v in context.items())
        raise AssertionError(f"{len(bad)} of {got.size} values differ; first at {idx}: "
                             f"reference={want[idx]}, got={got[idx]}{extra}; {ctx}")


# .ci/sanitize.sh preloads AddressSanitizer: RSS figures are meaningless under it
UNDER_ASAN = "asan" in __import__("os").environ.get("LD_PRELOAD", "")
