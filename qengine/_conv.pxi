# 2-D convolution (csrc/conv/, csrc/dwconv/).
from qengine._capi_conv cimport *

_CONV_PATHS = {0: "im2col", 1: "gemm1x1", 2: "depthwise"}


cdef class PackedConv2d:
    """Conv weights OHWI [O, kh, kw, C/groups] packed once for one ISA variant and path,
    with bias, m0, sh. run() computes the int8 NHWC output (DESIGN.md section 3).
    The caller (qengine/_kernels_conv.py) validates the arguments first."""
    cdef qe_conv2d conv
    cdef readonly object packed      # uint8 ndarray: the packed blob
    cdef readonly str isa

    def __cinit__(self, const int8_t[:, :, :, ::1] w, const int32_t[::1] bias,
                  const int32_t[::1] m0, const int32_t[::1] sh, stride, padding, dilation,
                  size_t groups, int pad_value, str isa, bint force_generic):
        self.isa = isa
        self.conv.o = w.shape[0]
        self.conv.kh = w.shape[1]
        self.conv.kw = w.shape[2]
        self.conv.c = w.shape[3] * groups
        self.conv.stride_h, self.conv.stride_w = stride
        self.conv.dilation_h, self.conv.dilation_w = dilation
        (self.conv.pad_top, self.conv.pad_left, self.conv.pad_bottom,
         self.conv.pad_right) = padding
        self.conv.groups = groups
        self.conv.pad_value = pad_value
        qe_conv2d_setup(&self.conv, isa_names().index(isa), force_generic)
        self.packed = np.empty(qe_conv2d_packed_size(&self.conv) + 1, dtype=np.uint8)
        cdef uint8_t[::1] buf = self.packed
        if self.conv.o and w.shape[1] * w.shape[2] * w.shape[3]:
            qe_conv2d_pack(&self.conv, &w[0, 0, 0, 0], &bias[0], &m0[0], &sh[0], &buf[0])

    @property
    def path(self):
        return _CONV_PATHS[self.conv.path]

    @property
    def kernel_name(self):
        return qe_conv2d_kernel_name(&self.conv).decode()

    @property
    def in_channels(self):
        return self.conv.c

    @property
    def out_channels(self):
        return self.conv.o

    def out_size(self, size_t h, size_t w):
        cdef size_t ho, wo
        qe_conv2d_out_size(&self.conv, h, w, &ho, &wo)
        return ho, wo

    def run(self, const int8_t[:, :, :, ::1] x, int zo, int qmin, int qmax, int num_threads):
        if <size_t>x.shape[3] != self.conv.c:
            raise ValueError(f"x has C={x.shape[3]} channels, the packed weights expect "
                             f"C={self.conv.c}")
        check_requant_out(zo, qmin, qmax, num_threads)
        cdef size_t n = x.shape[0], h = x.shape[1], w = x.shape[2], ho, wo
        if h == 0 or w == 0:
            raise ValueError(f"x must be NHWC with H, W >= 1, got shape {tuple(x.shape)}")
        qe_conv2d_out_size(&self.conv, h, w, &ho, &wo)
        if ho == 0 or wo == 0:
            raise ValueError(f"output size would be {ho}x{wo}: the padded {h}x{w} input is "
                             f"smaller than the dilated {self.conv.kh}x{self.conv.kw} kernel")
        out = new_output((n, ho, wo, self.conv.o), cnp.NPY_INT8)
        if n == 0 or self.conv.o == 0:
            return out
        cdef int8_t[:, :, :, ::1] y = out
        scratch = np.empty(qe_conv2d_scratch_size(&self.conv, n, h, w, num_threads) + 1,
                           dtype=np.uint8)
        cdef uint8_t[::1] s = scratch
        cdef uint8_t[::1] pw = self.packed
        with nogil:
            qe_conv2d_run(&self.conv, &pw[0], n, h, w, &x[0, 0, 0, 0], &y[0, 0, 0, 0],
                          zo, qmin, qmax, &s[0], num_threads)
        return out
