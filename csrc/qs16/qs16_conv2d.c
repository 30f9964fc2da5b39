/* 16x8 2-D convolution: path choice, packing, running (qengine_qs16.h). ISA-neutral.
 *
 * Paths as for int8 (qe_conv2d_setup decides from the geometry):
 *  - 1x1, stride 1, unpadded, one group: the NHWC input is the GEMM's A, one 16x8 GEMM.
 *  - depthwise (groups == C): dwconv_row of the variant's ops table over up to
 *    QE_QS16_DW_PIXELS output pixels at a time, one task per output row; padding taps
 *    read a row of pad_value.
 *  - anything else: per group, im2col rows (int16, padded with pad_value) of all output
 *    pixels, then the 16x8 GEMM over them, writing its group's columns of y.
 * Weights: GEMM paths, per group one qe_qs16_gemm_pack_w blob of [O/groups, kh*kw*Cg]
 * (OHWI rows are im2col order), each at a 64-byte multiple. Depthwise: a 64-byte header
 * (uint32 acc64, eq. 21 over the kh*kw taps), int64 bias[C], int32 m0[C], int32 sh[C],
 * int16 w[kh*kw][C]. */
#include <string.h>

#include "qs16/qs16_ops.h"

#define DW_MAX_TAPS QE_QS16_DW_MAX_TAPS

void qe_qs16_conv2d_setup(qe_conv2d* conv, int isa, int force_generic) {
  qe_conv2d_setup(conv, isa, force_generic);
  /* the depthwise kernel does one output per channel and at most DW_MAX_TAPS taps */
  if (conv->path == QE_CONV_DEPTHWISE &&
      (conv->o != conv->c || conv->kh * conv->kw > DW_MAX_TAPS))
    conv->path = QE_CONV_IM2COL;
}

static size_t group_k(const qe_conv2d* cv) { return cv->kh * cv->kw * (cv->c / cv->groups); }

static size_t group_bytes(const qe_conv2d* cv) {
  return qe_round_up(qe_qs16_gemm_packed_w_size(qe_qs16_gemm_kernel_for(cv->isa),
                                                cv->o / cv->groups, group_k(cv)), 64);
}

static size_t dw_taps(const qe_conv2d* cv) { return cv->kh * cv->kw; }

size_t qe_qs16_conv2d_packed_size(const qe_conv2d* cv) {
  if (cv->path == QE_CONV_DEPTHWISE)
    return QE_QS16_HEADER_BYTES + cv->c * (8 + 4 + 4) + dw_taps(cv) * cv->c * 2;
  return cv->groups * group_bytes(cv);
}

void qe_qs16_conv2d_pack(const qe_conv2d* cv, const int8_t* w, const int64_t* bias,
                         const int32_t* m0, const int32_t* sh, void* packed) {
  if (cv->path == QE_CONV_DEPTHWISE) {
    const size_t c = cv->c, taps = dw_taps(cv);
    uint8_t* base = (uint8_t*)packed;
    memset(base, 0, QE_QS16_HEADER_BYTES);
    *(uint32_t*)base = (uint32_t)qe_qs16_gemm_needs_acc64(c, taps, w, bias); /* w is [C][taps] */
    int64_t* pb = (int64_t*)(base + QE_QS16_HEADER_BYTES);
    int32_t* pm = (int32_t*)(pb + c);
    int32_t* ps = pm + c;
    int16_t* pw = (int16_t*)(ps + c);
    for (size_t j = 0; j < c; j++) {
      pb[j] = bias[j], pm[j] = m0[j], ps[j] = sh[j];
      for (size_t t = 0; t < taps; t++) pw[t * c + j] = w[j * taps + t];
    }
    return;
  }
  const qe_qs16_gemm_kernel* k = qe_qs16_gemm_kernel_for(cv->isa);
  const size_t og = cv->o / cv->groups, kg = group_k(cv);
  for (size_t g = 0; g < cv->groups; g++)
    qe_qs16_gemm_pack_w(k, og, kg, w + g * og * kg, bias + g * og, m0 + g * og, sh + g * og,
                        (uint8_t*)packed + g * group_bytes(cv));
}

/* 1 when any part of the layer accumulates in int64. */
int qe_qs16_conv2d_packed_acc64(const qe_conv2d* cv, const void* packed) {
  if (cv->path == QE_CONV_DEPTHWISE) return (int)*(const uint32_t*)packed;
  int any = 0;
  for (size_t g = 0; g < cv->groups; g++)
    any |= qe_qs16_gemm_packed_acc64((const uint8_t*)packed + g * group_bytes(cv));
  return any;
}

const char* qe_qs16_conv2d_kernel_name(const qe_conv2d* cv, const void* packed) {
  if (cv->path == QE_CONV_DEPTHWISE) return qe_qs16_ops_kernel_name("dwconv");
  return qe_qs16_gemm_kernel_name(qe_qs16_gemm_kernel_for(cv->isa),
                                  qe_qs16_conv2d_packed_acc64(cv, packed));
}

size_t qe_qs16_conv2d_scratch_size(const qe_conv2d* cv, size_t n, size_t h, size_t w,
                                   int num_threads) {
  const qe_qs16_gemm_kernel* k = qe_qs16_gemm_kernel_for(cv->isa);
  if (cv->path == QE_CONV_DEPTHWISE) return 64 + cv->c * sizeof(int16_t);
  if (cv->path == QE_CONV_GEMM_1X1) return qe_qs16_gemm_scratch_size(k, n * h * w, cv->c);
  size_t ho, wo;
  qe_conv2d_out_size(cv, h, w, &ho, &wo);
  const size_t m = n * ho * wo;
  return 64 + qe_round_up(m * group_k(cv) * sizeof(int16_t), 64) +
         qe_qs16_gemm_scratch_size(k, m, group_k(cv));
}

