/* AVX2 K-blocked (1x4) sparse kernel: 32 positions x 16 channels per tile.
 *
 * AVX2 has no vpdpbusd, and vpmaddubsw saturates, so the 4 products of a block are formed
 * in 16 bits with vpmaddwd (exact for int8 x int8). Activations (pack, elem = 8): each
 * k-block row holds two sub-rows of Mp int16 pairs, sub-row s at + s * Mp * 4 holding
 * {a[m, 4kb + 2s], a[m, 4kb + 2s + 1]} per position; a block is then two vpmaddwd per 8
 * positions, by the broadcast weight pairs {w0, w1} and {w2, w3}. eq. 5 in registers (the
 * exact 32-bit form for 33 <= sh <= 54, else eq. 6 of requant__avx2.h), two saturating
 * packs, a 16 x 16 byte transpose per 128-bit lane, and rows of 16 channels stored to C.
 * Channel-major (pack_cm, mm_cm): the same layout packed from A^T; channel by channel, each
 * tile's 32 bytes put in position order by one vpermd and stored along the channel's row
 * of C^T. */
#include <immintrin.h>
#include <string.h>

#include "common/requant__avx2.h"
#include "sparse/kb4.h"

#define T 32
#define INLINE static inline __attribute__((always_inline))

/* x[i] dword j -> x[j] dword i (8 x 8 int32). */
INLINE void tr8x8_epi32(__m256i x[8]) {
  __m256i t[8], u[8];
  for (int i = 0; i < 4; i++) {
    t[2 * i] = _mm256_unpacklo_epi32(x[2 * i], x[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_epi32(x[2 * i], x[2 * i + 1]);
  }
  for (int q = 0; q < 2; q++) { /* u[4q + c], lane L: rows 4q..4q+3 of column 4L + c */
    u[4 * q + 0] = _mm256_unpacklo_epi64(t[4 * q], t[4 * q + 2]);
    u[4 * q + 1] = _mm256_unpackhi_epi64(t[4 * q], t[4 * q + 2]);
    u[4 * q + 2] = _mm256_unpacklo_epi64(t[4 * q + 1], t[4 * q + 3]);
    u[4 * q + 3] = _mm256_unpackhi_epi64(t[4 * q + 1], t[4 * q + 3]);
  }
  for (int c = 0; c < 4; c++) {
    x[c] = _mm256_permute2x128_si256(u[c], u[4 + c], 0x20);
    x[4 + c] = _mm256_permute2x128_si256(u[c], u[4 + c], 0x31);
  }
}

/* In each 128-bit lane: x[r] byte c -> x[c] byte r. */
INLINE void tr16x16_epi8_lanes(__m256i x[16]) {
  __m256i a[8], b[8], cq[4][4], d[2][8];
  for (int p = 0; p < 8; p++) {
    a[p] = _mm256_unpacklo_epi8(x[2 * p], x[2 * p + 1]);
    b[p] = _mm256_unpackhi_epi8(x[2 * p], x[2 * p + 1]);
  }
  for (int q = 0; q < 4; q++) {
    cq[q][0] = _mm256_unpacklo_epi16(a[2 * q], a[2 * q + 1]);
    cq[q][1] = _mm256_unpackhi_epi16(a[2 * q], a[2 * q + 1]);
    cq[q][2] = _mm256_unpacklo_epi16(b[2 * q], b[2 * q + 1]);
    cq[q][3] = _mm256_unpackhi_epi16(b[2 * q], b[2 * q + 1]);
  }
  for (int o = 0; o < 2; o++)
    for (int g = 0; g < 4; g++) {
      d[o][2 * g] = _mm256_unpacklo_epi32(cq[2 * o][g], cq[2 * o + 1][g]);
      d[o][2 * g + 1] = _mm256_unpackhi_epi32(cq[2 * o][g], cq[2 * o + 1][g]);
    }
  for (int h = 0; h < 8; h++) {
    x[2 * h] = _mm256_unpacklo_epi64(d[0][h], d[1][h]);
    x[2 * h + 1] = _mm256_unpackhi_epi64(d[0][h], d[1][h]);
  }
}

static void pack(size_t m0, size_t m, size_t k, const int8_t* a, size_t a_stride, uint8_t* at,
                 size_t at_stride) {
  const size_t kbs = qe_div_up(k, 4), sub = at_stride / 2; /* = Mp * 4 */
  for (size_t h = m0; h < m0 + QE_KB4_MP; h += 8) {
    const size_t rows = h < m ? QE_MIN((size_t)8, m - h) : 0;
    for (size_t k0 = 0; k0 < kbs; k0 += 4) { /* 16 bytes of k = 4 blocks = 8 pairs */
      const size_t kc = QE_MIN((size_t)16, k - 4 * k0);
      __m256i x[8];
      for (size_t r = 0; r < 8; r++) {
        __m128i v = _mm_setzero_si128();
        if (r < rows) {
          const int8_t* src = a + (h + r) * a_stride + 4 * k0;
          if (kc == 16) {
            v = _mm_loadu_si128((const __m128i*)src);
          } else {
            int8_t tmp[16] = {0};
            memcpy(tmp, src, kc);
            v = _mm_loadu_si128((const __m128i*)tmp);
          }
        }
        x[r] = _mm256_cvtepi8_epi16(v);
      }
      tr8x8_epi32(x); /* x[p]: pair p (k = 4 k0 + 2p, +1) of the 8 positions */
      for (size_t p = 0; p < 8 && k0 + p / 2 < kbs; p++)
        _mm256_storeu_si256((__m256i*)(at + (k0 + p / 2) * at_stride + (p % 2) * sub + 4 * h),
                            x[p]);
    }
  }
}

/* vpshufb indices that move bytes 16 - t .. 15 down to 0 .. t - 1 and zero the rest:
 * the 16 bytes at kSlide + 16 - t */
static const int8_t kSlide[32] = {0,    1,    2,    3,    4,    5,    6,    7,
                                  8,    9,    10,   11,   12,   13,   14,   15,
                                  -128, -128, -128, -128, -128, -128, -128, -128,
                                  -128, -128, -128, -128, -128, -128, -128, -128};

/* The same layout from A^T [K, M]: per 8 positions, the two rows of a pair widened to int16
 * and interleaved (within 128-bit lanes, so a lane swap puts positions in order). */
static void pack_cm(size_t m0, size_t m, size_t k, const int8_t* a, size_t a_stride,
                    uint8_t* at, size_t at_stride) {
  const size_t kbs = qe_div_up(k, 4), sub = at_stride / 2;
  const size_t mt = QE_MIN((size_t)QE_KB4_MP, m - m0);
  for (size_t kb = 0; kb < kbs; kb++)
    for (size_t s = 0; s < 2; s++) {
      const size_t k0 = 4 * kb + 2 * s; /* the pair's rows k0, k0 + 1 */
      uint8_t* dst = at + kb * at_stride + s * sub + 4 * m0;
      for (size_t h = 0; h < mt; h += 16) {
        __m128i r[2];
        for (size_t j = 0; j < 2; j++) {
          if (k0 + j >= k) {
            r[j] = _mm_setzero_si128();
            continue;
          }
          const int8_t* src = a + (k0 + j) * a_stride + m0 + h;
          if (mt - h >= 16) {
            r[j] = _mm_loadu_si128((const __m128i*)src);
          } else if (m0 + h >= 16) { /* the 16 bytes ending at the tail's end, moved down */
            const size_t tail = mt - h;
            r[j] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i*)(src + tail - 16)),
                                    _mm_loadu_si128((const __m128i*)(kSlide + 16 - tail)));
          } else {
            int8_t tmp[16] = {0};
            memcpy(tmp, src, mt - h);
            r[j] = _mm_loadu_si128((const __m128i*)tmp);
          }
        }
        const __m256i x0 = _mm256_cvtepi8_epi16(r[0]), x1 = _mm256_cvtepi8_epi16(r[1]);
        const __m256i lo = _mm256_unpacklo_epi16(x0, x1); /* positions 0-3 | 8-11 */
        const __m256i hi = _mm256_unpackhi_epi16(x0, x1); /* positions 4-7 | 12-15 */
        _mm256_storeu_si256((__m256i*)(dst + 4 * h), _mm256_permute2x128_si256(lo, hi, 0x20));
        _mm256_storeu_si256((__m256i*)(dst + 4 * h + 32),
                            _mm256_permute2x128_si256(lo, hi, 0x31));
      }
    }
}

