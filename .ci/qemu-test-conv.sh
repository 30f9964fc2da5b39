#!/usr/bin/env bash
# Runs tests/c/test_conv_variants.c (every variant == scalar, bit for bit) for aarch64
# (NEON, and neondot which reuses it) and armv7 NEON under qemu user mode, statically linked.
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

build aarch64 aarch64-linux-gnu-gcc "" "neon:-march=armv8-a neondot:-march=armv8.2-a+dotprod"
qemu-aarch64-static -cpu max -L /usr/aarch64-linux-gnu "$out/aarch64/test"
build armv7 arm-linux-gnueabihf-gcc "-march=armv7-a -mfpu=neon-vfpv4 -mfloat-abi=hard" \
  "neon:-march=armv7-a,-mfpu=neon-vfpv4,-mfloat-abi=hard"
qemu-arm-static -cpu cortex-a15 -L /usr/arm-linux-gnueabihf "$out/armv7/test"