typedef struct {
  const qe_conv2d* cv;
  const qe_qs16_ops* ops;
  const uint8_t* packed;
  const int16_t* x;
  uint8_t* y;
  const int16_t* pad_row;
  int16_t* cols;
  size_t h, w, ho, wo, g, esize;
  qe_qs16_params p;
} conv_job;

/* One task = one output row (n, oy) of the depthwise path. */
static void dw_task(void* ctx, size_t t) {
  const conv_job* J = (const conv_job*)ctx;
  const qe_conv2d* cv = J->cv;
  const size_t c = cv->c, taps = dw_taps(cv), b = t / J->ho, oy = t % J->ho;
  const int acc64 = (int)*(const uint32_t*)J->packed;
  const int64_t* bias = (const int64_t*)(J->packed + QE_QS16_HEADER_BYTES);
  const int32_t* m0 = (const int32_t*)(bias + c);
  const int32_t* sh = m0 + c;
  const int16_t* wk = (const int16_t*)(sh + c);
  const int16_t* ind[QE_QS16_DW_PIXELS * DW_MAX_TAPS];
  for (size_t ox0 = 0; ox0 < J->wo; ox0 += QE_QS16_DW_PIXELS) {
    const size_t pixels = QE_MIN((size_t)QE_QS16_DW_PIXELS, J->wo - ox0);
    size_t k = 0;
    for (size_t ox = ox0; ox < ox0 + pixels; ox++)
      for (size_t ky = 0; ky < cv->kh; ky++) {
        const size_t iy = oy * cv->stride_h + ky * cv->dilation_h - cv->pad_top;
        for (size_t kx = 0; kx < cv->kw; kx++, k++) {
          const size_t ix = ox * cv->stride_w + kx * cv->dilation_w - cv->pad_left;
          ind[k] = (iy >= J->h || ix >= J->w) ? J->pad_row
                                              : J->x + ((b * J->h + iy) * J->w + ix) * c;
        }
      }
    J->ops->dwconv_row(c, pixels, taps, ind, wk, bias, m0, sh, acc64,
                       J->y + ((b * J->ho + oy) * J->wo + ox0) * c * J->esize, &J->p);
  }
}

/* One task = one output row (n, oy): its im2col rows for group g. */
static void im2col_task(void* ctx, size_t t) {
  const conv_job* J = (const conv_job*)ctx;
  const qe_conv2d* cv = J->cv;
  const size_t cg = cv->c / cv->groups, kg = group_k(cv), b = t / J->ho, oy = t % J->ho;
  for (size_t ox = 0; ox < J->wo; ox++) {
    int16_t* dst = J->cols + ((b * J->ho + oy) * J->wo + ox) * kg;
    for (size_t ky = 0; ky < cv->kh; ky++) {
      const size_t iy = oy * cv->stride_h + ky * cv->dilation_h - cv->pad_top;
      for (size_t kx = 0; kx < cv->kw; kx++, dst += cg) {
        const size_t ix = ox * cv->stride_w + kx * cv->dilation_w - cv->pad_left;
        if (iy >= J->h || ix >= J->w)
          for (size_t i = 0; i < cg; i++) dst[i] = (int16_t)cv->pad_value;
        else
          memcpy(dst, J->x + ((b * J->h + iy) * J->w + ix) * cv->c + J->g * cg,
                 cg * sizeof(int16_t));
      }
    }
  }
}

void qe_qs16_conv2d_run(const qe_conv2d* cv, const void* packed, size_t n, size_t h, size_t w,
                        const int16_t* x, void* y, int out8, int32_t zo, int32_t qmin,
                        int32_t qmax, void* scratch, int num_threads) {
  const qe_qs16_gemm_kernel* k = qe_qs16_gemm_kernel_for(cv->isa);
  uint8_t* s = (uint8_t*)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
  if (cv->path == QE_CONV_GEMM_1X1) {
    qe_qs16_gemm_run(k, n * h * w, cv->o, cv->c, x, cv->c, packed, y, cv->o, out8, zo, qmin,
                     qmax, scratch, num_threads);
    return;
  }
  conv_job J;
  J.cv = cv, J.ops = qe_qs16_ops_for(cv->isa), J.packed = (const uint8_t*)packed, J.x = x;
  J.y = (uint8_t*)y, J.h = h, J.w = w, J.esize = out8 ? 1 : 2;
  J.p.zo = zo, J.p.qmin = qmin, J.p.qmax = qmax, J.p.out8 = out8;
  qe_conv2d_out_size(cv, h, w, &J.ho, &J.wo);
  const size_t m = n * J.ho * J.wo;
  if (m == 0 || cv->o == 0) return;
  if (cv->path == QE_CONV_DEPTHWISE) {
    int16_t* pad = (int16_t*)s;
    for (size_t i = 0; i < cv->c; i++) pad[i] = (int16_t)cv->pad_value;
    J.pad_row = pad;
    qe_parallel_for(num_threads, n * J.ho, dw_task, &J);
    return;
  }
  const size_t og = cv->o / cv->groups, kg = group_k(cv);
  J.cols = (int16_t*)s;
  void* gemm_scratch = s + qe_round_up(m * kg * sizeof(int16_t), 64);
  for (size_t g = 0; g < cv->groups; g++) {
    J.g = g;
    qe_parallel_for(num_threads, n * J.ho, im2col_task, &J);
    qe_qs16_gemm_run(k, m, og, kg, J.cols, kg, (const uint8_t*)packed + g * group_bytes(cv),
                     J.y + g * og * J.esize, cv->o, out8, zo, qmin, qmax, gemm_scratch,
                     num_threads);
  }
}