/* One channel's blocks and bias. */
typedef struct {
  const int32_t *kb, *w;
  size_t cnt;
  int32_t bias;
} chan;

INLINE chan chan_of(const qe_spmm_kb4_w* W, size_t n) {
  chan ch = {W->kb + W->ptr[n], W->w + W->ptr[n], (size_t)(W->ptr[n + 1] - W->ptr[n]),
             W->bias[n]};
  return ch;
}

/* acc[g] = bias + the channel's blocks, for G x 8 positions */
INLINE void accumulate(const size_t G, const chan* ch, const uint8_t* at, size_t at_stride,
                       __m256i acc[4]) {
  const size_t sub = at_stride / 2;
  for (size_t g = 0; g < G; g++) acc[g] = _mm256_set1_epi32(ch->bias);
  for (size_t b = 0; b < ch->cnt; b++) {
    const __m128i w16 = _mm_cvtepi8_epi16(_mm_cvtsi32_si128(ch->w[b]));
    const __m256i w01 = _mm256_broadcastd_epi32(w16);
    const __m256i w23 = _mm256_broadcastd_epi32(_mm_srli_si128(w16, 4));
    const uint8_t* x = at + (size_t)ch->kb[b] * at_stride;
    for (size_t g = 0; g < G; g++) /* one add into the chain per block */
      acc[g] = _mm256_add_epi32(
          acc[g], _mm256_add_epi32(
                      _mm256_madd_epi16(_mm256_loadu_si256((const __m256i*)(x + 32 * g)), w01),
                      _mm256_madd_epi16(_mm256_loadu_si256((const __m256i*)(x + sub + 32 * g)), w23)));
  }
}

