/* 2-D convolution: picks a path, packs, runs (qengine_conv.h). ISA-neutral.
 *
 * Paths (docs/ARCHITECTURE.md, "Convolution"):
 *  - QE_CONV_GEMM_1X1: the NHWC input already is the GEMM's A [N*H*W, C]: qe_gemm_run, no copy.
 *  - QE_CONV_DEPTHWISE: csrc/dwconv/ (its own packing and kernels).
 *  - QE_CONV_IM2COL: for each block of output pixels and each group, im2col rows are
 *    written straight into the GEMM kernel's packed-activation form (Kp bytes, XOR a_xor,
 *    as qe_gemm_pack_a would), then the GEMM microkernel runs over every weight panel.
 * Weights of the two GEMM paths: per group, one qe_gemm_pack_w blob of [O/groups, kh*kw*Cg]
 * (OHWI rows are already im2col order: ky, kx, c), each at a 64-byte multiple. */
#include <string.h>

#include "dwconv/dwconv.h"
#include "gemm/gemm.h"

void qe_conv2d_setup(qe_conv2d* conv, int isa, int force_generic) {
  conv->isa = isa;
  if (force_generic)
    conv->path = QE_CONV_IM2COL;
  else if (conv->groups == conv->c && conv->c > 1)
    conv->path = QE_CONV_DEPTHWISE;
  else if (conv->kh == 1 && conv->kw == 1 && conv->stride_h == 1 && conv->stride_w == 1 &&
           conv->pad_top == 0 && conv->pad_left == 0 && conv->pad_bottom == 0 &&
           conv->pad_right == 0 && conv->groups == 1)
    conv->path = QE_CONV_GEMM_1X1;
  else
    conv->path = QE_CONV_IM2COL;
}

static size_t out_dim(size_t in, size_t pad0, size_t pad1, size_t k, size_t d, size_t s) {
  const size_t span = d * (k - 1) + 1;
  return in + pad0 + pad1 < span ? 0 : (in + pad0 + pad1 - span) / s + 1;
}

void qe_conv2d_out_size(const qe_conv2d* conv, size_t h, size_t w, size_t* ho, size_t* wo) {
  *ho = out_dim(h, conv->pad_top, conv->pad_bottom, conv->kh, conv->dilation_h, conv->stride_h);
  *wo = out_dim(w, conv->pad_left, conv->pad_right, conv->kw, conv->dilation_w, conv->stride_w);
}

const char* qe_conv2d_kernel_name(const qe_conv2d* conv) {
  if (conv->path == QE_CONV_DEPTHWISE)
    return qe_dwconv_kernel_pick(conv->isa, conv->kh * conv->kw)->name;
  return qe_gemm_kernel_for(conv->isa)->name;
}

static size_t group_k(const qe_conv2d* conv) {
  return conv->kh * conv->kw * (conv->c / conv->groups);
}

static size_t group_bytes(const qe_conv2d* conv) {
  return qe_round_up(qe_gemm_packed_w_size(qe_gemm_kernel_for(conv->isa),
                                           conv->o / conv->groups, group_k(conv)), 64);
}

size_t qe_conv2d_packed_size(const qe_conv2d* conv) {
  if (conv->path == QE_CONV_DEPTHWISE) return qe_dwconv_packed_size(conv);
  return conv->groups * group_bytes(conv);
}

void qe_conv2d_pack(const qe_conv2d* conv, const int8_t* w, const int32_t* bias,
                    const int32_t* m0, const int32_t* sh, void* packed) {
  if (conv->path == QE_CONV_DEPTHWISE) {
    qe_dwconv_pack(conv, w, bias, m0, sh, packed);
    return;
  }
  const qe_gemm_kernel* k = qe_gemm_kernel_for(conv->isa);
  const size_t og = conv->o / conv->groups, kg = group_k(conv);
  for (size_t g = 0; g < conv->groups; g++)
    qe_gemm_pack_w(k, og, kg, w + g * og * kg, bias + g * og, m0 + g * og, sh + g * og,
                   (uint8_t*)packed + g * group_bytes(conv));
}

/* ---- im2col path ------------------------------------------------------------------------ */

typedef struct {
  size_t rows_per_block, blocks, slots, kp;
} im2col_plan;

