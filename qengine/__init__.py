"""qengine: an integer (int8 / fixed-point) inference engine for small CPUs."""
from qengine._build import _native  # noqa: F401  (import guard first)
from qengine.errors import ModelFormatError, UnsupportedOpError
from qengine import kernels
from qengine.model import Model, TensorInfo, load

__version__ = "0.1.0"
__all__ = ["load", "Model", "TensorInfo", "kernels", "ModelFormatError", "UnsupportedOpError",
           "__version__"]
