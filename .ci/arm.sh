#!/usr/bin/env bash
# qengine on emulated aarch64, as a Raspberry Pi OS (Debian bookworm) user builds and runs it.
#  1. Makes a Debian bookworm arm64 root with mmdebstrap from Debian's packages only
#     (python3, numpy 1.24, Cython 0.29.32, pytest, gcc 12), with the mirror taken from this
#     machine's apt sources; qemu-user-static + binfmt_misc run its programs.
#  2. Inside it: `pip install --no-build-isolation --no-index .` (bookworm's own compiler,
#     Cython and numpy, nothing downloaded), then `import qengine`.
#  3. The kernel tests on three emulated CPUs / variants (QEMU_CPU picks the core):
#       cortex-a72 + QENGINE_ISA=neon     (Pi 4: must select neon, refuse neondot)
#       cortex-a76 + QENGINE_ISA=neondot  (Pi 5: must select neondot)
#       cortex-a72 + QENGINE_ISA=scalar
#     each bit-exact against the numpy reference (tests' `isa` fixture limited to that
#     variant by QENGINE_TEST_ISA).
#  4. End to end: a .qmodel made on x86 runs natively and on A72 / A76 (every variant,
#     1 and 3 threads); all outputs must be byte-identical (.ci/arm_e2e.py).
# Needs root (mmdebstrap, chroot, binfmt_misc) on Debian bookworm x86-64; installs
# mmdebstrap, qemu-user-static and binfmt-support when missing. Caches nothing: the root
# lives in a temporary directory removed at exit. Exits non-zero on any failure.
# Usage: .ci/arm.sh            (ARM_KEEP=1 keeps the temporary directory for a look inside)
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
TESTS="test_gemm.py test_conv.py test_ops.py test_isa.py test_runtime.py test_format.py"
for f in tests/test_sparse*.py; do [ ! -e "$f" ] || TESTS+=" ${f#tests/}"; done
step() { echo "== [$((SECONDS - start)) s] $*"; }
die() { echo "arm.sh: FAILED: $*" >&2; exit 1; }
PY=$(command -v python || command -v python3)  # x86 Python (the one CI tests with)

[ "$(id -u)" = 0 ] || die "needs root (mmdebstrap, chroot, binfmt_misc); run with sudo"
need=()
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
[ -x /usr/libexec/qemu-binfmt/aarch64-binfmt-P ] || [ -x /usr/bin/qemu-aarch64-static ] ||
  need+=(qemu-user-static)
