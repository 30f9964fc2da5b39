/* Internal GEMM microkernel interface. One qe_gemm_kernel per ISA variant; the table in
 * gemm.c lists them all, and the packing below is the only packing any of them uses, so a
 * kernel and its weight layout cannot disagree.
 *
 * Packed weights, for a kernel with tile (MR, NR, KR) and Kp = round_up(K, KR):
 *   panels of NR output channels, panel j at packed + j * qe_gemm_panel_bytes(kernel, K):
 *     int32 bias'[NR]   bias[n] - a_offset * sum_k W[n, k]   (eq. 7: u8 activations)
 *     int32 m0[NR]
 *     int32 sh[NR]
 *     int8  w[Kp / KR][NR][KR]   w[kb][j][r] = W[j0 + j, kb * KR + r], zero padded
 *   Channels past N are padded with bias 0, m0 0, sh 1, weights 0.
 * Packed activations (only when K % KR != 0 or a_xor != 0; otherwise the kernel reads A's
 *   rows in place): rows of Kp bytes, A[m, k] ^ a_xor, zero padded past K.
 *   a_xor = 0x80 turns int8 into uint8 with offset 128 (a + 128). */
#ifndef QE_GEMM_H
#define QE_GEMM_H

#include "common/qe_common.h"
#include "qengine.h"

typedef struct {
  int32_t zo, qmin, qmax;
} qe_gemm_params;

/* Computes rows [0, mr) x channels [0, nc) of one tile, mr <= MR, nc <= NR, kp a
 * multiple of KR. a: packed or raw activation rows; w: one packed panel. */
typedef void (*qe_gemm_ukernel_fn)(size_t mr, size_t nc, size_t kp, const int8_t* a,
                                   size_t a_stride, const void* w, int8_t* c,
                                   size_t c_stride, const qe_gemm_params* p);

/* Rows [0, rows) (any count) x channels [0, nc) of one panel: what a driver would get
 * from calling the ukernel every MR rows, with the per-panel setup done once. */
typedef void (*qe_gemm_panel_fn)(size_t rows, size_t nc, size_t kp, const int8_t* a,
                                 size_t a_stride, const void* w, int8_t* c, size_t c_stride,
                                 const qe_gemm_params* p);

/* dst[0, n) = src[0, n) ^ a_xor: the activation copy of packing and im2col. */
typedef void (*qe_gemm_copy_fn)(uint8_t* dst, const uint8_t* src, size_t n);

struct qe_gemm_kernel {
  const char* name; /* qe_qs8_gemm_minmax_<MR>x<NR>c<KR>__<isa>: file, test and profile name */
  int isa;
  uint32_t mr, nr, kr;
  uint8_t a_xor;    /* 0x80: the kernel multiplies uint8 activations (a + 128) */
  qe_gemm_ukernel_fn ukernel;
  qe_gemm_panel_fn panel; /* optional (NULL: the ukernel every MR rows) */
  qe_gemm_copy_fn copy;   /* optional, for runs >= 64 bytes (else qe_copy_xor, 16 a step) */
};

/* Short runs (a 3-channel stem's 9- or 21-byte kernel rows) stay inline: a call per run
 * costs more than the copy. */
static inline void qe_gemm_copy(const qe_gemm_kernel* k, uint8_t* dst, const uint8_t* src,
                                size_t n) {
  if (n >= 64 && k->copy)
    k->copy(dst, src, n);
  else
    qe_copy_xor(dst, src, n, k->a_xor);
}

static inline size_t qe_gemm_panel_bytes(const qe_gemm_kernel* k, size_t kdim) {
  return (size_t)k->nr * (3 * sizeof(int32_t) + qe_round_up(kdim, k->kr));
}

static inline int qe_gemm_packs_a(const qe_gemm_kernel* k) { return k->kr > 1 || k->a_xor; }

extern const qe_gemm_kernel qe_gemm_kernel__scalar;
extern const qe_gemm_kernel qe_gemm_kernel__avx2;
extern const qe_gemm_kernel qe_gemm_kernel__avx512vnni;
extern const qe_gemm_kernel qe_gemm_kernel__neon;
extern const qe_gemm_kernel qe_gemm_kernel__neondot;

/* Rows [0, rows) of one weight panel: the kernel's panel function, or its microkernel
 * every MR rows. Every GEMM-based driver (GEMM, im2col) goes through here. */
static inline void qe_gemm_rows(const qe_gemm_kernel* k, size_t rows, size_t nc, size_t kp,
                                const int8_t* a, size_t a_stride, const void* w, int8_t* c,
                                size_t c_stride, const qe_gemm_params* p) {
  if (k->panel) {
    k->panel(rows, nc, kp, a, a_stride, w, c, c_stride, p);
    return;
  }
  for (size_t i = 0; i < rows; i += k->mr)
    k->ukernel(QE_MIN((size_t)k->mr, rows - i), nc, kp, a + i * a_stride, a_stride, w,
               c + i * c_stride, c_stride, p);
}

/* Rows of packed A per block, for drivers that pack a block and run every weight panel over
 * it (fused packing, im2col). The block stays in L2 while the panels stream past; each block
 * streams all n * kp weight bytes once, so large weights get larger blocks: the block is
 * a quarter of the weights' size, within [64 KiB, 256 KiB], and at most 512 rows. */
static inline size_t qe_gemm_block_rows(size_t n, size_t kp) {
  const size_t bytes = QE_MIN((size_t)256 << 10, QE_MAX((size_t)64 << 10, n * kp / 4));
  return QE_MIN((size_t)512, QE_MAX((size_t)1, bytes / QE_MAX(kp, (size_t)1)));
}

/* Packs rows [0, m) of A into Kp-byte rows (used by the GEMM driver and by im2col). */
void qe_gemm_pack_a(const qe_gemm_kernel* k, size_t m, size_t kdim, const int8_t* a,
                    size_t a_stride, int8_t* out);

#endif
