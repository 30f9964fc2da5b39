# C declarations of the benchmark-only probes (csrc/bench/peak.h), not of qengine.h.
cdef extern from "bench/peak.h" nogil:
    double qe_peak_int8_gops(int isa)
    double qe_peak_int16_gops(int isa)
