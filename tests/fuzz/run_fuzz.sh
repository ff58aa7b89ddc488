#!/usr/bin/env bash
# Fuzzes gridsentinel's record path with libFuzzer (issue 6, item 5).
#
#   tests/fuzz/run_fuzz.sh [SECONDS]      # default 60 s per target
#
# Configures a separate clang build (build-fuzz: clang, -DGS_SANITIZE=ON -DGS_FUZZ=ON, so gridsentinel_core is
# coverage-instrumented too), builds fuzz_decode and fuzz_record_path, and runs each for SECONDS
# from the committed seed corpus (tests/fuzz/corpus/<target>/, copied into build-fuzz/fuzz-work/<target>/corpus,
# which keeps growing across runs; the committed corpus is never modified). Prints executions, exec/s and coverage
# per target; exits 1 when a target found a crash, sanitizer error, leak, timeout or invariant violation (the input
# is kept under build-fuzz/fuzz-work/<target>/artifacts/; save it under tests/fuzz/regressions/).
#
# Environment: CC/CXX (default clang/clang++), BUILD_DIR (default build-fuzz), JOBS (build jobs, default 2),
# PARALLEL=1 to run both targets at the same time (one core each), FUZZ_ARGS extra libFuzzer flags.
# Reproduce a finding: build-fuzz/<target> path/to/crash-file
set -euo pipefail

SECONDS_PER_TARGET=${1:-60}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-fuzz}
JOBS=${JOBS:-2}
CC=${CC:-clang}
CXX=${CXX:-clang++}
TARGETS=(fuzz_decode fuzz_record_path)

command -v "$CXX" >/dev/null || {
  echo "run_fuzz.sh: $CXX not found (apt-get install -y clang-14 libclang-rt-14-dev)" >&2
  exit 2
}

echo "== configure $BUILD_DIR ($CXX, ASan+UBSan, libFuzzer)"
CC=$CC CXX=$CXX cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGS_SANITIZE=ON \
  -DGS_BUILD_BENCH=OFF -DGS_BUILD_TESTS=ON -DGS_FUZZ=ON >"$BUILD_DIR.configure.log" 2>&1 ||
  { cat "$BUILD_DIR.configure.log"; exit 2; }
echo "== build ${TARGETS[*]}"
cmake --build "$BUILD_DIR" --target "${TARGETS[@]}" -j "$JOBS" >"$BUILD_DIR.build.log" 2>&1 ||
  { tail -50 "$BUILD_DIR.build.log"; exit 2; }

binary() {
  local b
  for b in "$BUILD_DIR/tests/$1"; do [[ -x $b ]] && { echo "$b"; return; }; done
  echo "run_fuzz.sh: $1 not built" >&2; exit 2
}

run_one() {
  local target=$1 work="$BUILD_DIR/fuzz-work/$1"
  mkdir -p "$work/corpus" "$work/artifacts"
  cp -n "$ROOT/tests/fuzz/corpus/$target/"* "$work/corpus/" 2>/dev/null || true
  # shellcheck disable=SC2086
  "$(binary "$target")" -max_total_time="$SECONDS_PER_TARGET" -timeout=25 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" ${FUZZ_ARGS:-} "$work/corpus" >"$work/last.log" 2>&1
}

findings=0
summary() {
  local target=$1 rc=$2 work="$BUILD_DIR/fuzz-work/$1"
  local execs eps cov
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/last.log" | tail -1)
  eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/last.log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9a-zA-Z]+' "$work/last.log" | tail -1 || true)
  local found
  found=$(find "$work/artifacts" -type f -newer "$work/started" 2>/dev/null | sort || true)
  printf '%-18s %ss  executions=%s  exec/s=%s  %s  exit=%s\n' "$target" "$SECONDS_PER_TARGET" "${execs:-?}" \
    "${eps:-?}" "${cov:-}" "$rc"
  if [[ $rc -ne 0 || -n $found ]]; then
    findings=1
    echo "  FINDING in $target (log: $work/last.log)"
    grep -E 'invariant violated|ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error|SUMMARY' \
      "$work/last.log" | head -5 | sed 's/^/  /'
    for f in $found; do echo "  input: $f   (reproduce: $(binary "$target") $f)"; done
  else
    echo "  nothing found"
  fi
}

declare -A rcs
for t in "${TARGETS[@]}"; do mkdir -p "$BUILD_DIR/fuzz-work/$t"; touch "$BUILD_DIR/fuzz-work/$t/started"; done
if [[ ${PARALLEL:-0} == 1 ]]; then
  declare -A pids
  echo "== fuzz ${TARGETS[*]} for ${SECONDS_PER_TARGET}s, in parallel"
  for t in "${TARGETS[@]}"; do run_one "$t" & pids[$t]=$!; done
  for t in "${TARGETS[@]}"; do rc=0; wait "${pids[$t]}" || rc=$?; rcs[$t]=$rc; done
else
  for t in "${TARGETS[@]}"; do
    echo "== fuzz $t for ${SECONDS_PER_TARGET}s"
    rc=0; run_one "$t" || rc=$?; rcs[$t]=$rc
  done
fi
echo "== results"
for t in "${TARGETS[@]}"; do summary "$t" "${rcs[$t]}"; done
exit $findings
