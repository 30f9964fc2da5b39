/* Internal depthwise-convolution microkernel interface (groups == C).
 *
 * Packed weights (one ISA-neutral layout shared by every variant), Cp = round_up(O, 64):
 *   int32 bias'[Cp], m0[Cp], sh[Cp], amin[Cp], amax[Cp]
 *   int8  w[taps][Cp]          w[t][o] = W[o, ky, kx, 0], t = kx * kh + ky (column-major)
 * Channels past O: bias 0, m0 0, sh 1, amin = amax = 0, weights 0.
 * amin/amax bound the accumulator so that eq. 5 never leaves int32 (see dwconv.c): any acc
 * beyond them requantizes to qmin/qmax anyway, so SIMD variants clamp acc first and then
 * keep only the low 32 bits of the 64-bit product. The scalar reference does not need them.
 *
 * A microkernel computes `pixels` output pixels of one row, all `channels` channels:
 *   out[p * out_stride + o] = requant(bias[o] + sum_t ind[p * step + t][o] * w[t][o])
 * ind holds input pixel pointers (or the pad row, Cp bytes of pad_value); it may read
 * only the first `channels` bytes behind an input pixel pointer. With taps in column-major
 * order, neighbouring output pixels share input columns: step = kh * stride_w lets one
 * list of kh pointers per input column serve the whole row (step = taps otherwise). */
#ifndef QE_DWCONV_H
#define QE_DWCONV_H

#include "common/qe_common.h"
#include "qengine.h"

#define QE_DW_CPAD 64

typedef struct {
  int32_t zo, qmin, qmax;
} qe_dwconv_params;

typedef void (*qe_dwconv_ukernel_fn)(size_t channels, size_t pixels, size_t taps,
                                     size_t step, const int8_t* const* ind, const void* packed,
                                     size_t cpad, int8_t* out, size_t out_stride,
                                     const qe_dwconv_params* p);

typedef struct {
  const char* name;
  size_t taps; /* 0: any number of taps */
  qe_dwconv_ukernel_fn ukernel;
} qe_dwconv_kernel;

/* Per variant: a NULL-terminated list, specialised tap counts first, then the any-taps one. */
extern const qe_dwconv_kernel qe_dwconv_kernels__scalar[];
extern const qe_dwconv_kernel qe_dwconv_kernels__avx2[];
extern const qe_dwconv_kernel qe_dwconv_kernels__avx512vnni[];
extern const qe_dwconv_kernel qe_dwconv_kernels__neon[];

const qe_dwconv_kernel* qe_dwconv_kernel_pick(int isa, size_t taps);

size_t qe_dwconv_packed_size(const qe_conv2d* conv);
void qe_dwconv_pack(const qe_conv2d* conv, const int8_t* w, const int32_t* bias,
                    const int32_t* m0, const int32_t* sh, void* packed);
size_t qe_dwconv_scratch_size(const qe_conv2d* conv, size_t n, size_t h, size_t w,
                              int num_threads);
void qe_dwconv_run(const qe_conv2d* conv, const void* packed, size_t n, size_t h, size_t w,
                   const int8_t* x, int8_t* y, int32_t zo, int32_t qmin, int32_t qmax,
                   void* scratch, int num_threads);

#endif
