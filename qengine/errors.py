"""qengine's exception types (DESIGN.md section 2)."""


class ModelFormatError(ValueError):
    """A .qmodel file is malformed, inconsistent, or from a newer qengine."""


class UnsupportedOpError(ValueError):
    """The converter met ONNX ops it cannot convert; the message names every one."""
