# cython: language_level=3
"""qengine's compiled core. Every function here trusts its arguments: callers
(qengine/kernels.py, the runtime) validate shapes, dtypes and ranges first.

One module, one .pxi per kernel family, so the C dispatch state (selected ISA, thread
pool) exists once."""
import numpy as np
cimport numpy as cnp
from cpython.mem cimport PyMem_Malloc, PyMem_Free
from qengine._capi cimport *

cnp.import_array()

include "_isa.pxi"
include "_gemm.pxi"
include "_bench.pxi"
include "_ops.pxi"
include "_conv.pxi"
include "_sparse.pxi"
include "_qs16.pxi"
include "_runtime.pxi"
include "_runtime16.pxi"
