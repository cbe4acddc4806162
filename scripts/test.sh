#!/usr/bin/env bash
# Installs what is missing, builds and runs every test through ctest.
# ATRIUM_SANITIZE=1 runs the same suite under AddressSanitizer + UBSan.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=$("$root/scripts/build.sh" | tail -n 1)
if [ "${ATRIUM_SANITIZE:-0}" = 1 ]; then
  # Fibers switch stacks: ASan cannot follow fake stacks across them.
  export ASAN_OPTIONS="detect_stack_use_after_return=0:detect_leaks=1:abort_on_error=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
fi
ctest --test-dir "$build_dir" --output-on-failure --no-tests=error -j "$(nproc)"
