#!/usr/bin/env bash
#===- utils/run-tests.sh - run every fp4-mlir test ------------------------===#
#
# The README's second command. Builds what the tests need, runs the lit suite
# (FileCheck tests and the GoogleTest unit tests) and ends with one line
# `N passed, N failed, N skipped`. Exits non-zero when a test fails.
#
#===----------------------------------------------------------------------===#
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${FP4_BUILD_DIR:-$ROOT/build}
LIT=${LIT:-/usr/lib/llvm-22/bin/lit}

if [ ! -f "$BUILD/build.ninja" ]; then
  echo "error: $BUILD is not configured; run utils/setup.sh first" >&2
  exit 2
fi
cmake --build "$BUILD" --target fp4-test-depends || exit 2

log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$LIT" -sv "$BUILD/test" "$BUILD/test/Unit" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# lit prints "  Passed: N", "  Failed: N", "  Unsupported: N", ...
count() { sed -n "s/^ *$1 *: *\([0-9]*\).*/\1/p" "$log" | head -1; }
passed=$(( $(count Passed) + $(count 'Expectedly Failed') + 0 ))
failed=$(( $(count Failed) + $(count 'Unexpectedly Passed') + $(count 'Timed Out') + 0 ))
skipped=$(( $(count Unsupported) + $(count Skipped) + $(count Excluded) + 0 ))
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1 # lit itself failed (bad config, crash): never report green
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
