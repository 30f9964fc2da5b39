# Benchmark-only probes (csrc/bench/): not part of the public kernels API.
from qengine._capi_bench cimport qe_peak_int8_gops, qe_peak_int16_gops


def peak_int8_gops(str isa_name, bint int16=False):
    """Measured int8 GOPS (2 ops per multiply-accumulate) of one thread on the multiply
    instruction of variant `isa_name` (vpdpbusd zmm for avx512vnni, vpmaddwd ymm for avx2),
    or with int16=True on the 16x8 GEMM's (vpdpwssd zmm; avx2: vpmaddwd ymm as well);
    0.0 if there is no probe for it here (other variants, or a CPU without it)."""
    names = isa_names()
    if isa_name not in names:
        raise ValueError(f"unknown ISA variant {isa_name!r}; qengine knows {names}")
    cdef int isa = names.index(isa_name)
    cdef double gops
    with nogil:
        gops = qe_peak_int16_gops(isa) if int16 else qe_peak_int8_gops(isa)
    return gops