static im2col_plan plan_im2col(const qe_conv2d* conv, size_t m, int num_threads) {
  const qe_gemm_kernel* k = qe_gemm_kernel_for(conv->isa);
  im2col_plan P;
  P.kp = qe_round_up(group_k(conv), k->kr);
  size_t rows = qe_gemm_block_rows(conv->o / conv->groups, P.kp);
  if (num_threads > 1) rows = QE_MIN(rows, qe_div_up(m, 4 * (size_t)num_threads));
  P.rows_per_block = qe_round_up(QE_MAX(QE_MIN(rows, m), (size_t)1), k->mr);
  P.blocks = qe_div_up(m, P.rows_per_block);
  P.slots = QE_MAX((size_t)1, QE_MIN(P.blocks, (size_t)QE_MAX(num_threads, 1)));
  return P;
}

typedef struct {
  const qe_conv2d* conv;
  const qe_gemm_kernel* k;
  im2col_plan P;
  const uint8_t* packed;
  const int8_t* x;
  int8_t* y;
  size_t m, h, w, ho, wo;
  uint8_t* buf; /* slots x rows_per_block x kp */
  qe_gemm_params p;
} im2col_job;

/* im2col rows [r0, r0 + rows) of group g, in the kernel's packed-A form: Kp bytes each,
 * activations XOR a_xor (eq. 7), padding taps hold pad_value ^ a_xor, zeros past K. With
 * one group and no horizontal dilation a kernel row's taps are contiguous in NHWC, so each
 * kernel row is one copy, clipped at the image's left and right edges; otherwise one copy
 * per tap. The pixel position advances incrementally (no division per row). */
static void im2col_rows(const im2col_job* J, size_t r0, size_t rows, size_t g, uint8_t* out) {
  const qe_conv2d* cv = J->conv;
  const size_t cg = cv->c / cv->groups, kg = group_k(cv), run = cv->kw * cg, kp = J->P.kp;
  const uint8_t pad = (uint8_t)cv->pad_value ^ J->k->a_xor;
  const int contiguous = cv->groups == 1 && cv->dilation_w == 1;
  /* interior pixels of an output row read the same kernel-row lines: kept per output row */
  enum { MAX_KH = 16 };
  const int fast = contiguous && cv->kh <= MAX_KH;
  const uint8_t* lines[MAX_KH];
  size_t b = r0 / (J->ho * J->wo), oy = r0 / J->wo % J->ho, ox = r0 % J->wo;
  int lines_valid = 0;
  for (size_t r = 0; r < rows; r++) {
    uint8_t* dst = out + r * kp;
    const ptrdiff_t ix0 = (ptrdiff_t)(ox * cv->stride_w) - (ptrdiff_t)cv->pad_left;
    if (fast && ix0 >= 0 && ix0 + (ptrdiff_t)cv->kw <= (ptrdiff_t)J->w) {
      if (!lines_valid) {
        for (size_t ky = 0; ky < cv->kh; ky++) {
          const size_t iy = oy * cv->stride_h + ky * cv->dilation_h - cv->pad_top;
          lines[ky] = iy >= J->h ? NULL
                                 : (const uint8_t*)J->x + (b * J->h + iy) * J->w * cv->c + g * cg;
        }
        lines_valid = 1;
      }
      for (size_t ky = 0; ky < cv->kh; ky++, dst += run) {
        if (lines[ky])
          qe_gemm_copy(J->k, dst, lines[ky] + (size_t)ix0 * cv->c, run);
        else
          memset(dst, pad, run);
      }
    } else {
      for (size_t ky = 0; ky < cv->kh; ky++, dst += run) {
        const size_t iy = oy * cv->stride_h + ky * cv->dilation_h - cv->pad_top; /* wraps if < 0 */
        if (iy >= J->h) {
          memset(dst, pad, run);
          continue;
        }
        const uint8_t* line = (const uint8_t*)J->x + (b * J->h + iy) * J->w * cv->c + g * cg;
        if (contiguous) { /* clipped at the image's left and right edges */
          const size_t left = ix0 < 0 ? QE_MIN((size_t)-ix0, cv->kw) : 0;
          const ptrdiff_t past = ix0 + (ptrdiff_t)cv->kw - (ptrdiff_t)J->w;
          const size_t right = past > 0 ? QE_MIN((size_t)past, cv->kw - left) : 0;
          if (left) memset(dst, pad, left * cg);
          if (left + right < cv->kw)
            qe_gemm_copy(J->k, dst + left * cg,
                         line + (size_t)(ix0 + (ptrdiff_t)left) * cv->c,
                         (cv->kw - left - right) * cg);
          if (right) memset(dst + run - right * cg, pad, right * cg);
          continue;
        }
        for (size_t kx = 0; kx < cv->kw; kx++) {
          const size_t ix = ox * cv->stride_w + kx * cv->dilation_w - cv->pad_left;
          if (ix >= J->w)
            memset(dst + kx * cg, pad, cg);
          else
            qe_gemm_copy(J->k, dst + kx * cg, line + ix * cv->c, cg);
        }
      }
    }
    for (size_t i = kg; i < kp; i++) out[r * kp + i] = 0; /* zero weights meet zeros past K */
    if (++ox == J->wo) {
      ox = 0, lines_valid = 0;
      if (++oy == J->ho) oy = 0, b++;
    }
  }
}

