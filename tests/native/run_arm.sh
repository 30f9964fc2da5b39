#!/usr/bin/env bash
# Build tests/native/spmm_selftest.c with all of csrc/ for aarch64 and armv7 (static) and run
# it under qemu-user: the NEON sparse kernels against a dense evaluation of eq. 3 and 5.
# Needs gcc-aarch64-linux-gnu, gcc-arm-linux-gnueabihf and qemu-user-static.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
portable=$(find csrc -name '*.c' ! -name '*__*' | sort)
common=(-std=c11 -O2 -Wall -Wextra -Wno-unused-parameter -pthread -static -Icsrc/include -Icsrc)
aarch64-linux-gnu-gcc "${common[@]}" -march=armv8-a -DQE_HAVE_NEON=1 $portable \
  csrc/sparse/*__neon.c tests/native/spmm_selftest.c -o "$out/t64"
arm-linux-gnueabihf-gcc "${common[@]}" -march=armv7-a -mfpu=neon-vfpv4 -mfloat-abi=hard \
  -DQE_HAVE_NEON=1 $portable csrc/sparse/*__neon.c tests/native/spmm_selftest.c -o "$out/t32"
echo "aarch64 (cortex-a72):"; qemu-aarch64-static -cpu cortex-a72 "$out/t64"
echo "armv7 (cortex-a15):"; qemu-arm-static -cpu cortex-a15 "$out/t32"
