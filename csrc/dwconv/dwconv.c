/* Depthwise convolution driver: packing, indirection rows, threads. ISA-neutral; the
 * microkernels live in qs8_dwconv_*.c, one file per variant.
 *
 * Padding and stride go into an indirection row: for each output pixel, kh * kw pointers
 * to input pixels, or to a pad row of pad_value bytes where the window leaves the image.
 * The microkernel then never tests borders, and one kernel serves every stride, dilation
 * and padding; only the tap count is specialised (3x3 and 5x5). A channel multiplier > 1
 * (O = m * C) is served by first repeating each input channel m times in scratch, so the
 * kernels always see output channel o read input channel o. */
#include "dwconv/dwconv.h"

#include <string.h>

static const qe_dwconv_kernel* kernels_for(int isa) {
  switch (isa) {
#ifdef QE_HAVE_AVX2
    case QE_ISA_AVX2: return qe_dwconv_kernels__avx2;
#endif
#ifdef QE_HAVE_AVX512VNNI
    case QE_ISA_AVX512VNNI: return qe_dwconv_kernels__avx512vnni;
#endif
#ifdef QE_HAVE_NEON
    case QE_ISA_NEON: /* fall through: the NEON kernel needs nothing of ARMv8.2 */
    case QE_ISA_NEONDOT: return qe_dwconv_kernels__neon;
#endif
    default: return qe_dwconv_kernels__scalar;
  }
}

const qe_dwconv_kernel* qe_dwconv_kernel_pick(int isa, size_t taps) {
  const qe_dwconv_kernel* k = kernels_for(isa);
  for (; k->taps != 0; k++)
    if (k->taps == taps) return k;
  return k; /* the any-taps kernel closes the specialised ones */
}

static size_t cpad_of(const qe_conv2d* conv) { return qe_round_up(conv->o, QE_DW_CPAD); }

size_t qe_dwconv_packed_size(const qe_conv2d* conv) {
  return cpad_of(conv) * (5 * sizeof(int32_t) + conv->kh * conv->kw);
}

/* eq. 5 without the clamp, exact in int64 (|acc * m0| < 2^62). */
static int64_t requant_raw(int64_t acc, int32_t m0, int32_t sh) {
  return (acc * m0 + ((int64_t)1 << (sh - 1))) >> sh;
}

/* Accumulator bounds [amin, amax]: r = requant_raw(acc) is non-decreasing in acc (m0 >= 0).
 * amax is the smallest acc with r >= 256 and amin the largest with r <= -256 (or the int32
 * limits). Since zo, qmin, qmax lie in [-128, 127], clamping acc to them never changes the
 * output of eq. 5, and afterwards |r| <= 256 + m0 * 2^-sh + 1 < 2^30 + 257: r + zo fits
 * int32, so SIMD kernels may keep the low 32 bits of the 64-bit result. */
static void acc_bounds(int32_t m0, int32_t sh, int32_t* amin, int32_t* amax) {
  int64_t lo = INT32_MIN, hi = INT32_MAX;
  if (requant_raw(hi, m0, sh) < 256) {
    *amax = INT32_MAX;
  } else {
    while (lo < hi) { /* smallest acc with r >= 256 */
      const int64_t mid = lo + (hi - lo) / 2;
      if (requant_raw(mid, m0, sh) >= 256) hi = mid; else lo = mid + 1;
    }
    *amax = (int32_t)lo;
  }
  lo = INT32_MIN, hi = INT32_MAX;
  if (requant_raw(lo, m0, sh) > -256) {
    *amin = INT32_MIN;
  } else {
    while (lo < hi) { /* largest acc with r <= -256 */
      const int64_t mid = lo + (hi - lo + 1) / 2;
      if (requant_raw(mid, m0, sh) <= -256) lo = mid; else hi = mid - 1;
    }
    *amin = (int32_t)lo;
  }
}

void qe_dwconv_pack(const qe_conv2d* conv, const int8_t* w, const int32_t* bias,
                    const int32_t* m0, const int32_t* sh, void* packed) {
  const size_t cp = cpad_of(conv), taps = conv->kh * conv->kw;
  int32_t* pb = (int32_t*)packed;
  int32_t *pm = pb + cp, *ps = pm + cp, *plo = ps + cp, *phi = plo + cp;
  int8_t* pw = (int8_t*)(pb + 5 * cp);
  memset(packed, 0, qe_dwconv_packed_size(conv));
  for (size_t o = 0; o < cp; o++) {
    if (o >= conv->o) {
      ps[o] = 1;
      continue;
    }
    pb[o] = bias[o], pm[o] = m0[o], ps[o] = sh[o];
    acc_bounds(m0[o], sh[o], &plo[o], &phi[o]);
    for (size_t ky = 0; ky < conv->kh; ky++)
      for (size_t kx = 0; kx < conv->kw; kx++)
        pw[(kx * conv->kh + ky) * cp + o] = w[o * taps + ky * conv->kw + kx];
  }
}

static size_t out_dim(size_t in, size_t pad0, size_t pad1, size_t k, size_t d, size_t s) {
  const size_t span = d * (k - 1) + 1;
  return in + pad0 + pad1 < span ? 0 : (in + pad0 + pad1 - span) / s + 1;
}

/* Pointers in one row's indirection: one list of kh per input column when the columns can
 * be shared (dilation_w == 1), else kh * kw per output pixel. */
#define QE_DW_MAX_SHARED_KH 64
static int shares_columns(const qe_conv2d* conv) {
  return conv->dilation_w == 1 && conv->kh <= QE_DW_MAX_SHARED_KH;
}

