#!/usr/bin/env bash
# Compile every file of csrc/ for aarch64 (ARMv8.0 NEON and ARMv8.2 dot-product flag sets)
# and for armv7 (32-bit Raspberry Pi OS, NEON), exactly as setup.py would on those boards,
# so ARM code is at least compiled on every submission. Needs Debian's
# gcc-aarch64-linux-gnu and gcc-arm-linux-gnueabihf. Output goes to a temporary folder.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
common=(-std=c11 -O2 -Wall -Wextra -Wno-unused-parameter -Werror -pthread -Icsrc/include -Icsrc)
portable=$(find csrc -name '*.c' ! -name '*__*' | sort)

build() {  # build NAME CC "VARIANT:FLAGS ..."
  local name=$1 cc=$2 variants=$3 defs=() objs=()
  for spec in $variants; do
    local v=${spec%%:*}
    defs+=("-DQE_HAVE_${v^^}=1")
  done
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
    "$cc" "${common[@]}" "${defs[@]}" ${BASE_FLAGS:-} -c "$f" -o "$o"; objs+=("$o")
  done
  "${cc%gcc}ar" rcs "$out/$name/libqengine.a" "${objs[@]}"
  echo "cross-compile $name: ${#objs[@]} objects OK"
}

build aarch64 aarch64-linux-gnu-gcc "neon:-march=armv8-a neondot:-march=armv8.2-a+dotprod"
BASE_FLAGS="-march=armv7-a -mfpu=neon-vfpv4 -mfloat-abi=hard" \
  build armv7 arm-linux-gnueabihf-gcc "neon:-march=armv7-a,-mfpu=neon-vfpv4,-mfloat-abi=hard"
