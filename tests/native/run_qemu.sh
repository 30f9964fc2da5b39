#!/usr/bin/env bash
# Build tests/native/ops_crosscheck.c with all of csrc/ for aarch64 and armv7 (static),
# and run it under qemu: every NEON kernel must equal the scalar one byte for byte.
# Needs the Debian cross compilers and qemu-user-static.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
common=(-std=c11 -O2 -Wall -Wextra -Wno-unused-parameter -Werror -pthread -Icsrc/include -Icsrc
        -static)
portable=$(find csrc -name '*.c' ! -name '*__*' | sort)

build_run() {  # NAME CC "FLAGS" QEMU CPU
  local name=$1 cc=$2 flags=$3 qemu=$4 cpu=$5 objs=()
  mkdir -p "$out/$name"
  for f in $(find csrc -name '*__neon.c' | sort); do
    objs+=("$out/$name/$(echo "$f" | tr / _).o")
    "$cc" "${common[@]}" -DQE_HAVE_NEON=1 $flags -c "$f" -o "${objs[-1]}"
  done
  "$cc" "${common[@]}" -DQE_HAVE_NEON=1 $flags $portable tests/native/ops_crosscheck.c \
    "${objs[@]}" -lm -o "$out/$name/check"
  echo "== $name ($cpu)"
  "$qemu" -cpu "$cpu" "$out/$name/check"
}

build_run aarch64 aarch64-linux-gnu-gcc "-march=armv8-a" qemu-aarch64-static cortex-a72
build_run armv7 arm-linux-gnueabihf-gcc "-march=armv7-a -mfpu=neon-vfpv4 -mfloat-abi=hard" \
  qemu-arm-static cortex-a15
