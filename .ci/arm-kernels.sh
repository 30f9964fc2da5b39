#!/usr/bin/env bash
# Cross-compile csrc/ and the C variant tests tests/c/test_gemm_variants.c (int8 GEMM) and
# tests/c/test_qs16_variants.c (16x8 kernels), statically linked, for aarch64 and armv7,
# and run them under qemu user-mode on CPU models of the Raspberry Pi family:
#   aarch64 -cpu cortex-a72  (Pi 4, ARMv8.0: must select neon; neondot is not supported)
#   aarch64 -cpu cortex-a76  (Pi 5, ARMv8.2 + dot product: selects neondot; tests both)
#   armv7   -cpu cortex-a15  (32-bit Raspberry Pi OS, NEON: selects neon)
# Every variant the emulated CPU runs is compared with the scalar kernel, threads 1/2/3.
# Exits non-zero on any failure. Installs the Debian cross compilers and qemu-user-static
# when they are missing (bookworm).
# Usage: .ci/arm-kernels.sh [test args; default --cases 2000, see tests/c/test_gemm_variants.c]
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS

need=()
command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu)
command -v arm-linux-gnueabihf-gcc >/dev/null || need+=(gcc-arm-linux-gnueabihf)
command -v qemu-aarch64-static >/dev/null && command -v qemu-arm-static >/dev/null ||
  need+=(qemu-user-static)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf qemu-user-static >/dev/null
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
common=(-std=c11 -O2 -Wall -Wextra -Wno-unused-parameter -Werror -pthread -Icsrc/include -Icsrc)
portable=$(find csrc -name '*.c' ! -name '*__*' | sort)

build() {  # build NAME CC "BASE FLAGS" "VARIANT:FLAG,FLAG ..." -- as setup.py does on the board
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
  for f in $portable; do
    local o="$out/$name/$(echo "$f" | tr / _).o"
    "$cc" "${common[@]}" "${defs[@]}" $base -c "$f" -o "$o"; objs+=("$o")
  done
  for t in test_gemm_variants test_qs16_variants; do
    local o="$out/$name/$t.o"
    "$cc" "${common[@]}" "${defs[@]}" $base -c "tests/c/$t.c" -o "$o"
    "$cc" -static -pthread "${objs[@]}" "$o" -lm -o "$out/$t.$name"
  done
}

build aarch64 aarch64-linux-gnu-gcc "" "neon:-march=armv8-a neondot:-march=armv8.2-a+dotprod"
build armv7 arm-linux-gnueabihf-gcc "-march=armv7-a -mfpu=neon-vfpv4 -mfloat-abi=hard" \
  "neon:-march=armv7-a,-mfpu=neon-vfpv4,-mfloat-abi=hard"
echo "built in $((SECONDS - start)) s"

status=0
summary=()
run() {  # run LABEL EXPECTED_BEST QEMU ARGS...
  local label=$1 best=$2; shift 2
  local t0=$SECONDS log="$out/${label// /_}.log"
  echo "== $label"
  if "$@" --expect-best "$best" "${TEST_ARGS[@]}" >"$log" 2>&1; then :; else status=1; fi
  grep -E '^(isa: best|kernel |FAIL)' "$log" | head -20 || true
  grep -E 'passed, [0-9]+ failed' "$log" || { echo "no result line (crash?)"; tail -5 "$log"; status=1; }
  summary+=("$label: $(tail -1 "$log") ($((SECONDS - t0)) s)")
}
TEST_ARGS=("$@")
[ $# -gt 0 ] || TEST_ARGS=(--cases 2000)
for t in test_gemm_variants test_qs16_variants; do
  run "$t aarch64-cortex-a72" neon qemu-aarch64-static -cpu cortex-a72 "$out/$t.aarch64"
  run "$t aarch64-cortex-a76" neondot qemu-aarch64-static -cpu cortex-a76 "$out/$t.aarch64"
  run "$t armv7-cortex-a15" neon qemu-arm-static -cpu cortex-a15 "$out/$t.armv7"
done

echo "== summary"
printf '%s\n' "${summary[@]}"
echo "arm-kernels: $([ $status = 0 ] && echo OK || echo FAILED) in $((SECONDS - start)) s"
exit $status
