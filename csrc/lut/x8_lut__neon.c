/* eq. 13 with NEON table lookups. AArch64: TBL/TBX on four 16-byte registers cover 64
 * entries; an out-of-range index leaves TBX's destination alone, so four lookups with the
 * index lowered by 64 each time cover all 256. ARMv7: VTBL/VTBX cover 32 entries, eight
 * lookups per 8 bytes. */
#include "lut/lut.h"

#include <arm_neon.h>
#include <string.h>

void qe_x8_lut_ukernel__neon(size_t n, const int8_t* x, int8_t* y, const int8_t* table) {
  const uint8_t* t = (const uint8_t*)table;
#if defined(__aarch64__)
  uint8x16x4_t tb[4];
  for (int k = 0; k < 4; k++)
    for (int j = 0; j < 4; j++) tb[k].val[j] = vld1q_u8(t + 64 * k + 16 * j);
  const uint8x16_t flip = vdupq_n_u8(0x80), step = vdupq_n_u8(64);
  uint8_t buf[16];
  while (n > 0) {
    const size_t len = n < 16 ? n : 16;
    const int8_t* src = x;
    if (len < 16) {
      memset(buf, 0, sizeof(buf));
      memcpy(buf, x, len);
      src = (const int8_t*)buf;
    }
    uint8x16_t u = veorq_u8(vld1q_u8((const uint8_t*)src), flip); /* x + 128 */
    uint8x16_t r = vqtbl4q_u8(tb[0], u);
    for (int k = 1; k < 4; k++) {
      u = vsubq_u8(u, step);
      r = vqtbx4q_u8(r, tb[k], u);
    }
    if (len < 16) {
      vst1q_u8(buf, r);
      memcpy(y, buf, len);
    } else {
      vst1q_u8((uint8_t*)y, r);
    }
    x += len, y += len, n -= len;
  }
#else
  uint8x8x4_t tb[8];
  for (int k = 0; k < 8; k++)
    for (int j = 0; j < 4; j++) tb[k].val[j] = vld1_u8(t + 32 * k + 8 * j);
  const uint8x8_t flip = vdup_n_u8(0x80), step = vdup_n_u8(32);
  uint8_t buf[8];
  while (n > 0) {
    const size_t len = n < 8 ? n : 8;
    const int8_t* src = x;
    if (len < 8) {
      memset(buf, 0, sizeof(buf));
      memcpy(buf, x, len);
      src = (const int8_t*)buf;
    }
    uint8x8_t u = veor_u8(vld1_u8((const uint8_t*)src), flip);
    uint8x8_t r = vtbl4_u8(tb[0], u);
    for (int k = 1; k < 8; k++) {
      u = vsub_u8(u, step);
      r = vtbx4_u8(r, tb[k], u);
    }
    if (len < 8) {
      vst1_u8(buf, r);
      memcpy(y, buf, len);
    } else {
      vst1_u8((uint8_t*)y, r);
    }
    x += len, y += len, n -= len;
  }
#endif
}
