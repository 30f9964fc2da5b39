/* eq. 9 (add) and eq. 10 (mul) + eq. 5 with NEON, 16 outputs per step (a short tail through
 * a stack copy). Add: int32 lanes, a * ka + b * kb + bias; mul: (a - za)(b - zb) from int16
 * lanes widened by the multiply (vmull_s16: |a - za|, |b - zb| <= 255). */
#include "eltwise/eltwise.h"

#include <string.h>

#include "common/requant__neon.h"

#define INLINE static inline __attribute__((always_inline))

enum { ADD, MUL };

typedef struct {
  int32_t ka, kb;       /* add */
  int32x4_t bias;       /* add, with a constant b folded in */
  int16x8_t za, zb, bc; /* mul; bc = b - zb of a constant b */
} op_consts;

INLINE void widen16(int8x16_t v, int16x8_t z, int16x8_t out[2]) {
  out[0] = vsubq_s16(vmovl_s8(vget_low_s8(v)), z);
  out[1] = vsubq_s16(vmovl_s8(vget_high_s8(v)), z);
}

/* x[q] += v[4q .. 4q+3] * s */
INLINE void mla16(int8x16_t v, int32_t s, int32x4_t x[4]) {
  const int16x8_t w0 = vmovl_s8(vget_low_s8(v)), w1 = vmovl_s8(vget_high_s8(v));
  x[0] = vmlaq_n_s32(x[0], vmovl_s16(vget_low_s16(w0)), s);
  x[1] = vmlaq_n_s32(x[1], vmovl_s16(vget_high_s16(w0)), s);
  x[2] = vmlaq_n_s32(x[2], vmovl_s16(vget_low_s16(w1)), s);
  x[3] = vmlaq_n_s32(x[3], vmovl_s16(vget_high_s16(w1)), s);
}

/* eq. 9 / 10 of 16 lanes; vector_b = 0: b is the constant in k */
INLINE void acc16(int op, int8x16_t va, int8x16_t vb, int vector_b, const op_consts* k,
                  int32x4_t acc[4]) {
  if (op == MUL) {
    int16x8_t a[2], b[2] = {k->bc, k->bc};
    widen16(va, k->za, a);
    if (vector_b) widen16(vb, k->zb, b);
    acc[0] = vmull_s16(vget_low_s16(a[0]), vget_low_s16(b[0]));
    acc[1] = vmull_s16(vget_high_s16(a[0]), vget_high_s16(b[0]));
    acc[2] = vmull_s16(vget_low_s16(a[1]), vget_low_s16(b[1]));
    acc[3] = vmull_s16(vget_high_s16(a[1]), vget_high_s16(b[1]));
    return;
  }
  acc[0] = acc[1] = acc[2] = acc[3] = k->bias;
  mla16(va, k->ka, acc);
  if (vector_b) mla16(vb, k->kb, acc);
}

/* b == NULL: b is the constant in k */
INLINE void rows(int op, size_t n, const int8_t* a, const int8_t* b, int8_t* y,
                 const qe_requant_neon* rq, const op_consts* k) {
  int8_t abuf[16], bbuf[16], ybuf[16];
  while (n > 0) {
    const size_t len = n < 16 ? n : 16;
    const int8_t *pa = a, *pb = b;
    if (len < 16) {
      memset(abuf, 0, 16), memset(bbuf, 0, 16);
      memcpy(abuf, a, len);
      if (b) memcpy(bbuf, b, len);
      pa = abuf, pb = b ? bbuf : NULL;
    }
    const int8x16_t va = vld1q_s8(pa);
    int32x4_t acc[4];
    acc16(op, va, pb ? vld1q_s8(pb) : va, pb != NULL, k, acc);
    const int8x16_t out =
        qe_narrow_neon(qe_requant_neon_4(acc[0], rq), qe_requant_neon_4(acc[1], rq),
                       qe_requant_neon_4(acc[2], rq), qe_requant_neon_4(acc[3], rq), rq);
    if (len < 16) {
      vst1q_s8(ybuf, out);
      memcpy(y, ybuf, len);
    } else {
      vst1q_s8(y, out);
    }
    a += len, y += len, n -= len;
    if (b) b += len;
  }
}

/* bc: the constant b of a vs kernel, NULL for a vector b */
static void add_rows(size_t n, const int8_t* a, const int8_t* b, const int8_t* bc, int8_t* y,
                     const qe_qs8_add_params* p) {
  const qe_requant_neon rq = qe_requant_neon_init(p->m0, p->sh, p->zo, p->qmin, p->qmax);
  op_consts k;
  memset(&k, 0, sizeof(k));
  k.ka = p->ka, k.kb = p->kb;
  k.bias = vdupq_n_s32(bc ? p->bias + (int32_t)*bc * p->kb : p->bias);
  rows(ADD, n, a, b, y, &rq, &k);
}

static void mul_rows(size_t n, const int8_t* a, const int8_t* b, const int8_t* bc, int8_t* y,
                     const qe_qs8_mul_params* p) {
  const qe_requant_neon rq = qe_requant_neon_init(p->m0, p->sh, p->zo, p->qmin, p->qmax);
  op_consts k;
  memset(&k, 0, sizeof(k));
  k.za = vdupq_n_s16((int16_t)p->za), k.zb = vdupq_n_s16((int16_t)p->zb);
  k.bc = vdupq_n_s16((int16_t)(bc ? (int32_t)*bc - p->zb : 0));
  rows(MUL, n, a, b, y, &rq, &k);
}

void qe_qs8_vadd_minmax_ukernel__neon(size_t n, const int8_t* a, const int8_t* b, int8_t* y,
                                      const qe_qs8_add_params* p) {
  add_rows(n, a, b, NULL, y, p);
}

void qe_qs8_vaddc_minmax_ukernel__neon(size_t n, const int8_t* a, const int8_t* b, int8_t* y,
                                       const qe_qs8_add_params* p) {
  add_rows(n, a, NULL, b, y, p);
}

void qe_qs8_vmul_minmax_ukernel__neon(size_t n, const int8_t* a, const int8_t* b, int8_t* y,
                                      const qe_qs8_mul_params* p) {
  mul_rows(n, a, b, NULL, y, p);
}

void qe_qs8_vmulc_minmax_ukernel__neon(size_t n, const int8_t* a, const int8_t* b, int8_t* y,
                                       const qe_qs8_mul_params* p) {
  mul_rows(n, a, NULL, b, y, p);
}
