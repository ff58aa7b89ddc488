#!/usr/bin/env bash
# All tests: installs what is needed, builds with warnings as errors, runs the whole suite under ctest (unit,
# integration on the mock Kafka cluster, oracle tests against scipy and scikit-learn), then builds again with clang,
# AddressSanitizer + UndefinedBehaviorSanitizer and libFuzzer instrumentation, and runs the unit and integration
# tests there plus a 20-second smoke run of each fuzz target (tests/fuzz/run_fuzz.sh runs them for longer).
# --quick skips the sanitizer build.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if [ ! -d ../shared/data ]; then
  echo "note: ../shared/data is missing; oracle tests on the shared data sets will fail" >&2
fi
scripts/build.sh build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo
ctest --test-dir build-test --output-on-failure -j 2 --timeout 900
if [ "${1:-}" != "--quick" ]; then
  CC=clang CXX=clang++ scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DGS_SANITIZE=ON -DGS_FUZZ=ON \
    -DGS_BUILD_BENCH=OFF
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j 2 -L "unit|integration|fuzz" --timeout 900
fi
