/* Internal interface of the K-blocked sparse format ("1x4": the nonzero unit is 4
 * consecutive input channels k = 4 kb .. 4 kb + 3 of one output channel), docs/SPARSE.md.
 *
 * Packed weights (qe_spmm_kb4_pack, ISA-neutral), Np = round_up(N, 16):
 *   64-byte header
 *   int32 bias[Np]      bias as given (kernels on signed activations)
 *   int32 bias_u8[Np]   bias - 128 * sum_k W[n, k], wrapping (eq. 7: kernels that multiply
 *                       a ^ 0x80 = a + 128 as uint8, like the dense VNNI GEMM)
 *   int32 m0[Np], sh[Np] (channels past N: m0 0, sh 1)
 *   int32 c0[Np]        eq. 5 of the bias alone without zo, clamped to [-2^15, 2^15]: a
 *                       channel without blocks outputs clamp(c0 + zo, qmin, qmax) at every
 *                       position (exact: |zo| <= 128 and the clamp is inside [-128, 127])
 *   int32 ptr[Np + 1]   blocks of channel n: ptr[n] .. ptr[n+1]-1 (none past N)
 *   int32 kb[nblocks]   block index (k / 4) of each block, increasing within a channel
 *   int32 w[nblocks]    the 4 int8 weights W[n, 4 kb + j] in byte j (0 past K)
 *
 * Activations, made per call by the kernel's pack function in caller scratch:
 *   at + kb * at_stride + m * elem      position m of k-block kb, Mp = round_up(M, 64)
 *   positions, at_stride = Mp * elem.   The bytes of one (kb, m) are the kernel's business:
 *   elem = 4: a[m, 4kb .. 4kb+3] as int8 (or ^ 0x80 as uint8); elem = 8: see the AVX2 file.
 * So one vector load gives several positions x 4 k, multiplied by one broadcast block of 4
 * weights: one vpdpbusd / vdotq_s32 per nonzero block and vector of positions.
 *
 * Optional matrix-vector section (qe_spmm_kb4_pack_mv; header reserved[0] = 1), right after
 * the base (at qe_spmm_kb4_packed_size): for a batch-1 layer, lanes are the 16 channels of a
 * group and the activation row is read in chunks of QE_KB4_MV_CHUNK k-blocks (128 bytes):
 *   uint32 first[Np/16 + 1]     first step of each group (steps of group g: first[g] ..)
 *   uint16 nsteps[Np/16][C]     steps of group g in chunk c, C = ceil(kblocks / 32): the most
 *                               blocks any of its 16 channels has in that chunk
 *   (padding to 64 bytes)
 *   int32 sw[steps][16]         step s, lane j: the 4 weights of channel j's next block in
 *                               the chunk (0 when the channel has no more there)
 *   uint8 sidx[steps][16]       that block's k-block index within the chunk (0..31)
 * Every block is in exactly one step and lane, so a kernel that sums them (sw times the
 * activation dword at sidx, looked up in registers) gets the same int32 as the CSR arrays. */
#ifndef QE_SPMM_KB4_H
#define QE_SPMM_KB4_H

#include "common/qe_common.h"
#include "qengine.h"
#include "sparse/spmm.h"

#define QE_KB4_MP 64 /* position padding of `at`: every kernel tile divides it */
#define QE_KB4_NB 16 /* channel padding: kernels work on groups of 16 channels */
#define QE_KB4_MAGIC 0x3542424Bu /* "KBB5" */

typedef struct {
  uint64_t n, k, kblocks, nblocks;
  uint32_t magic;
  uint32_t reserved[7];
} qe_spmm_kb4_header;
_Static_assert(sizeof(qe_spmm_kb4_header) == 64, "packed header is 64 bytes");

#define QE_KB4_MV_CHUNK 32 /* k-blocks per activation chunk of the matrix-vector section */

typedef struct {
  size_t n, k, kblocks, np;
  const int32_t *bias, *bias_u8, *m0, *sh, *c0, *ptr, *kb, *w;
  /* the matrix-vector section, or all NULL / 0 */
  size_t mv_chunks;
  const uint32_t* mv_first;
  const uint16_t* mv_nsteps;
  const int32_t* mv_w;
  const uint8_t* mv_idx;
} qe_spmm_kb4_w;

/* Positions [m0, m0 + QE_KB4_MP) of A [M, K] into at (anything past M or K: its weight is 0
 * or its output is never stored). */
typedef void (*qe_kb4_pack_fn)(size_t m0, size_t m, size_t k, const int8_t* a,
                               size_t a_stride, uint8_t* at, size_t at_stride);
/* Channels [n0, n1) (n0 a multiple of 16) for positions [mb, me) (mb a multiple of 64);
 * c: position m, channel n at c[m * c_stride + n]; at already offset to nothing (position
 * mb is at at + mb * elem). */
typedef void (*qe_kb4_mm_fn)(const qe_spmm_kb4_w* W, size_t n0, size_t n1, const uint8_t* at,
                             size_t at_stride, size_t mb, size_t me, int8_t* c,
                             size_t c_stride, const qe_spmm_params* p);

