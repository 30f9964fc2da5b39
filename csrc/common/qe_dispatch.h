/* Per-family dispatch for the operator kernels: each family keeps a small table indexed by
 * qe_isa, with the scalar entry always present. A variant without its own kernel for an op
 * runs the next best one it can (avx512vnni -> avx2 -> scalar, neondot -> neon -> scalar),
 * so adding a kernel is one table line. ISA-neutral: no intrinsics here. */
#ifndef QE_DISPATCH_H
#define QE_DISPATCH_H

#include "qengine.h"

static inline int qe_isa_fallback(int isa) {
  switch (isa) {
    case QE_ISA_AVX512VNNI: return QE_ISA_AVX2;
    case QE_ISA_NEONDOT: return QE_ISA_NEON;
    default: return QE_ISA_SCALAR;
  }
}

/* Index of the first non-NULL entry for the selected variant, following the fallbacks. */
#define QE_PICK(table, field)                                   \
  ({                                                            \
    int isa_ = qe_isa_selected();                               \
    while (isa_ != QE_ISA_SCALAR && !(table)[isa_].field)       \
      isa_ = qe_isa_fallback(isa_);                             \
    isa_;                                                       \
  })

#endif
