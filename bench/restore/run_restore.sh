#!/usr/bin/env bash
# Warm restart: how long a restarted gridsentinel takes to restore M meters' state from the changelog and
# resume consuming.
#
#   bench/restore/run_restore.sh              # M=100000 meters, TICKS=8 readings each, P=64 partitions
#   M=20000 TICKS=8 P=16 bench/restore/run_restore.sh
#
# 1. a mock broker in its own process (`gridsentinel broker`: input topic and its changelog, P partitions);
# 2. M meters x TICKS 15-minute readings produced (`gridsentinel simulate`);
# 3. gridsentinel #1 consumes them all and stops on SIGTERM (final checkpoint: every meter's state on the
#    changelog);
# 4. gridsentinel #2 starts: printed are the restore (entities, changelog records, seconds, from its log line)
#    and the time from process start to /readyz = 200 (partitions assigned, state restored, consuming), which
#    includes the consumer group join (about 3 s on the mock cluster).
# The mock broker keeps ~5 MB per partition and drops older data silently: the script checks that the changelog
# fits (its bytes / P) and says so when it does not.
# Environment: M, TICKS, P, BUILD (a Release build dir with gridsentinel; default build-bench).
set -euo pipefail
cd "$(dirname "$0")/../.."
M=${M:-100000}
TICKS=${TICKS:-8}
P=${P:-64}
BUILD=${BUILD:-build-bench}
GS=$BUILD/gridsentinel
[[ -x $GS ]] || { echo "build first: scripts/build.sh $BUILD -DCMAKE_BUILD_TYPE=Release" >&2; exit 2; }
WORK=$(mktemp -d /tmp/gs-restore.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
now() { date +%s.%N; }
metric() {  # metric PORT NAME: sum of the samples of NAME
  curl -s "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n || index($1, n "{") == 1 { s += $2 } END { printf "%.0f", s }'
}

echo "== M=$M meters x TICKS=$TICKS readings, P=$P partitions; $(nproc) cores; work dir $WORK"
"$GS" broker --partitions "$P" --topic meter-readings --bootstrap-file "$WORK/bootstrap" >"$WORK/broker.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [[ -s $WORK/bootstrap ]] && break; sleep 0.1; done
B=$(head -1 "$WORK/bootstrap")
"$GS" simulate --bootstrap-servers "$B" --topic meter-readings --meters "$M" --ticks "$TICKS" --seed 1 \
  >"$WORK/simulate.log" 2>&1
N=$((M * TICKS))
echo "produced $N readings"

PORT1=$((20000 + RANDOM % 10000))
PORT2=$((PORT1 + 1))
cat >"$WORK/config.yaml" <<EOF
topics:
  inputs: [{name: meter-readings, kind: meter, format: protobuf, message: MeterReading}]
state: {checkpoint_interval: 5s}
kafka:
  # The mock cluster does not act on a LeaveGroup: the restarted member waits for the old one's session to time
  # out. 6 s instead of librdkafka's 45 s (a real broker rebalances at once).
  consumer_properties: {session.timeout.ms: "6000", heartbeat.interval.ms: "1000"}
EOF

# --- 3. the first instance consumes everything, then stops (final checkpoint).
"$GS" run --config "$WORK/config.yaml" --bootstrap-servers "$B" --metrics-bind "127.0.0.1:$PORT1" \
  >"$WORK/run1.log" 2>&1 &
RUN1=$!
PIDS+=("$RUN1")
t0=$(now)
while :; do
  c=$(metric "$PORT1" gridsentinel_records_consumed_total || echo 0)
  [[ ${c:-0} -ge $N ]] && break
  kill -0 "$RUN1" 2>/dev/null || { echo "gridsentinel #1 died; see $WORK/run1.log" >&2; exit 1; }
  sleep 0.5
done
t1=$(now)
rss1=$(awk '/VmRSS/ {print $2}' "/proc/$RUN1/status")
kill -TERM "$RUN1"
wait "$RUN1" || true
echo "gridsentinel #1: $N readings in $(echo "$t1 - $t0" | bc) s (incl. group join), RSS ${rss1} kB; stopped"
grep -E "state checkpoint|revoked:" "$WORK/run1.log" | tail -2 || true

# Does the changelog fit the mock broker's retention?
CHANGELOG_RECORDS=$(/usr/bin/python3 - "$B" "$P" <<'EOF'
import sys
from confluent_kafka import Consumer, TopicPartition
b, p = sys.argv[1], int(sys.argv[2])
c = Consumer({"bootstrap.servers": b, "group.id": "restore-bench-size", "enable.auto.commit": False})
n = 0
for i in range(p):
    lo, hi = c.get_watermark_offsets(TopicPartition("gridsentinel-meter-readings-changelog", i), timeout=10)
    n += hi - lo
print(n)
EOF
)
echo "changelog: $CHANGELOG_RECORDS records on the broker"

# --- 4. the restarted instance.
t2=$(now)
"$GS" run --config "$WORK/config.yaml" --bootstrap-servers "$B" --metrics-bind "127.0.0.1:$PORT2" \
  >"$WORK/run2.log" 2>&1 &
RUN2=$!
PIDS+=("$RUN2")
until [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT2/readyz") == 200 ]]; do
  kill -0 "$RUN2" 2>/dev/null || { echo "gridsentinel #2 died; see $WORK/run2.log" >&2; exit 1; }
  sleep 0.05
done
t3=$(now)
restored=$(metric "$PORT2" 'gridsentinel_state_restored_entities_total{result="ok"}')
refused=$(metric "$PORT2" 'gridsentinel_state_restored_entities_total{result="refused"}')
records=$(metric "$PORT2" gridsentinel_state_restore_records_total)
rss2=$(awk '/VmRSS/ {print $2}' "/proc/$RUN2/status")
echo "restart: $(grep -o 'state restore: .*' "$WORK/run2.log" | tail -1)"
restore_s=$(grep -o 'changelog records in [0-9.]* s' "$WORK/run2.log" | tail -1 | awk '{print $4}')
printf 'RESULT meters=%d restored=%s refused=%s changelog_records=%s restore_s=%s start_to_ready_s=%.2f rss_kB=%s\n' \
  "$M" "$restored" "$refused" "$records" "$restore_s" "$(echo "$t3 - $t2" | bc)" "$rss2"
echo "(start_to_ready includes the consumer group join, which on the mock cluster waits for the stopped member's session timeout)"
if [[ $restored -lt $M ]]; then
  echo "NOTE: fewer meters restored than tracked: the mock broker keeps ~5 MB per partition; raise P" >&2
fi
