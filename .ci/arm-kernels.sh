#!/usr/bin/env bash
# The plain-C kernel checks: every C driver tests/c/test_*_variants.c (GEMM, conv, operators)
# compares each variant the CPU supports with the scalar kernel, byte for byte.
#   x86_64 natively, with ASan + UBSan (conv also once with test-only GEMM tiles,
#          tests/c/fake_gemm_tiles.c, in place of the GEMM variant files)
#   aarch64 -cpu cortex-a72  (Pi 4, ARMv8.0: must select neon; neondot is not supported)
#   aarch64 -cpu cortex-a76  (Pi 5, ARMv8.2 + dot product: selects neondot; tests both)
#   armv7   -cpu cortex-a15  (32-bit Raspberry Pi OS, NEON: selects neon)
# csrc/ is compiled once per architecture as setup.py does on the board (-Werror), each
# driver is linked statically and run under qemu user mode. Exits non-zero on any failure.
# Installs the Debian cross compilers and qemu-user-static when missing (bookworm).
# Usage: .ci/arm-kernels.sh [GEMM driver args; default --cases 2000, see
#        tests/c/test_gemm_variants.c]
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
  $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
common=(-std=c11 -Wall -Wextra -Wno-unused-parameter -Werror -pthread -Icsrc/include -Icsrc)
portable=$(find csrc -name '*.c' ! -name '*__*' | sort)
drivers=$(ls tests/c/test_*_variants.c)

# build NAME CC "BASE FLAGS" "VARIANT:FLAG,FLAG ..." [SKIP_GLOB]: compiles csrc/ once (each
# variant file with only its flags, as setup.py does), then links every driver into
# $out/NAME/<driver>. Files matching SKIP_GLOB are left out (their symbols come from
# tests/c/fake_gemm_tiles.c, which is then linked in).
build() {
  local name=$1 cc=$2 base=$3 variants=$4 skip=${5:-} defs=() objs=() extra=()
  for spec in $variants; do defs+=("-DQE_HAVE_$(echo "${spec%%:*}" | tr a-z A-Z)=1"); done
  mkdir -p "$out/$name"
  for spec in $variants; do
    local v=${spec%%:*} flags=${spec#*:}
    for f in $(find csrc -name "*__${v}.c" | sort); do
      # shellcheck disable=SC2053
      [[ -n $skip && $f == $skip ]] && continue
      objs+=("$out/$name/$(echo "$f" | tr / _).o")
      "$cc" "${common[@]}" "${defs[@]}" $base ${flags//,/ } -c "$f" -o "${objs[-1]}"
    done
  done
  [ -z "$skip" ] || extra=(tests/c/fake_gemm_tiles.c)
  for f in $portable "${extra[@]}"; do
    objs+=("$out/$name/$(echo "$f" | tr / _).o")
    "$cc" "${common[@]}" "${defs[@]}" $base -c "$f" -o "${objs[-1]}"
  done
  for d in $drivers; do
    "$cc" "${common[@]}" "${defs[@]}" $base "$d" "${objs[@]}" -lm \
      -o "$out/$name/$(basename "$d" .c)"
  done
}

O2=-O2
ARMV7="-march=armv7-a -mfpu=neon-vfpv4 -mfloat-abi=hard"
build aarch64 aarch64-linux-gnu-gcc "$O2 -static" \
  "neon:-march=armv8-a neondot:-march=armv8.2-a+dotprod"
build armv7 arm-linux-gnueabihf-gcc "$O2 -static $ARMV7" "neon:${ARMV7// /,}"
x86=no
if [ "$(uname -m)" = x86_64 ]; then
  x86=yes
  san="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all"
  X86V="avx2:-mavx2,-mfma,-mbmi2"
  X86V+=" avx512vnni:-mavx2,-mfma,-mavx512f,-mavx512bw,-mavx512vl,-mavx512dq,-mavx512vnni"
  build x86_64 gcc "$san" "$X86V"
  build x86_64-fake-tiles gcc "$san" "$X86V" "csrc/gemm/*__*.c"
fi
echo "built in $((SECONDS - start)) s"

status=0
summary=()
TEST_ARGS=("$@")
[ $# -gt 0 ] || TEST_ARGS=(--cases 2000)
# run LABEL BUILD EXPECTED_BEST [RUNNER ...]: every driver of BUILD, one log each
# (EXPECTED_BEST "" = no expectation)
run() {
  local label=$1 name=$2 best=$3; shift 3
  echo "== $label"
  for d in $drivers; do
    local t=$(basename "$d" .c) t0=$SECONDS args=() ok=1
    [ "$t" != test_gemm_variants ] || args=(${best:+--expect-best "$best"} "${TEST_ARGS[@]}")
    local log="$out/$label.$t.log"
    "$@" "$out/$name/$t" "${args[@]}" >"$log" 2>&1 || ok=0
    grep -E '^(isa: best|MISMATCH|FAIL)' "$log" | head -20 || true
    [ $ok = 1 ] || { status=1; echo "$t FAILED:"; tail -5 "$log"; }
    summary+=("$label $t: $(tail -1 "$log") ($((SECONDS - t0)) s)$([ $ok = 1 ] || echo ' FAILED')")
  done
}
if [ $x86 = yes ]; then
  run x86_64-native x86_64 "" env
  # only the conv driver uses the fake tiles
  drivers=tests/c/test_conv_variants.c run x86_64-fake-gemm-tiles x86_64-fake-tiles "" env
fi
run aarch64-cortex-a72 aarch64 neon qemu-aarch64-static -cpu cortex-a72
run aarch64-cortex-a76 aarch64 neondot qemu-aarch64-static -cpu cortex-a76
run armv7-cortex-a15 armv7 neon qemu-arm-static -cpu cortex-a15

echo "== summary"
printf '%s\n' "${summary[@]}"
echo "arm-kernels: $([ $status = 0 ] && echo OK || echo FAILED) in $((SECONDS - start)) s"
exit $status
