# Plan steps of the int16-activation ops (format 1.1; csrc/runtime/steps_qs16.c). Module
# functions on a Plan, filled once at load by qengine/ops.py after its checks.
from qengine._capi_runtime16 cimport *
from qengine._capi_qs16 cimport qe_qs16_gemm_scratch_size, qe_qs16_conv2d_scratch_size


def fc16_scratch_size(PackedGemm16 g, size_t m):
    return qe_qs16_gemm_scratch_size(g.kernel, m, g.k)


def conv16_scratch_size(PackedConv2d16 pc, size_t n, size_t h, size_t w, int num_threads):
    return qe_qs16_conv2d_scratch_size(&pc.conv, n, h, w, num_threads)


def plan_set_fc16(Plan plan, size_t i, PackedGemm16 g, size_t m, size_t in_off,
                  size_t out_off, bint out8, int zo, int qmin, int qmax):
    cdef qe_fc16_op* p = <qe_fc16_op*>plan._record(i, sizeof(qe_fc16_op), qe_step_fc16,
                                                   g.kernel_name, g)
    cdef uint8_t[::1] w = g.packed
    p.kernel = g.kernel
    p.packed_w = &w[0] if w.shape[0] else NULL
    p.m, p.n, p.k = m, g.n, g.k
    p.in_, p.out = in_off, out_off
    p.out8, p.zo, p.qmin, p.qmax = out8, zo, qmin, qmax


def plan_set_conv16(Plan plan, size_t i, PackedConv2d16 pc, size_t n, size_t h, size_t w,
                    size_t in_off, size_t out_off, bint out8, int zo, int qmin, int qmax):
    name = pc.kernel_name if pc.path != "im2col" else "im2col+" + pc.kernel_name
    cdef qe_conv16_op* p = <qe_conv16_op*>plan._record(i, sizeof(qe_conv16_op),
                                                       qe_step_conv2d16, name, pc)
    cdef uint8_t[::1] buf = pc.packed
    p.conv = pc.conv
    p.packed = &buf[0]
    p.n, p.h, p.w = n, h, w
    p.in_, p.out = in_off, out_off
    p.out8, p.zo, p.qmin, p.qmax = out8, zo, qmin, qmax


def plan_set_add16(Plan plan, size_t i, tuple shape, tuple a_strides, tuple b_strides,
                   tuple params, size_t a_off, size_t b_off, size_t out_off, str name):
    """Coalesced broadcast geometry as set_eltwise; params = (ka, kb, bias, m0, sh, zo, qmin,
    qmax) of eq. 23."""
    cdef qe_add16_op* p = <qe_add16_op*>plan._record(i, sizeof(qe_add16_op), qe_step_add16,
                                                     name, None)
    cdef size_t d
    p.ndim = len(shape)
    for d in range(p.ndim):
        p.shape[d], p.a_strides[d], p.b_strides[d] = shape[d], a_strides[d], b_strides[d]
    (p.params.ka, p.params.kb, p.params.bias, p.params.m0, p.params.sh, p.params.zo,
     p.params.qmin, p.params.qmax) = params
    p.a, p.b, p.out = a_off, b_off, out_off


def plan_set_maxpool16(Plan plan, size_t i, tuple geometry, size_t in_off, size_t out_off,
                       int qmin, int qmax, str name):
    cdef qe_maxpool_op* p = <qe_maxpool_op*>plan._record(
        i, sizeof(qe_maxpool_op), qe_step_maxpool16, name, None)
    p.g = _geometry(geometry[0], geometry[1], geometry[2], geometry[3], geometry[4])
    p.in_, p.out = in_off, out_off
    p.qmin, p.qmax = qmin, qmax


def plan_set_avgpool16(Plan plan, size_t i, tuple geometry, int zi, int zo, int qmin,
                       int qmax, bint count_include_pad, const int32_t[::1] m0,
                       const int32_t[::1] sh, size_t in_off, size_t out_off, str name):
    cdef qe_avgpool_op* p = <qe_avgpool_op*>plan._record(
        i, sizeof(qe_avgpool_op), qe_step_avgpool16, name, (m0.base, sh.base))
    p.g = _geometry(geometry[0], geometry[1], geometry[2], geometry[3], geometry[4])
    p.params.zi, p.params.zo, p.params.qmin, p.params.qmax = zi, zo, qmin, qmax
    p.params.count_include_pad = count_include_pad
    p.params.m0 = &m0[0]
    p.params.sh = &sh[0]
    p.in_, p.out = in_off, out_off


def plan_set_gavgpool16(Plan plan, size_t i, size_t n, size_t hw, size_t c, tuple params,
                        size_t in_off, size_t out_off, str name):
    """params = (bias, m0, sh, zo, qmin, qmax), bias int64 = -hw * zi."""
    cdef qe_gavgpool16_op* p = <qe_gavgpool16_op*>plan._record(
        i, sizeof(qe_gavgpool16_op), qe_step_gavgpool16, name, None)
    p.n, p.hw, p.c = n, hw, c
    (p.params.bias, p.params.m0, p.params.sh, p.params.zo, p.params.qmin,
     p.params.qmax) = params
    p.in_, p.out = in_off, out_off


def plan_set_requant16(Plan plan, size_t i, size_t n, bint in16, bint out16, tuple params,
                       size_t in_off, size_t out_off, str name):
    """params = (zi, m0, sh, zo, qmin, qmax) of eq. 24."""
    cdef qe_requant16_op* p = <qe_requant16_op*>plan._record(
        i, sizeof(qe_requant16_op), qe_step_requant16, name, None)
    p.n, p.in16, p.out16 = n, in16, out16
    p.params.zi, p.params.m0, p.params.sh, p.params.zo, p.params.qmin, p.params.qmax = params
    p.in_, p.out = in_off, out_off