command -v update-binfmts >/dev/null || need+=(binfmt-support)
if [ ${#need[@]} -gt 0 ]; then
  step "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

# binfmt_misc: not mounted at boot on every machine; qemu-user-static's formats have the
# F flag, so the interpreter works inside the chroot without being copied in.
mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64 ||
  update-binfmts --import qemu-aarch64
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || die "qemu-aarch64 is not registered with binfmt_misc"
grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 || echo 1 >/proc/sys/fs/binfmt_misc/qemu-aarch64

# The Debian mirror this machine already uses (its bookworm main archive).
mirror=$(apt-cache policy | awk '$3 ~ /^(bookworm|stable)\/main$/ {print $2; exit}')
[ -n "$mirror" ] || die "no bookworm main archive in this machine's apt sources"

tmp=$(mktemp -d)
root=$tmp/root
cleanup() {
  for m in "$root/proc" "$root/dev"; do mountpoint -q "$m" && umount "$m"; done
  if [ "${ARM_KEEP:-0}" = 1 ]; then echo "kept $tmp"; return; fi
  # --one-file-system: never follow a mount that failed to come off into the host
  rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT

pkgs=python3,python3-dev,python3-numpy,python3-pytest,python3-pip,python3-setuptools
pkgs+=,python3-wheel,cython3,gcc,libc6-dev
apt-cache show python3-hypothesis >/dev/null 2>&1 && pkgs+=,python3-hypothesis
step "mmdebstrap bookworm arm64 ($pkgs) from $mirror"
t0=$SECONDS
mmdebstrap --quiet --variant=apt --arch=arm64 --include="$pkgs" \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --aptopt='Acquire::Retries "3"' \
  bookworm "$root" "$mirror" || die "mmdebstrap"
t_root=$((SECONDS - t0))
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"

# The project as the repository has it (tracked and new files; no build products).
mkdir -p "$root/src/qengine"
if git rev-parse --git-dir >/dev/null 2>&1; then
  git ls-files -z -co --exclude-standard |
    tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$root/src/qengine"
else
  tar -cf - --exclude=./build --exclude='*.so' --exclude=./.git . | tar -xf - -C "$root/src/qengine"
fi

# in_root CPU CMD...: run CMD in the root under the emulated CPU, with a clean environment
in_root() {
  local cpu=$1; shift
  env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 PIP_ROOT_USER_ACTION=ignore QEMU_CPU="$cpu" "${ENVS[@]}" \
    chroot "$root" "$@"
}
ENVS=()
in_root cortex-a72 sh -c 'echo "root: $(uname -m), $(python3 --version), gcc $(gcc -dumpversion),"\
" numpy $(python3 -c "import numpy; print(numpy.__version__)"),"\
" Cython $(cython3 --version 2>&1 | cut -d" " -f3), pytest $(python3 -m pytest --version 2>&1 | cut -d" " -f2)"'

step "building qengine inside the root (cortex-a72)"
t0=$SECONDS
# --break-system-packages: bookworm's pip refuses system installs (PEP 668); this root is
# thrown away. --no-build-isolation --no-index: bookworm's own Cython/numpy, no downloads.
in_root cortex-a72 sh -c 'cd /src/qengine && pip install -q --no-build-isolation --no-index \
  --no-deps --break-system-packages . && rm -rf build' || die "pip install . in the arm64 root"
t_build=$((SECONDS - t0))
in_root cortex-a72 sh -c 'cd / && python3 -c "import qengine, qengine.kernels as K; \
print(\"import qengine:\", qengine.__file__, K.isa())"' || die "import qengine"

status=0
summary=()
# pytest_run LABEL CPU ISA EXPECTED_BEST: the kernel tests with one variant forced
pytest_run() {
  local label=$1 cpu=$2 variant=$3 best=$4 t0=$SECONDS log=$tmp/${1//\//-}.log
  step "pytest $label: QEMU_CPU=$cpu QENGINE_ISA=$variant ($TESTS)"
  # from tests/ so `import qengine` finds the installed package, not the source tree
  ENVS=(QENGINE_ISA="$variant" QENGINE_TEST_ISA="$variant" QENGINE_EXPECT_BEST="$best")
  if in_root "$cpu" sh -c "cd /src/qengine/tests && python3 -m pytest -q -p no:cacheprovider \
      -o addopts=-rfE $TESTS" >"$log" 2>&1; then :; else status=1; fi
  ENVS=()
  grep -E '^(FAILED|ERROR)' "$log" | head -30 || true
  local line
  line=$(tail -1 "$log" || true)
  echo "$line"
  if [[ $line != *passed* ]]; then status=1; tail -20 "$log" || true; fi
  summary+=("$label: $line ($((SECONDS - t0)) s)")
}
pytest_run cortex-a72/neon cortex-a72 neon neon
pytest_run cortex-a76/neondot cortex-a76 neondot neondot
pytest_run cortex-a72/scalar cortex-a72 scalar neon

step "end to end: model made on x86, run on x86, cortex-a72 and cortex-a76"
t0=$SECONDS
e2e=$root/src/e2e
mkdir -p "$e2e"
# x86 side: a wheel of the same sources (isolated build, like `pip install .`), unpacked
# into a private directory so nothing installed on this machine is touched
PIP_ROOT_USER_ACTION=ignore "$PY" -m pip wheel -q --no-deps -w "$tmp/whl" "$root/src/qengine" >/dev/null ||
  die "x86 wheel build"
PIP_ROOT_USER_ACTION=ignore "$PY" -m pip install -q --no-deps --target "$tmp/x86" "$tmp"/whl/qengine-*.whl ||
  die "x86 wheel install"
PYTHONPATH=$tmp/x86 "$PY" "$root/src/qengine/.ci/arm_e2e.py" make "$e2e" || die "e2e make"
PYTHONPATH=$tmp/x86 "$PY" "$root/src/qengine/.ci/arm_e2e.py" run "$e2e" "$e2e/x86_64.npz" ||
  die "e2e x86 run"
for cpu in cortex-a72 cortex-a76; do
  in_root "$cpu" sh -c "cd / && python3 /src/qengine/.ci/arm_e2e.py run /src/e2e /src/e2e/$cpu.npz" ||
    die "e2e $cpu run"
done
if "$PY" "$root/src/qengine/.ci/arm_e2e.py" compare "$e2e/x86_64.npz" "$e2e/cortex-a72.npz" \
    "$e2e/cortex-a76.npz" | tee "$tmp/e2e.log"; then :; else status=1; fi
summary+=("$(tail -1 "$tmp/e2e.log")")

echo "== summary"
echo "arm64 root: ${t_root} s, build in the root: ${t_build} s, e2e: $((SECONDS - t0)) s"
printf '%s\n' "${summary[@]}"
echo "arm.sh: $([ $status = 0 ] && echo OK || echo FAILED) in $((SECONDS - start)) s"
exit $status
