#!/usr/bin/env bash
# CI: build the extension with ASan + UBSan in a scratch copy of the tree (the normal
# in-place build is never touched) and run the kernel and runtime tests under it, once per
# ISA variant this machine runs. Any sanitizer report stops the run and fails CI.
#
#   bash .ci/sanitize.sh                 # all variants, default test selection
#   SANITIZE_TESTS="tests/test_gemm.py" bash .ci/sanitize.sh
#   SANITIZE_KEEP=1 bash .ci/sanitize.sh # keep the scratch tree (path is printed)
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS

TESTS=${SANITIZE_TESTS:-"tests/test_gemm.py tests/test_conv.py tests/test_ops.py \
tests/test_sparse.py tests/test_int16.py tests/test_isa.py tests/test_runtime.py \
tests/test_runtime_ops.py tests/test_format.py tests/test_format_ops.py tests/test_fuzz.py \
tests/test_stress.py"}

work=$(mktemp -d "${TMPDIR:-/tmp}/qengine-asan.XXXXXX")
if [ -z "${SANITIZE_KEEP:-}" ]; then trap 'rm -rf "$work"' EXIT; fi
echo "sanitize: scratch tree $work"

# the tracked files as they are in the working tree (uncommitted edits included)
git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$work"
cd "$work"
QENGINE_SANITIZE=1 python setup.py build_ext --inplace -q >build.log 2>&1 \
    || { tail -50 build.log; exit 1; }
echo "sanitize: built in $((SECONDS - start)) s"

# CPython is not built with ASan: the runtime must be loaded first. Leak checking is off
# (CPython keeps objects alive at exit by design); every other report aborts the process.
libasan=$(gcc -print-file-name=libasan.so)
[ -f "$libasan" ] || { echo "sanitize: gcc has no libasan.so" >&2; exit 1; }
# libstdc++ too: else ASan cannot intercept C++ exceptions thrown by other extensions
# (onnx's shape inference) and aborts with "CHECK failed ... real___cxa_throw"
export LD_PRELOAD="$libasan $(gcc -print-file-name=libstdc++.so.6)"
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:detect_stack_use_after_return=0:strict_string_checks=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export PYTHONMALLOC=malloc        # Python's own allocations are checked too
export PYTHONPATH="$work"
export QENGINE_FUZZ_EXAMPLES=${QENGINE_FUZZ_EXAMPLES:-60}

variants=$(python -c "from qengine import kernels as K; print(' '.join(K.isa()['available']))")
echo "sanitize: variants $variants"
for v in $variants; do
    t0=$SECONDS
    # QENGINE_ISA picks the variant for code that uses the default; QENGINE_TEST_ISA
    # narrows the tests' `isa` fixture to it, so each variant runs each test once.
    set +e
    QENGINE_ISA=$v QENGINE_TEST_ISA=$v python -m pytest -q -p no:cacheprovider \
        -o addopts="" $TESTS 2>&1 | tee "pytest-$v.log" | tail -3
    rc=${PIPESTATUS[0]}
    set -e
    if [ "$rc" != 0 ] || grep -q -E "ERROR: AddressSanitizer|runtime error:" "pytest-$v.log"; then
        echo "sanitize: FAILED for $v (exit $rc)" >&2
        grep -A30 -E "ERROR: AddressSanitizer|runtime error:" "pytest-$v.log" | head -60 >&2 || true
        grep -E "QENGINE_FUZZ_SEED|^E   " "pytest-$v.log" | head -80 >&2 || true
        trap - EXIT   # keep the scratch tree for a look
        echo "sanitize: logs kept in $work" >&2
        exit 1
    fi
    echo "sanitize: $v clean in $((SECONDS - t0)) s"
done
echo "sanitize: finished in $((SECONDS - start)) s"