static size_t ind_len(const qe_conv2d* conv, size_t wo) {
  if (shares_columns(conv)) return ((wo - 1) * conv->stride_w + conv->kw) * conv->kh;
  return wo * conv->kh * conv->kw;
}

static size_t slots_for(size_t rows, int num_threads) {
  return QE_MAX((size_t)1, QE_MIN(rows, (size_t)QE_MAX(num_threads, 1)));
}

size_t qe_dwconv_scratch_size(const qe_conv2d* conv, size_t n, size_t h, size_t w,
                              int num_threads) {
  const size_t ho = out_dim(h, conv->pad_top, conv->pad_bottom, conv->kh, conv->dilation_h,
                            conv->stride_h);
  const size_t wo = out_dim(w, conv->pad_left, conv->pad_right, conv->kw, conv->dilation_w,
                            conv->stride_w);
  const size_t expand = conv->o != conv->c ? qe_round_up(n * h * w * conv->o, 64) : 0;
  const size_t ind = ind_len(conv, wo) * sizeof(void*);
  return 64 + cpad_of(conv) + expand + slots_for(n * ho, num_threads) * ind;
}

typedef struct {
  const qe_conv2d* conv;
  const qe_dwconv_kernel* k;
  const void* packed;
  const int8_t *x, *pad_row;
  int8_t* y;
  size_t h, w, cx, ho, wo, rows, slots;
  const int8_t** ind; /* slots x (wo * taps) */
  qe_dwconv_params p;
} dw_job;

static void dw_task(void* ctx, size_t s) {
  const dw_job* J = (const dw_job*)ctx;
  const qe_conv2d* cv = J->conv;
  const size_t kh = cv->kh, kw = cv->kw, taps = kh * kw;
  const int8_t** ind = J->ind + s * ind_len(cv, J->wo);
  const size_t r0 = s * J->rows / J->slots, r1 = (s + 1) * J->rows / J->slots;
  const int shared = shares_columns(cv);
  const size_t step = shared ? kh * cv->stride_w : taps;
  const size_t ncols = shared ? (J->wo - 1) * cv->stride_w + kw : 0;
  for (size_t r = r0; r < r1; r++) {
    const size_t b = r / J->ho, oy = r % J->ho;
    const int8_t* img = J->x + b * J->h * J->w * J->cx;
    if (shared) { /* ind[j * kh + ky]: padded column j = ox * stride_w + kx */
      /* input row of each ky, or NULL above/below the image (unsigned wrap catches < 0) */
      const int8_t* rows[QE_DW_MAX_SHARED_KH];
      for (size_t ky = 0; ky < kh; ky++) {
        const size_t iy = oy * cv->stride_h + ky * cv->dilation_h - cv->pad_top;
        rows[ky] = iy < J->h ? img + iy * J->w * J->cx : NULL;
      }
      for (size_t j = 0; j < ncols; j++) {
        const size_t ix = j - cv->pad_left;
        for (size_t ky = 0; ky < kh; ky++)
          ind[j * kh + ky] = (rows[ky] && ix < J->w) ? rows[ky] + ix * J->cx : J->pad_row;
      }
    } else { /* ind[ox * taps + kx * kh + ky] */
      for (size_t ox = 0; ox < J->wo; ox++)
        for (size_t kx = 0; kx < kw; kx++) {
          const size_t ix = ox * cv->stride_w + kx * cv->dilation_w - cv->pad_left;
          for (size_t ky = 0; ky < kh; ky++) {
            const size_t iy = oy * cv->stride_h + ky * cv->dilation_h - cv->pad_top;
            ind[ox * taps + kx * kh + ky] =
                (iy < J->h && ix < J->w) ? img + (iy * J->w + ix) * J->cx : J->pad_row;
          }
        }
    }
    J->k->ukernel(cv->o, J->wo, taps, step, ind, J->packed, cpad_of(cv),
                  J->y + r * J->wo * cv->o, cv->o, &J->p);
  }
}

void qe_dwconv_run(const qe_conv2d* conv, const void* packed, size_t n, size_t h, size_t w,
                   const int8_t* x, int8_t* y, int32_t zo, int32_t qmin, int32_t qmax,
                   void* scratch, int num_threads) {
  dw_job J;
  J.conv = conv;
  J.k = qe_dwconv_kernel_pick(conv->isa, conv->kh * conv->kw);
  J.packed = packed;
  J.h = h, J.w = w, J.y = y;
  J.ho = out_dim(h, conv->pad_top, conv->pad_bottom, conv->kh, conv->dilation_h, conv->stride_h);
  J.wo = out_dim(w, conv->pad_left, conv->pad_right, conv->kw, conv->dilation_w, conv->stride_w);
  J.rows = n * J.ho;
  if (J.rows == 0 || J.wo == 0 || conv->o == 0) return;
  J.slots = slots_for(J.rows, num_threads);
  J.p.zo = zo, J.p.qmin = qmin, J.p.qmax = qmax;

  uint8_t* s = (uint8_t*)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
  memset(s, (int)(int8_t)conv->pad_value, cpad_of(conv));
  J.pad_row = (const int8_t*)s;
  s += cpad_of(conv);
  if (conv->o != conv->c) { /* channel multiplier m: repeat each input channel m times */
    const size_t m = conv->o / conv->c, pixels = n * h * w;
    int8_t* xe = (int8_t*)s;
    for (size_t i = 0; i < pixels; i++)
      for (size_t c = 0; c < conv->c; c++)
        memset(xe + i * conv->o + c * m, x[i * conv->c + c], m);
    x = xe;
    s += qe_round_up(pixels * conv->o, 64);
  }
  J.x = x;
  J.cx = conv->o;
  J.ind = (const int8_t**)s;
  qe_parallel_for(num_threads, J.slots, dw_task, &J);
}
