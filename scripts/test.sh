#!/usr/bin/env bash
# Builds vcap with ASan+UBSan and runs the whole test suite (ctest).
# Extra arguments go to ctest (e.g. -R Tokenizer, -L media).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh sanitize
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
ctest --test-dir build/sanitize --output-on-failure -j2 "$@"
