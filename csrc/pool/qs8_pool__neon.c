/* eq. 14 (max pool) and eq. 15 / 16 (average pool) with NEON, over channels. */
#include "pool/pool.h"

#include "common/requant__neon.h"

void qe_qs8_maxpool_minmax_ukernel__neon(size_t channels, size_t k, const int8_t* const* rows,
                                         int8_t* y, int32_t qmin, int32_t qmax) {
  const int8x16_t lo = vdupq_n_s8((int8_t)qmin), hi = vdupq_n_s8((int8_t)qmax);
  size_t c = 0;
  for (; c + 16 <= channels; c += 16) {
    int8x16_t m = vld1q_s8(rows[0] + c);
    for (size_t j = 1; j < k; j++) m = vmaxq_s8(m, vld1q_s8(rows[j] + c));
    vst1q_s8(y + c, vminq_s8(vmaxq_s8(m, lo), hi));
  }
  for (; c < channels; c++) {
    int32_t m = rows[0][c];
    for (size_t j = 1; j < k; j++) m = QE_MAX(m, (int32_t)rows[j][c]);
    y[c] = (int8_t)QE_MIN(QE_MAX(m, qmin), qmax);
  }
}

void qe_qs8_avgpool_minmax_ukernel__neon(size_t rows, size_t cols, size_t c, const int8_t* x,
                                         size_t row_stride, size_t col_stride, int8_t* y,
                                         const qe_qs8_gavgpool_params* p) {
  const qe_requant_neon rq = qe_requant_neon_init(p->m0, p->sh, p->zo, p->qmin, p->qmax);
  const int32x4_t bias = vdupq_n_s32(p->bias);
  size_t ch = 0;
  for (; ch + 16 <= c; ch += 16) {
    int32x4_t a0 = bias, a1 = bias, a2 = bias, a3 = bias;
    for (size_t i = 0; i < rows; i++) /* |acc| <= 255 rows cols < 2^31 */
      for (size_t j = 0; j < cols; j++) {
        const int8x16_t v = vld1q_s8(x + i * row_stride + j * col_stride + ch);
        const int16x8_t w0 = vmovl_s8(vget_low_s8(v)), w1 = vmovl_s8(vget_high_s8(v));
        a0 = vaddw_s16(a0, vget_low_s16(w0));
        a1 = vaddw_s16(a1, vget_high_s16(w0));
        a2 = vaddw_s16(a2, vget_low_s16(w1));
        a3 = vaddw_s16(a3, vget_high_s16(w1));
      }
    vst1q_s8(y + ch, qe_narrow_neon(qe_requant_neon_4(a0, &rq), qe_requant_neon_4(a1, &rq),
                                    qe_requant_neon_4(a2, &rq), qe_requant_neon_4(a3, &rq), &rq));
  }
  if (ch < c)
    qe_qs8_avgpool_minmax_ukernel__scalar(rows, cols, c - ch, x + ch, row_stride, col_stride,
                                          y + ch, p);
}