/* The 32-bit form of eq. 5 (33 <= sh <= 54: sh_max(zo) = 54 for every int8 zo); the packs
 * of pack_clamp clamp, so no qe_requant_avx2 and its clamps. */
INLINE int32_t high32_rnd(int32_t sh, int32_t zo) {
  return (int32_t)(((int64_t)1 << (sh - 33)) + (int64_t)zo * ((int64_t)1 << (sh - 32)));
}

INLINE void requant_high32(const size_t G, const __m256i acc[4], int32_t m0, int32_t rnd,
                           int32_t sh, __m256i y[4]) {
  const __m256i vm0 = _mm256_set1_epi32(m0), vrnd = _mm256_set1_epi32(rnd);
  const __m256i shift = _mm256_set1_epi32(sh - 32);
  for (size_t g = 0; g < G; g++) y[g] = qe_requant_avx2_high32(acc[g], vm0, vrnd, shift);
}

INLINE void requant_any(const size_t G, const __m256i acc[4], int32_t m0, int32_t sh,
                        const qe_spmm_params* p, __m256i y[4]) {
  const qe_requant_avx2 r = qe_requant_avx2_init(m0, sh, p->zo, p->qmin, p->qmax);
  for (size_t g = 0; g < G; g++) y[g] = qe_requant_avx2_8(acc[g], &r);
}

/* y[0 .. G-1] (the rest 0) to 32 int8 in [qmin, qmax]: lane l byte b = position
 * 8 (b / 4) + 4 l + b % 4 */
INLINE __m256i pack_clamp(const __m256i y[4], const qe_spmm_params* p) {
  __m256i v = _mm256_packs_epi16(_mm256_packs_epi32(y[0], y[1]), _mm256_packs_epi32(y[2], y[3]));
  if (p->qmin > -128) v = _mm256_max_epi8(v, _mm256_set1_epi8((char)p->qmin));
  if (p->qmax < 127) v = _mm256_min_epi8(v, _mm256_set1_epi8((char)p->qmax));
  return v;
}

/* One channel, G x 8 positions (pack_clamp's order), the eq. 5 form chosen inside. (Sharing
 * row_tile's body, with the form as a constant per call site, doubles the code the NHWC
 * tile inlines for its 16 channels: NHWC 3-7% slower, C timing.) */
INLINE __m256i channel(const size_t G, const qe_spmm_kb4_w* W, size_t n, const uint8_t* at,
                       size_t at_stride, const qe_spmm_params* p) {
  const chan ch = chan_of(W, n);
  __m256i acc[4], y[4];
  accumulate(G, &ch, at, at_stride, acc);
  for (size_t g = 0; g < 4; g++) y[g] = _mm256_setzero_si256();
  const int32_t sh = W->sh[n];
  if (sh >= 33 && sh <= 54)
    requant_high32(G, acc, W->m0[n], high32_rnd(sh, p->zo), sh, y);
  else
    requant_any(G, acc, W->m0[n], sh, p, y);
  return pack_clamp(y, p);
}

