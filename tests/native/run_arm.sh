#!/usr/bin/env bash
# Build tests/native/spmm_selftest.c with all of csrc/ for aarch64 and armv7 (static) and run
# it under qemu-user: the NEON (and, on a dot-product CPU model, NEON-dot) sparse kernels
# against a dense evaluation of eq. 3 and 5.
# Needs gcc-aarch64-linux-gnu, gcc-arm-linux-gnueabihf and qemu-user-static.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
portable=$(find csrc -name '*.c' ! -name '*__*' | sort)
common=(-std=c11 -O2 -Wall -Wextra -Wno-unused-parameter -pthread -Icsrc/include -Icsrc)

build() {  # build NAME CC "BASE FLAGS" "VARIANT:FLAG,FLAG ..." (as setup.py does)
  local name=$1 cc=$2 base=$3 variants=$4 defs=() objs=()
  for spec in $variants; do defs+=("-DQE_HAVE_$(echo "${spec%%:*}" | tr a-z A-Z)=1"); done
  mkdir -p "$out/$name"
  for spec in $variants; do
    local v=${spec%%:*} flags=${spec#*:}
    for f in $(find csrc -name "*__${v}.c" | sort); do
      local o="$out/$name/$(echo "$f" | tr / _).o"
      "$cc" "${common[@]}" "${defs[@]}" ${flags//,/ } -c "$f" -o "$o"; objs+=("$o")
    done
  done
  for f in $portable tests/native/spmm_selftest.c; do
    local o="$out/$name/$(echo "$f" | tr / _).o"
    "$cc" "${common[@]}" "${defs[@]}" $base -c "$f" -o "$o"; objs+=("$o")
  done
  "$cc" -static -pthread "${objs[@]}" -o "$out/t.$name" -lm
}

build aarch64 aarch64-linux-gnu-gcc "" "neon:-march=armv8-a neondot:-march=armv8.2-a+dotprod"
build armv7 arm-linux-gnueabihf-gcc "-march=armv7-a -mfpu=neon-vfpv4 -mfloat-abi=hard" \
  "neon:-march=armv7-a,-mfpu=neon-vfpv4,-mfloat-abi=hard"
echo "aarch64 (cortex-a72):"; qemu-aarch64-static -cpu cortex-a72 "$out/t.aarch64"
echo "aarch64 (cortex-a76, dot product):"; qemu-aarch64-static -cpu cortex-a76 "$out/t.aarch64"
echo "armv7 (cortex-a15):"; qemu-arm-static -cpu cortex-a15 "$out/t.armv7"
