#!/usr/bin/env bash
# Guest instructions per call of the 1x4 kernels (NHWC, channel-major, blocked) and of the dense
# GEMM on ARM, counted under qemu user mode (-singlestep: one logged block per instruction)
# for MobileNetV2-like layers at 90% 1x4 sparsity, on Cortex-A72 (Pi 4: neon) and Cortex-A76
# (Pi 5: neondot). Counts, not times: qemu cannot time an ARM core. Needs the cross
# compiler and qemu-user-static (.ci/arm-kernels.sh installs them). -O3, as setup.py builds.
#   bash benchmarks/kb4_arm_count.sh ["M N K DENSITY% ..." layer specs]
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cc=(aarch64-linux-gnu-gcc -std=c11 -O3 -static -pthread -Icsrc/include -Icsrc
    -DQE_HAVE_NEON=1 -DQE_HAVE_NEONDOT=1)
objs=()
for f in $(find csrc -name '*.c' | sort); do
  case $f in
    *__neon.c) flags=(-march=armv8-a) ;;
    *__neondot.c) flags=(-march=armv8.2-a+dotprod) ;;
    *__*) continue ;;
    *) flags=() ;;
  esac
  objs+=("$out/$(echo "$f" | tr / _).o")
  "${cc[@]}" "${flags[@]}" -c "$f" -o "${objs[-1]}"
done
"${cc[@]}" benchmarks/kb4_arm_count.c "${objs[@]}" -lm -o "$out/count"

count() { # cpu args...: instructions of REPS=2 minus REPS=1 (the setup cancels)
  local cpu=$1 n1 n2
  shift
  n1=$(qemu-aarch64-static -cpu "$cpu" -singlestep -d exec,nochain -D "$out/log" \
       "$out/count" "$1" "$2" "$3" "$4" 1 "$5" >/dev/null && grep -c '^Trace' "$out/log")
  n2=$(qemu-aarch64-static -cpu "$cpu" -singlestep -d exec,nochain -D "$out/log" \
       "$out/count" "$1" "$2" "$3" "$4" 2 "$5" >/dev/null && grep -c '^Trace' "$out/log")
  echo $((n2 - n1))
}
layers=("$@")
[ ${#layers[@]} -gt 0 ] || layers=("3136 24 96 10" "784 32 144 10" "784 192 32 10"
                                   "196 64 384 10" "196 384 64 10")
printf "%-11s %-22s %12s %12s %12s %12s %7s %7s %7s\n" cpu "layer (M N K d%)" dense kb4 \
  kb4cm kb4b dense/kb4 d/kb4cm d/kb4b
for cpu in cortex-a72 cortex-a76; do
  for l in "${layers[@]}"; do
    read -r m n k d <<<"$l"
    dense=$(count "$cpu" "$m" "$n" "$k" "$d" 2)
    nhwc=$(count "$cpu" "$m" "$n" "$k" "$d" 0)
    cm=$(count "$cpu" "$m" "$n" "$k" "$d" 1)
    b=$(count "$cpu" "$m" "$n" "$k" "$d" 3)
    awk -v c="$cpu" -v l="$l" -v d="$dense" -v h="$nhwc" -v m="$cm" -v b="$b" \
      'BEGIN { printf "%-11s %-22s %12d %12d %12d %12d %6.2fx %6.2fx %6.2fx\n", c, l, d, h, m, b,
               d / h, d / m, d / b }'
  done
done