INLINE void store16(int8_t* dst, __m128i v, size_t nc) {
  if (nc == 16) {
    _mm_storeu_si128((__m128i*)dst, v);
  } else {
    int8_t tmp[16];
    _mm_storeu_si128((__m128i*)tmp, v);
    memcpy(dst, tmp, nc);
  }
}

INLINE void tile(const size_t G, const qe_spmm_kb4_w* W, size_t n0, size_t n1,
                 const uint8_t* at, size_t at_stride, size_t mt, int8_t* c, size_t c_stride,
                 const qe_spmm_params* p) {
  for (size_t n = n0; n < n1 && n < W->n; n += 16) {
    const size_t nc = QE_MIN((size_t)16, W->n - n);
    __m256i x[16];
    for (size_t j = 0; j < 16; j++)
      x[j] = j < nc ? channel(G, W, n + j, at, at_stride, p) : _mm256_setzero_si256();
    tr16x16_epi8_lanes(x);
    for (size_t b = 0; b < 16; b++) {
      const size_t pos = 8 * (b >> 2) + (b & 3);
      if (pos < mt) store16(c + pos * c_stride + n, _mm256_castsi256_si128(x[b]), nc);
      if (pos + 4 < mt)
        store16(c + (pos + 4) * c_stride + n, _mm256_extracti128_si256(x[b], 1), nc);
    }
  }
}

/* NHWC: positions [mb, me) in tiles of T, every channel per tile, into C [M, N]. */
static void mm(const qe_spmm_kb4_w* W, size_t n0, size_t n1, const uint8_t* at,
               size_t at_stride, size_t mb, size_t me, int8_t* c, size_t c_stride,
               const qe_spmm_params* p) {
  for (size_t m = mb; m < me; m += T) {
    const size_t mt = QE_MIN((size_t)T, me - m);
    const uint8_t* atm = at + 4 * m;
    int8_t* cm = c + m * c_stride;
    switch (qe_div_up(mt, 8)) {
      case 1: tile(1, W, n0, n1, atm, at_stride, mt, cm, c_stride, p); break;
      case 2: tile(2, W, n0, n1, atm, at_stride, mt, cm, c_stride, p); break;
      case 3: tile(3, W, n0, n1, atm, at_stride, mt, cm, c_stride, p); break;
      default: tile(4, W, n0, n1, atm, at_stride, mt, cm, c_stride, p); break;
    }
  }
}

/* Channel n's tile of mt <= T positions (G = ceil(mt / 8) vectors), in position order (one
 * vpermd) into its row of C^T; EXACT32: the 32-bit form of eq. 5 applies, a constant. */
INLINE void row_tile(const size_t G, const int exact32, const chan* ch, int32_t m0,
                     int32_t rnd, int32_t sh, const uint8_t* at, size_t at_stride, size_t mt,
                     int8_t* dst, const qe_spmm_params* p) {
  __m256i acc[4], y[4];
  accumulate(G, ch, at, at_stride, acc);
  for (size_t g = 0; g < 4; g++) y[g] = _mm256_setzero_si256();
  if (exact32)
    requant_high32(G, acc, m0, rnd, sh, y);
  else
    requant_any(G, acc, m0, sh, p, y);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  const __m256i v = _mm256_permutevar8x32_epi32(pack_clamp(y, p), order);
  if (mt == T) {
    _mm256_storeu_si256((__m256i*)dst, v);
    return;
  }
  int8_t tmp[T];
  _mm256_storeu_si256((__m256i*)tmp, v);
  memcpy(dst, tmp, mt);
}

/* Channel n's row of C^T over positions [mb, me), EXACT32 constant: only one form's code
 * in the loop (as AVX-512 row_cm). */
INLINE void row_cm(const int exact32, const qe_spmm_kb4_w* W, size_t n, const uint8_t* at,
                   size_t at_stride, size_t mb, size_t me, int8_t* row,
                   const qe_spmm_params* p) {
  const chan ch = chan_of(W, n);
  const int32_t m0 = W->m0[n], sh = W->sh[n], rnd = exact32 ? high32_rnd(sh, p->zo) : 0;
  size_t m = mb;
  for (; m + T <= me; m += T)
    row_tile(4, exact32, &ch, m0, rnd, sh, at + 4 * m, at_stride, T, row + m, p);
  if (m == me) return;
  const size_t mt = me - m;
  const uint8_t* x = at + 4 * m;
  switch (qe_div_up(mt, 8)) {
    case 1: row_tile(1, exact32, &ch, m0, rnd, sh, x, at_stride, mt, row + m, p); break;
    case 2: row_tile(2, exact32, &ch, m0, rnd, sh, x, at_stride, mt, row + m, p); break;
    case 3: row_tile(3, exact32, &ch, m0, rnd, sh, x, at_stride, mt, row + m, p); break;
    default: row_tile(4, exact32, &ch, m0, rnd, sh, x, at_stride, mt, row + m, p); break;
  }
}

