#!/usr/bin/env bash
# Resident memory per tracked meter, end to end: gridsentinel's peak RSS at M meters and at M/2 meters (each a
# run of bench/e2e/run_e2e.sh with 5 readings a meter, changelog on, the default detector set), and the
# difference per meter between them: what one more meter costs the whole process, with its fixed costs (code,
# librdkafka's bounded buffers, the fleet models, the allocator's reserve) left out. Both figures are printed
# beside it.
#
#   bench/e2e/marginal_memory.sh                 # M=1000000, P=128, BUILD=build-perf
#   M=200000 P=32 bench/e2e/marginal_memory.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
M=${M:-1000000}
P=${P:-128}
export BUILD=${BUILD:-build-perf}
half=$((M / 2))
peak_kb() {  # $1 = meters; prints the (b) line's peak_rss_kb
  local out
  out=$(N=$(($1 * 5)) M=$1 P=$P RUNS=1 SKIP_PEER=1 SKIP_LATENCY=1 bench/e2e/run_e2e.sh 2>&1) ||
    { echo "$out" >&2; return 1; }
  grep '^(b)' <<<"$out" >&2
  sed -nE 's/^\(b\).* peak_rss_kb=([0-9]+).*/\1/p' <<<"$out"
}
full=$(peak_kb "$M")
part=$(peak_kb "$half")
echo "peak RSS: $full kB at $M meters ($((full * 1024 / M)) B per meter), $part kB at $half meters" \
  "($((part * 1024 / half)) B per meter)"
echo "marginal resident memory: $(((full - part) * 1024 / (M - half))) bytes per meter" \
  "((peak at $M - peak at $half) / $((M - half)) meters)"