static void im2col_task(void* ctx, size_t s) {
  const im2col_job* J = (const im2col_job*)ctx;
  const qe_conv2d* cv = J->conv;
  const size_t nr = J->k->nr, kp = J->P.kp, og = cv->o / cv->groups;
  const size_t gbytes = group_bytes(cv), pbytes = qe_gemm_panel_bytes(J->k, group_k(cv));
  uint8_t* a = J->buf + s * J->P.rows_per_block * kp;
  for (size_t blk = s; blk < J->P.blocks; blk += J->P.slots) {
    const size_t r0 = blk * J->P.rows_per_block;
    const size_t rows = QE_MIN(J->P.rows_per_block, J->m - r0);
    for (size_t g = 0; g < cv->groups; g++) {
      im2col_rows(J, r0, rows, g, a);
      const uint8_t* wg = J->packed + g * gbytes;
      for (size_t j0 = 0; j0 < og; j0 += nr)
        qe_gemm_rows(J->k, rows, QE_MIN(nr, og - j0), kp, (const int8_t*)a, kp,
                     wg + (j0 / nr) * pbytes, J->y + r0 * cv->o + g * og + j0, cv->o, &J->p);
    }
  }
}

size_t qe_conv2d_scratch_size(const qe_conv2d* conv, size_t n, size_t h, size_t w,
                              int num_threads) {
  if (conv->path == QE_CONV_DEPTHWISE) return qe_dwconv_scratch_size(conv, n, h, w, num_threads);
  const qe_gemm_kernel* k = qe_gemm_kernel_for(conv->isa);
  if (conv->path == QE_CONV_GEMM_1X1) return qe_gemm_scratch_size(k, n * h * w, conv->c);
  size_t ho, wo;
  qe_conv2d_out_size(conv, h, w, &ho, &wo);
  const im2col_plan P = plan_im2col(conv, n * ho * wo, num_threads);
  return 64 + P.slots * P.rows_per_block * P.kp;
}

void qe_conv2d_run(const qe_conv2d* conv, const void* packed, size_t n, size_t h, size_t w,
                   const int8_t* x, int8_t* y, int32_t zo, int32_t qmin, int32_t qmax,
                   void* scratch, int num_threads) {
  if (conv->path == QE_CONV_DEPTHWISE) {
    qe_dwconv_run(conv, packed, n, h, w, x, y, zo, qmin, qmax, scratch, num_threads);
    return;
  }
  const qe_gemm_kernel* k = qe_gemm_kernel_for(conv->isa);
  if (conv->path == QE_CONV_GEMM_1X1) {
    qe_gemm_run(k, n * h * w, conv->o, conv->c, x, conv->c, packed, y, conv->o, zo, qmin,
                qmax, scratch, num_threads);
    return;
  }
  im2col_job J;
  J.conv = conv, J.k = k, J.packed = (const uint8_t*)packed, J.x = x, J.y = y;
  J.h = h, J.w = w;
  qe_conv2d_out_size(conv, h, w, &J.ho, &J.wo);
  J.m = n * J.ho * J.wo;
  if (J.m == 0 || conv->o == 0) return;
  J.P = plan_im2col(conv, J.m, num_threads);
  J.buf = (uint8_t*)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
  J.p.zo = zo, J.p.qmin = qmin, J.p.qmax = qmax;
  qe_parallel_for(num_threads, J.P.slots, im2col_task, &J);
}
