/* CPU feature detection and the selected ISA variant, decided once at import.
 * x86: cpuid + XGETBV (the OS must save the wide registers); Linux ARM: getauxval(AT_HWCAP). */
#include "qengine.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define QE_X86 1
#elif defined(__aarch64__) || defined(__arm__)
#include <sys/auxv.h>
#define QE_ARM 1
#endif

static const char* const kNames[QE_ISA_COUNT] = {"scalar", "avx2", "avx512vnni", "neon",
                                                 "neondot"};

const char* qe_isa_name(int isa) {
  return (isa >= 0 && isa < QE_ISA_COUNT) ? kNames[isa] : "unknown";
}

int qe_isa_compiled(int isa) {
  switch (isa) {
    case QE_ISA_SCALAR: return 1;
#ifdef QE_HAVE_AVX2
    case QE_ISA_AVX2: return 1;
#endif
#ifdef QE_HAVE_AVX512VNNI
    case QE_ISA_AVX512VNNI: return 1;
#endif
#ifdef QE_HAVE_NEON
    case QE_ISA_NEON: return 1;
#endif
#ifdef QE_HAVE_NEONDOT
    case QE_ISA_NEONDOT: return 1;
#endif
    default: return 0;
  }
}

#ifdef QE_X86
static uint64_t xgetbv0(void) {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((uint64_t)hi << 32) | lo;
}

static int cpu_has(int isa) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  const int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1;
  if (!osxsave) return 0;
  const uint64_t xcr0 = xgetbv0();
  const int ymm_os = (xcr0 & 0x6) == 0x6, zmm_os = (xcr0 & 0xE6) == 0xE6;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
  const int avx2 = (b >> 5) & 1, bmi2 = (b >> 8) & 1;
  const int f = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
  const int vnni = (c >> 11) & 1;
  switch (isa) {
    case QE_ISA_AVX2: return ymm_os && avx2 && fma && bmi2;
    case QE_ISA_AVX512VNNI: return ymm_os && zmm_os && avx2 && fma && f && dq && bw && vl && vnni;
    default: return 0;
  }
}
#elif defined(QE_ARM)
static int cpu_has(int isa) {
  const unsigned long hw = getauxval(AT_HWCAP);
#if defined(__aarch64__)
  switch (isa) {
    case QE_ISA_NEON: return (hw >> 1) & 1;                       /* HWCAP_ASIMD */
    case QE_ISA_NEONDOT: return ((hw >> 1) & 1) && ((hw >> 20) & 1); /* HWCAP_ASIMDDP */
    default: return 0;
  }
#else
  return isa == QE_ISA_NEON && ((hw >> 12) & 1);                  /* HWCAP_NEON */
#endif
}
#else
static int cpu_has(int isa) { (void)isa; return 0; }
#endif

int qe_isa_supported(int isa) {
  if (!qe_isa_compiled(isa)) return 0;
  return isa == QE_ISA_SCALAR || cpu_has(isa);
}

int qe_isa_best(void) {
  static const int order[] = {QE_ISA_AVX512VNNI, QE_ISA_AVX2, QE_ISA_NEONDOT, QE_ISA_NEON};
  for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
    if (qe_isa_supported(order[i])) return order[i];
  return QE_ISA_SCALAR;
}

static int g_selected = -1;

int qe_isa_selected(void) {
  if (g_selected < 0) g_selected = qe_isa_best();
  return g_selected;
}

int qe_isa_select(int isa) {
  if (!qe_isa_supported(isa)) return -1;
  g_selected = isa;
  return 0;
}
