/* Scalar reference of eq. 14 (max pool) and eq. 15 / 16 (average pool). */
#include "pool/pool.h"

void qe_qs8_maxpool_minmax_ukernel__scalar(size_t channels, size_t k, const int8_t* const* rows,
                                           int8_t* y, int32_t qmin, int32_t qmax) {
  for (size_t c = 0; c < channels; c++) {
    int32_t m = rows[0][c];
    for (size_t j = 1; j < k; j++) m = QE_MAX(m, (int32_t)rows[j][c]);
    y[c] = (int8_t)QE_MIN(QE_MAX(m, qmin), qmax);
  }
}

void qe_qs8_avgpool_minmax_ukernel__scalar(size_t rows, size_t cols, size_t c,
                                           const int8_t* x, size_t row_stride,
                                           size_t col_stride, int8_t* y,
                                           const qe_qs8_gavgpool_params* p) {
  for (size_t ch = 0; ch < c; ch++) {
    int32_t acc = p->bias; /* -rows * cols * zi: |acc| <= 255 * rows * cols < 2^31 */
    for (size_t i = 0; i < rows; i++)
      for (size_t j = 0; j < cols; j++) acc += x[i * row_stride + j * col_stride + ch];
    y[ch] = (int8_t)qe_requant(acc, p->m0, p->sh, p->zo, p->qmin, p->qmax);
  }
}
