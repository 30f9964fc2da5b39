"""Import guard: a clear message when the compiled core is missing."""
try:
    from qengine import _native  # noqa: F401
except ImportError as exc:  # pragma: no cover - only seen on a broken install
    raise ImportError(
        "qengine's compiled extension (qengine._native) is not built or does not load: "
        f"{exc}. Build it with `pip install .` (or `pip install -e .` in a checkout); "
        "that needs a C compiler and the Python headers."
    ) from exc
