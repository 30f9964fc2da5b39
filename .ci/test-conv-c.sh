#!/usr/bin/env bash
# Runs tests/c/test_conv_variants.c (every variant == scalar, bit for bit):
#  - natively on x86 with ASan + UBSan, the AVX2 / AVX-512 dwconv kernels and test-only GEMM
#    kernels of unusual tiles (tests/c/fake_gemm_tiles.c: KR 4 with XOR 0x80, KR 8) so
#    the im2col path's packed-activation rows are checked before real SIMD GEMMs exist;
#  - for aarch64 (NEON, and neondot which reuses it) and armv7 NEON under qemu user mode,
#    statically linked.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
common=(-std=c11 -O2 -Wall -Wextra -Wno-unused-parameter -Werror -pthread -Icsrc/include -Icsrc -static)
portable=$(find csrc -name '*.c' ! -name '*__*' | sort)

build() {  # build NAME CC BASEFLAGS "VARIANT:FLAGS ..."
  local name=$1 cc=$2 base=$3 variants=$4 defs=() objs=()
  for spec in $variants; do local v=${spec%%:*}; defs+=("-DQE_HAVE_${v^^}=1"); done
  mkdir -p "$out/$name"
  for spec in $variants; do
    local v=${spec%%:*} flags=${spec#*:}
    for f in $(find csrc -name "*__${v}.c" | sort); do
      "$cc" "${common[@]}" "${defs[@]}" ${flags//,/ } -c "$f" -o "$out/$name/$(basename "$f").o"
      objs+=("$out/$name/$(basename "$f").o")
    done
  done
  "$cc" "${common[@]}" "${defs[@]}" $base $portable tests/c/test_conv_variants.c "${objs[@]}" \
    -o "$out/$name/test"
}

if [ "$(uname -m)" = x86_64 ]; then
  san=(-fsanitize=address,undefined -fno-sanitize-recover=all -g)
  x86=(-std=c11 -O1 -Wall -Wextra -Wno-unused-parameter -Werror -pthread -Icsrc/include -Icsrc
       -DQE_HAVE_AVX2=1 -DQE_HAVE_AVX512VNNI=1 "${san[@]}")
  gcc "${x86[@]}" -mavx2 -mfma -mbmi2 -c csrc/dwconv/qs8_dwconv__avx2.c -o "$out/avx2.o"
  gcc "${x86[@]}" -mavx2 -mfma -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni \
    -c csrc/dwconv/qs8_dwconv__avx512vnni.c -o "$out/avx512.o"
  gcc "${x86[@]}" $portable tests/c/test_conv_variants.c tests/c/fake_gemm_tiles.c \
    "$out/avx2.o" "$out/avx512.o" -o "$out/x86"
  "$out/x86"
fi

build aarch64 aarch64-linux-gnu-gcc "" "neon:-march=armv8-a neondot:-march=armv8.2-a+dotprod"
qemu-aarch64-static -cpu max -L /usr/aarch64-linux-gnu "$out/aarch64/test"
build armv7 arm-linux-gnueabihf-gcc "-march=armv7-a -mfpu=neon-vfpv4 -mfloat-abi=hard" \
  "neon:-march=armv7-a,-mfpu=neon-vfpv4,-mfloat-abi=hard"
qemu-arm-static -cpu cortex-a15 -L /usr/arm-linux-gnueabihf "$out/armv7/test"