/* Channels [n0, n1) of one activation row (M < QE_KB4_MV_MAX_M): arow holds the row's K
 * bytes zero padded to 4 ceil(K/4) (the driver copies it), crow the output row. */
typedef void (*qe_kb4_mv_fn)(const qe_spmm_kb4_w* W, size_t n0, size_t n1, const int8_t* arow,
                             int8_t* crow, const qe_spmm_params* p);

/* The blocked mode's kernel (mm_c4 below): qe_kb4_mm_fn's arguments and, when the driver
 * chose so (kernel c4_slab), a slab of c4_slab bytes (64-byte aligned) into which to flip
 * the panel of input, [mb, me) x ceil(K/4) x 4 bytes, that fits; else NULL. */
#define QE_KB4_C4_SLAB 65536 /* K <= 1024 at 64 positions (32 KiB: b17_project_7 at 70%,
                              * K = 960, flipped at each load, 82 us against 43) */
typedef void (*qe_kb4_mm_c4_fn)(const qe_spmm_kb4_w* W, size_t n0, size_t n1,
                                const uint8_t* at, size_t at_stride, size_t mb, size_t me,
                                int8_t* c, size_t c_stride, const qe_spmm_params* p,
                                uint8_t* slab);

/* The channel-major mode (qe_spmm_kb4_run_cm) has its own pair with the same signatures:
 * pack_cm reads A^T [K, M] (input channel k, position m at a[k * a_stride + m]) and may
 * order the positions of a tile in `at` as its mm_cm wants; mm_cm writes C^T [N, M]
 * (c[n * c_stride + m]), the rows of channels without blocks their constant (kb4.h c0)
 * included. Both decide a tile's layout from its position count alone
 * (min(64, M - m0)), so the two agree. */
struct qe_spmm_kb4_kernel {
  const char* name; /* qe_qs8_spmm_kb4_minmax_<positions>x16__<isa> */
  int isa;
  uint32_t elem;    /* bytes of `at` per position and k-block */
  qe_kb4_pack_fn pack;
  qe_kb4_mm_fn mm;
  qe_kb4_mv_fn mv;  /* NULL: small M runs mm on a padded tile */
  qe_kb4_pack_fn pack_cm;
  qe_kb4_mm_fn mm_cm;
  /* The blocked mode (qe_spmm_kb4_run_c4; AVX-512, NEON, NEON-dot), or NULL (scalar,
   * AVX2: the driver runs pack_cm and mm_cm per 64-position tile): channels [n0, n1) (n0
   * a multiple of 16) for positions [mb, me),
   * reading the int8 input in place (at + kb * at_stride + 4 m: the 4 channels of k-block
   * kb at position m; nothing past M is read) and writing every byte of output groups
   * n0 / 4 .. (c + g * c_stride + 4 m), 0 for channels past N. */
  qe_kb4_mm_c4_fn mm_c4;
  uint32_t c4_slab; /* bytes of slab mm_c4 can use (0: none) */
  /* bytes of packed activations per channel-major panel (docs/SPARSE.md) */
  uint32_t cm_panel;
};

#define QE_KB4_CM_PANEL 32768 /* cm_panel of the kernels without const_rows (all but AVX-512) */

extern const qe_spmm_kb4_kernel qe_spmm_kb4_kernel__scalar;
extern const qe_spmm_kb4_kernel qe_spmm_kb4_kernel__avx2;
extern const qe_spmm_kb4_kernel qe_spmm_kb4_kernel__avx512vnni;
extern const qe_spmm_kb4_kernel qe_spmm_kb4_kernel__neon;
extern const qe_spmm_kb4_kernel qe_spmm_kb4_kernel__neondot;

/* The output byte of a channel without blocks (kb4.h c0). */
static inline int qe_kb4_empty(const qe_spmm_kb4_w* W, size_t n) {
  return W->ptr[n] == W->ptr[n + 1];
}

static inline int8_t qe_kb4_empty_out(const qe_spmm_kb4_w* W, size_t n, const qe_spmm_params* p) {
  const int32_t x = W->c0[n] + p->zo;
  return (int8_t)(x < p->qmin ? p->qmin : x > p->qmax ? p->qmax : x);
}

/* elem = 4 signed layout, plain C (scalar and NEON use it), from A [M, K] and, for the
 * channel-major mode, from A^T [K, M] (the same bytes: positions in order) */
void qe_kb4_pack_s8__scalar(size_t m0, size_t m, size_t k, const int8_t* a, size_t a_stride,
                            uint8_t* at, size_t at_stride);
void qe_kb4_pack_s8_cm__scalar(size_t m0, size_t m, size_t k, const int8_t* a,
                               size_t a_stride, uint8_t* at, size_t at_stride);
/* the same bytes from A and from A^T, vectorized (qs8_spmm_kb4__neon.c; NEON and NEON-dot
 * use them) */
void qe_kb4_pack_s8__neon(size_t m0, size_t m, size_t k, const int8_t* a, size_t a_stride,
                          uint8_t* at, size_t at_stride);
void qe_kb4_pack_s8_cm__neon(size_t m0, size_t m, size_t k, const int8_t* a, size_t a_stride,
                             uint8_t* at, size_t at_stride);

#endif