/* Channel-major: channel by channel, each row of C^T written in order (the tile-outer order
 * of NHWC, every channel per 32-position tile, took 44 us on b3_expand_56 at 95% against
 * 27, C timing); a channel without blocks gets its constant. */
static void mm_cm(const qe_spmm_kb4_w* W, size_t n0, size_t n1, const uint8_t* at,
                  size_t at_stride, size_t mb, size_t me, int8_t* c, size_t c_stride,
                  const qe_spmm_params* p) {
  for (size_t n = n0; n < n1 && n < W->n; n++) {
    int8_t* row = c + n * c_stride;
    if (qe_kb4_empty(W, n)) {
      const int8_t k = qe_kb4_empty_out(W, n, p);
      const __m256i v = _mm256_set1_epi8((char)k);
      size_t m = mb;
      for (; m + T <= me; m += T) _mm256_storeu_si256((__m256i*)(row + m), v);
      if (m < me) memset(row + m, k, me - m);
      continue;
    }
    const int32_t sh = W->sh[n];
    if (sh >= 33 && sh <= 54)
      row_cm(1, W, n, at, at_stride, mb, me, row, p);
    else
      row_cm(0, W, n, at, at_stride, mb, me, row, p);
  }
}

/* Matrix-vector (M < 4): 8 blocks of a channel per step, their activation dwords gathered
 * from the (signed) row, both operands widened to int16 and multiplied with vpmaddwd (a
 * masked gather and load leave the lanes past the channel's blocks at 0). */
static void mv(const qe_spmm_kb4_w* W, size_t n0, size_t n1, const int8_t* arow, int8_t* crow,
               const qe_spmm_params* p) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (size_t n = n0; n < n1; n++) {
    const int32_t *kb = W->kb + W->ptr[n], *wv = W->w + W->ptr[n];
    const size_t cnt = (size_t)(W->ptr[n + 1] - W->ptr[n]);
    __m256i acc = _mm256_setzero_si256();
    for (size_t i = 0; i < cnt; i += 8) {
      __m256i x, w;
      if (i + 8 <= cnt) {
        const __m256i idx = _mm256_loadu_si256((const __m256i*)(kb + i));
        x = _mm256_i32gather_epi32((const int*)arow, idx, 4);
        w = _mm256_loadu_si256((const __m256i*)(wv + i));
      } else {
        const __m256i mk = _mm256_cmpgt_epi32(_mm256_set1_epi32((int32_t)(cnt - i)), lanes);
        x = _mm256_mask_i32gather_epi32(_mm256_setzero_si256(), (const int*)arow,
                                        _mm256_maskload_epi32(kb + i, mk), mk, 4);
        w = _mm256_maskload_epi32(wv + i, mk);
      }
      const __m128i xl = _mm256_castsi256_si128(x), xh = _mm256_extracti128_si256(x, 1);
      const __m128i wl = _mm256_castsi256_si128(w), wh = _mm256_extracti128_si256(w, 1);
      acc = _mm256_add_epi32(
          acc, _mm256_madd_epi16(_mm256_cvtepi8_epi16(xl), _mm256_cvtepi8_epi16(wl)));
      acc = _mm256_add_epi32(
          acc, _mm256_madd_epi16(_mm256_cvtepi8_epi16(xh), _mm256_cvtepi8_epi16(wh)));
    }
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
    const int32_t s = qe_wrap_add(_mm_cvtsi128_si32(s4), W->bias[n]);
    crow[n] = (int8_t)qe_requant(s, W->m0[n], W->sh[n], p->zo, p->qmin, p->qmax);
  }
}

const qe_spmm_kb4_kernel qe_spmm_kb4_kernel__avx2 = {
    "qe_qs8_spmm_kb4_minmax_32x16__avx2", QE_ISA_AVX2, 8, pack, mm, mv, pack_cm, mm_cm, NULL, 0,
    QE_KB4_CM_PANEL};
