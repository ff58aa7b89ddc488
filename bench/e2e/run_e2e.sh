#!/usr/bin/env bash
# End-to-end throughput of gridsentinel against a mock Kafka broker in its own process, next to the bare consume
# rate and the Python peer (bench/peers/python_peer.py), on the same pre-produced topic.
#
#   bench/e2e/run_e2e.sh                       # N=5000000 readings, M=100000 meters, P=128 partitions, 1 run
#   N=1000000 M=10000 RUNS=3 bench/e2e/run_e2e.sh
#
# Environment: N (readings), M (meters, up to 1M), P (partitions; default the smallest power of two >= 8 that
# keeps N*87 bytes / P under 4 MB, below the mock broker's ~5 MB per-partition retention), RUNS (repetitions of
# a-c and e; medians printed), BUILD (Release build dir with
# gridsentinel and bench/bare_consume_bench; default build-bench), E2E_THREADS (kafka.stream_threads in (b) and
# (d), default the number of cores), E2E_CONSUMER (consumer properties in (b), e.g.
# 'queued.max.messages.kbytes: "8192"'; with several threads a 6 s session timeout is added, see below),
# E2E_PRODUCER (producer properties in (b), alerts and state changelog alike), E2E_BARE_PROPS (extra consumer
# properties of the bare consumer in (a), "k=v,k=v", e.g. "queued.max.messages.kbytes=8192"),
# E2E_AB_BINARY (another gridsentinel binary, run in (b) of the even runs: A/B comparisons on one topic in the
# same minutes), E2E_LOG_LEVEL (gridsentinel's log level in (b), default warn), E2E_STATE (one more state key in (b), e.g.
# 'changelog: false'), SKIP_PEER=1 to skip the Python peer,
# SKIP_LATENCY=1 to skip (d), LAT_RUNS (runs of (d), each with a fresh broker and gridsentinel; default RUNS;
# medians printed: p99 at a fixed rate moved by 2-3x between consecutive runs here), LAT_ONLY=1 (with LAT_RATE) to run only (d), LAT_RATE (offered readings/s in (d), default half the peak), LAT_SECONDS
# (default 30), LAT_P (partitions of the topics in (d) and (d0), default 8; see below), LAT_LINGER_MS (the
# simulator producer's linger.ms, default 5 = librdkafka's default) and
# LAT_CONSUMER (consumer properties in (d), e.g. 'fetch.wait.max.ms: "10"'), LAT_WARMUP (seconds of load before
# the latency window, default 15: at 100k meters gridsentinel starts behind, creating every meter's state, and
# catches up for about that long), LAT_FETCH_WAIT_MS (the bare
# consumer's in (d0), default 1), LAT_STATE (state keys in (d), e.g.
# 'checkpoint_interval: 30s'), LAT_CONFIG (YAML appended to gridsentinel's config in (d), top-level keys other
# than kafka/state/metrics/log).
# (e) compute core: the same records read into memory and replayed through one Processor on one thread
# (bench/core_replay_bench), against the peer's own replay in (c); SKIP_PEER=1 skips both.
# (d) latency: a fresh broker and gridsentinel, the fleet simulator producing M meters' readings at a steady half
# of the median peak rate of (b), spread evenly; after LAT_WARMUP (15) s of warm-up, LAT_SECONDS of
# gridsentinel_record_e2e_latency_seconds (record CreateTime -> all outputs acknowledged) give p50/p99/p999,
# interpolated within the histogram's buckets as Prometheus' histogram_quantile does. (d) and (d0) use LAT_P
# partitions, not P: librdkafka 2.0.2's mock broker answers a Fetch with at most one producer batch per
# partition (rdkafka_mock_handlers.c: "FIXME: Multiple messageSets ?"), so with many partitions, each getting
# small batches from a live producer, a consumer needs one round trip per batch and falls behind in waves:
# measured here at 120k readings/s with linger.ms 5, the Kafka path alone (d0) has p99 8 ms at 8 partitions,
# 34 ms at 32 and 114 ms at 128 (at linger.ms 1 and 128 partitions, 89-98 ms already at 60k/s). A real broker
# returns up to max.partition.fetch.bytes of batches per partition. P itself is sized for the pre-produced
# topic of (a)-(c), which needs the partitions for the mock's retention; a live run consumed as it is produced
# does not.
# Rates are measured from the first record to the last (the ~3 s group join is reported separately); CPU seconds
# are the consuming process's own (utime+stime) over the same span; broker_cpu_s is the broker process's over
# the phase (join included). The broker runs on the same 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-5000000}
M=${M:-100000}
P=${P:-$(awk -v n="$N" 'BEGIN { p = 8; while (n * 87 / p > 4000000) p *= 2; print p }')}
RUNS=${RUNS:-1}
LAT_P=${LAT_P:-8}
LAT_RUNS=${LAT_RUNS:-$(( ${RUNS:-1} > 1 ? ${RUNS:-1} : 1 ))}
BUILD=${BUILD:-build-bench}
PY=/usr/bin/python3
GS=$BUILD/gridsentinel
BARE=$BUILD/bench/bare_consume_bench
CORE=$BUILD/bench/core_replay_bench
TOPIC=meter-readings
TICKS=$((N / M))
N=$((TICKS * M))
THREADS=${E2E_THREADS:-$(nproc)}
# Several stream threads are several members of the group. librdkafka 2.0.2's mock broker holds a rebalance
# open for (session timeout - 1 s) whenever the member count changed, i.e. 44 s at the default 45 s session
# timeout if one thread's join misses the first generation (seen in 1 run of 5): with a 6 s session timeout
# such a stall costs at most 5 s. A real broker completes the rebalance once every member rejoined.
SESSION_PROPS=""
(( THREADS > 1 )) && SESSION_PROPS='session.timeout.ms: "6000", heartbeat.interval.ms: "500"'
join_props() { if [[ -n $1 && -n $2 ]]; then echo "$1, $2"; else echo "$1$2"; fi; }
[[ -x $GS && -x $BARE && -x $CORE ]] || { echo "build first: cmake --build $BUILD -j2" >&2; exit 2; }
if (( N * 87 / P > 5000000 )); then echo "P=$P too small for N=$N (5 MB per partition)" >&2; exit 2; fi

WORK=$(mktemp -d /tmp/gs-e2e.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
CLK_TCK=$(getconf CLK_TCK)
cpu_of() { awk -v hz="$CLK_TCK" '{ split($0, a, ") "); split(a[2], f, " "); printf "%.3f", (f[12] + f[13]) / hz }' "/proc/$1/stat"; }
now() { date +%s.%N; }

echo "== N=$N readings, M=$M meters, $TICKS ticks, P=$P partitions, RUNS=$RUNS; $(nproc) cores; gridsentinel with $THREADS stream thread(s); work dir $WORK"
# Each run of (b) gets its own state changelogs (the broker creates gridsentinel-<T>-changelog for every --topic
# T; a run restoring an earlier run's state would resume at its end and consume nothing).
BROKER_TOPICS=()
for t in "$TOPIC" meter-readings-json infra-metrics gridsentinel-alerts gridsentinel-dead-letters meter-risk; do
  BROKER_TOPICS+=(--topic "$t")
done
for run in $(seq "$RUNS"); do
  for t in meter-readings meter-readings-json infra-metrics; do BROKER_TOPICS+=(--topic "run$run-$t"); done
done
"$GS" broker --partitions "$P" "${BROKER_TOPICS[@]}" --bootstrap-file "$WORK/bootstrap" >"$WORK/broker.log" 2>&1 &
BROKER_PID=$!
PIDS+=("$BROKER_PID")
for _ in $(seq 100); do [[ -s $WORK/bootstrap ]] && break; sleep 0.1; done
B=$(head -1 "$WORK/bootstrap")
echo "broker pid $BROKER_PID at $B"

if [[ ${LAT_ONLY:-0} != 1 ]]; then
t0=$(now)
"$GS" simulate --bootstrap-servers "$B" --topic "$TOPIC" --meters "$M" --ticks "$TICKS" --seed 1 \
  >"$WORK/simulate.log" 2>&1
t1=$(now)
echo "produced: $(tail -1 "$WORK/simulate.log") in $(echo "$t1 - $t0" | bc) s"

# Every reading must still be on the broker (the mock cluster drops old data silently past ~5 MB/partition).
STORED=$("$PY" - "$B" "$TOPIC" "$P" <<'EOF'
import sys
from confluent_kafka import Consumer, TopicPartition
b, topic, p = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = Consumer({"bootstrap.servers": b, "group.id": "wm"})
print(sum(hi - lo for lo, hi in (c.get_watermark_offsets(TopicPartition(topic, i), timeout=10) for i in range(p))))
c.close()
EOF
)
echo "stored on broker: $STORED records"
[[ $STORED -eq $N ]] || { echo "expected $N stored records: raise P" >&2; exit 1; }
fi

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run_gridsentinel() {  # prints: rate cpu_s rate_per_cpu hwm_kb rss_start_kb assign_wait_s
  local run=$1 port cfg pid
  port=$(free_port)
  cfg=$WORK/run$run.yaml
  cat >"$cfg" <<EOF
kafka:
  bootstrap_servers: "$B"
  group_id: "gs-e2e-$run-$$"
  stream_threads: $THREADS
  consumer_properties: {$(join_props "$SESSION_PROPS" "${E2E_CONSUMER:-}")}
  producer_properties: {${E2E_PRODUCER:-}}
state:
  changelog_topic: "gridsentinel-run$run-{topic}-changelog"
${E2E_STATE:+  $E2E_STATE
}metrics:
  bind: 127.0.0.1:$port
log:
  level: ${E2E_LOG_LEVEL:-warn}
EOF
  local ts
  ts=$(now)
  local gs=$GS
  [[ -n ${E2E_AB_BINARY:-} ]] && (( run % 2 == 0 )) && gs=$E2E_AB_BINARY
  echo "(b) run $run: $gs" >&2
  "$gs" run -c "$cfg" >"$WORK/run$run.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  local c=0 t c1="" t1="" cpu1="" rss0="" last_change
  last_change=$(now)
  while :; do
    c=$(curl -s "http://127.0.0.1:$port/metrics" 2>/dev/null |
      awk '/^gridsentinel_records_consumed_total/ { s += $NF } END { printf "%d", s }') || c=0
    t=$(now)
    if [[ -z $c1 ]]; then
      rss0=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
      if (( c > 0 )); then c1=$c; t1=$t; cpu1=$(cpu_of "$pid"); fi
    fi
    (( c >= N )) && break
    kill -0 "$pid" 2>/dev/null || { echo "gridsentinel exited early; see $WORK/run$run.log" >&2; return 1; }
    sleep 0.05
  done
  local cpu2 hwm
  cpu2=$(cpu_of "$pid")
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  curl -s "http://127.0.0.1:$port/metrics" >"$WORK/run$run.prom" || true
  # Alerts by detector and anomaly type (a rebalance that re-raised alerts shows up here, not just in the total).
  awk '/^gridsentinel_alerts_total/ && $NF > 0 {
         a += $NF; match($0, /anomaly_type="[^"]*"/); t = substr($0, RSTART + 14, RLENGTH - 15)
         match($0, /detector="[^"]*"/); by[substr($0, RSTART + 10, RLENGTH - 11) "/" t] += $NF }
       /^gridsentinel_dead_letters_total/ {d += $NF}
       END { s = ""; for (k in by) s = s sprintf(" %s %d", k, by[k])
             printf "alerts+dead letters (metrics): %d (alerts %d, dead letters %d); alerts by type:%s\n", a + d, a, d, s }' \
    "$WORK/run$run.prom" >&2 || true
  kill -TERM "$pid"
  wait "$pid" || true
  "$PY" -c "
c1,c,t1,t,cpu1,cpu2=$c1,$c,$t1,$t,$cpu1,$cpu2
r=(c-c1)/(t-t1); cpu=cpu2-cpu1
print(f'{r:.0f} {cpu:.3f} {(c-c1)/cpu:.0f} $hwm $rss0 {t1-$ts:.2f}')"
}

run_floor() {  # $1 = offered rate; prints the bare consumer's poll lag line (the Kafka path's own latency)
  local rate=$1 bpid b3 sim_pid speedup n
  rm -f "$WORK/bootstrap_floor"
  "$GS" broker --partitions "$LAT_P" --topic floor --bootstrap-file "$WORK/bootstrap_floor" >"$WORK/broker_floor.log" 2>&1 &
  bpid=$!
  PIDS+=("$bpid")
  for _ in $(seq 100); do [[ -s $WORK/bootstrap_floor ]] && break; sleep 0.1; done
  b3=$(head -1 "$WORK/bootstrap_floor")
  n=$(awk -v r="$rate" -v s="${LAT_SECONDS:-30}" 'BEGIN { printf "%d", r * (s + 5) }')
  BARE_LAG_SKIP_S=5 BARE_PROPS="fetch.wait.max.ms=${LAT_FETCH_WAIT_MS:-1}" "$BARE" "$b3" floor "$n" "floor-$$" \
    >"$WORK/floor.out" 2>"$WORK/floor.log" &
  local cpid=$!
  sleep 5  # the consumer joins its group before the first reading is produced: no backlog is measured
  speedup=$(awk -v r="$rate" -v m="$M" 'BEGIN { printf "%.4f", r * 900 / m }')
  "$GS" simulate --bootstrap-servers "$b3" --topic floor --meters "$M" --speedup "$speedup" --seed 2 \
    --linger-ms "${LAT_LINGER_MS:-5}" >"$WORK/simulate_floor.log" 2>&1 &
  sim_pid=$!
  PIDS+=("$sim_pid")
  wait "$cpid" || true
  kill -TERM "$sim_pid" "$bpid" 2>/dev/null || true
  wait "$sim_pid" "$bpid" 2>/dev/null || true
  grep poll_lag_ms "$WORK/floor.out" || echo "poll_lag_ms unavailable (see $WORK/floor.log)"
}

run_latency() {  # $1 = offered rate; prints: p50_ms p99_ms p999_ms consumed_rate records
  local rate=$1 port cfg pid bpid sim_pid b2 speedup
  rm -f "$WORK/bootstrap_lat"
  "$GS" broker --partitions "$LAT_P" --bootstrap-file "$WORK/bootstrap_lat" >"$WORK/broker_lat.log" 2>&1 &
  bpid=$!
  PIDS+=("$bpid")
  for _ in $(seq 100); do [[ -s $WORK/bootstrap_lat ]] && break; sleep 0.1; done
  b2=$(head -1 "$WORK/bootstrap_lat")
  port=$(free_port)
  cfg=$WORK/lat.yaml
  local state='changelog_topic: "gridsentinel-{topic}-changelog"'
  [[ -n ${LAT_STATE:-} ]] && state="$state, $LAT_STATE"
  printf 'kafka:\n  bootstrap_servers: "%s"\n  group_id: "gs-lat-%s"\n  stream_threads: %s\n  consumer_properties: {%s}\nstate: {%s}\nmetrics:\n  bind: 127.0.0.1:%s\nlog:\n  level: warn\n' \
    "$b2" "$$" "$THREADS" "$(join_props "$SESSION_PROPS" "${LAT_CONSUMER:-}")" "$state" "$port" >"$cfg"
  if [[ -n ${LAT_CONFIG:-} ]]; then printf '%s\n' "$LAT_CONFIG" >>"$cfg"; fi
  "$GS" run -c "$cfg" >"$WORK/lat.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 300); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz") == 200 ]] && break
    sleep 0.1
  done
  if (( THREADS > 1 )); then
    # Several threads: the group must have settled before the load starts (the mock's rebalance hold, above):
    # assigned partitions unchanged and non-zero for 7 s (longer than the 6 s session timeout), 60 s at most.
    local last="" since
    since=$(now)
    for _ in $(seq 120); do
      local a
      a=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^gridsentinel_assigned_partitions / {print $2}')
      if [[ $a != "$last" || $a == 0 ]]; then last=$a; since=$(now); fi
      (( $(echo "$(now) - $since > 7" | bc) )) && break
      sleep 0.5
    done
    echo "group settled with $last partitions assigned" >&2
  fi
  speedup=$(awk -v r="$rate" -v m="$M" 'BEGIN { printf "%.4f", r * 900 / m }')
  "$GS" simulate --bootstrap-servers "$b2" --topic "$TOPIC" --meters "$M" --speedup "$speedup" --seed 2 \
    --linger-ms "${LAT_LINGER_MS:-5}" >"$WORK/simulate_lat.log" 2>&1 &
  sim_pid=$!
  PIDS+=("$sim_pid")
  sleep "${LAT_WARMUP:-15}"
  curl -s "http://127.0.0.1:$port/metrics" >"$WORK/lat_a.prom"
  sleep "${LAT_SECONDS:-30}"
  curl -s "http://127.0.0.1:$port/metrics" >"$WORK/lat_b.prom"
  kill -TERM "$sim_pid" "$pid" 2>/dev/null || true
  wait "$sim_pid" "$pid" 2>/dev/null || true
  kill -TERM "$bpid" 2>/dev/null || true
  wait "$bpid" 2>/dev/null || true
  "$PY" - "$WORK/lat_a.prom" "$WORK/lat_b.prom" "${LAT_SECONDS:-30}" <<'EOF'
import re, sys
def read(path, name):
    buckets, consumed = {}, 0.0
    for line in open(path):
        m = re.match(name + r'_bucket\{le="([^"]+)"\} (\S+)', line)
        if m:
            buckets[float(m.group(1))] = float(m.group(2))
        elif line.startswith("gridsentinel_records_consumed_total"):
            consumed += float(line.split()[-1])
    return buckets, consumed
def quantiles(name):  # as histogram_quantile: linear within the bucket holding rank q * total
    (a, ca), (b, cb) = read(sys.argv[1], name), read(sys.argv[2], name)
    les = sorted(b)
    cum = [b[le] - a.get(le, 0.0) for le in les]
    total = cum[-1]
    def quantile(q):
        rank = q * total
        for i, le in enumerate(les):
            if cum[i] >= rank:
                lo, below = (0.0, 0.0) if i == 0 else (les[i - 1], cum[i - 1])
                if le == float("inf"):
                    return lo
                return lo + (le - lo) * (rank - below) / max(cum[i] - below, 1e-9)
        return float("nan")
    return [f"{quantile(q) * 1e3:.2f}" for q in (0.5, 0.99, 0.999)], cb - ca, total
e2e, consumed, total = quantiles("gridsentinel_record_e2e_latency_seconds")
inside, _, _ = quantiles("gridsentinel_record_latency_seconds")  # polled -> outputs acknowledged
print(*e2e, f"{consumed / float(sys.argv[3]):.0f}", int(total), *inside)
EOF
}

med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2)}'; }
BARE_R=() GS_R=() GS_CPU=() GS_RPC=() GS_HWM=() PY_E2E=() PY_CORE=() PY_E2E_RPC=() GS_CORE=() GS_CORE_RPC=()
if [[ ${LAT_ONLY:-0} == 1 ]]; then
  [[ -n ${LAT_RATE:-} ]] || { echo "LAT_ONLY=1 needs LAT_RATE" >&2; exit 2; }
  RUNS=0 GS_R=("$((LAT_RATE * 2))")
fi
for run in $(seq "$RUNS"); do
  echo "-- run $run"
  bc0=$(cpu_of "$BROKER_PID")
  line=$(BARE_PROPS="${E2E_BARE_PROPS:-}" "$BARE" "$B" "$TOPIC" "$N" "bare-$run-$$" 2>"$WORK/bare$run.log")
  echo "(a) bare consume: $line broker_cpu_s=$(echo "$(cpu_of "$BROKER_PID") - $bc0" | bc)"
  BARE_R+=("$(head -1 <<<"$line" | sed -E 's/.* rate=([0-9.]+).*/\1/')")

  bc0=$(cpu_of "$BROKER_PID")
  read -r r cpu rpc hwm rss0 wait_s < <(run_gridsentinel "$run")
  echo "(b) gridsentinel run: rate=$r events/s cpu_s=$cpu rate_per_cpu_s=$rpc peak_rss_kb=$hwm" \
    "broker_cpu_s=$(echo "$(cpu_of "$BROKER_PID") - $bc0" | bc)" \
    "rss_at_start_kb=$rss0 bytes_per_meter(peak/M)=$((hwm * 1024 / M))" \
    "bytes_per_meter((peak-start)/M)=$(((hwm - rss0) * 1024 / M)) start_to_first_record_s=$wait_s"
  GS_R+=("$r"); GS_CPU+=("$cpu"); GS_RPC+=("$rpc"); GS_HWM+=("$hwm")

  if [[ ${SKIP_PEER:-0} != 1 ]]; then
    "$PY" bench/peers/python_peer.py --bootstrap-servers "$B" --topic "$TOPIC" --expected "$N" \
      --group "peer-$run-$$" >"$WORK/peer$run.log" 2>&1 || { cat "$WORK/peer$run.log" >&2; exit 1; }
    sed 's/^/(c) python peer: /' "$WORK/peer$run.log"
    PY_E2E+=("$(sed -nE 's/.* e2e_rate=([0-9.]+).*/\1/p' "$WORK/peer$run.log")")
    PY_E2E_RPC+=("$(sed -nE 's/.* e2e_rate_per_cpu_s=([0-9.]+).*/\1/p' "$WORK/peer$run.log")")
    PY_CORE+=("$(sed -nE 's/.* core_rate=([0-9.]+).*/\1/p' "$WORK/peer$run.log")")
    line=$("$CORE" "$B" "$TOPIC" "$N" "core-$run-$$" 2>"$WORK/core$run.log") ||
      { cat "$WORK/core$run.log" >&2; exit 1; }
    echo "(e) gridsentinel compute core (same records from memory, one thread): $line"
    GS_CORE+=("$(sed -E 's/.* core_rate=([0-9.]+).*/\1/' <<<"$line")")
    GS_CORE_RPC+=("$(sed -E 's/.* core_rate_per_cpu_s=([0-9.]+).*/\1/' <<<"$line")")
  fi
done

if [[ ${SKIP_LATENCY:-0} != 1 ]]; then
  peak=$(printf '%s\n' "${GS_R[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  half=${LAT_RATE:-$((${peak%.*} / 2))}
  echo "-- (d) latency at a steady $half readings/s (median peak $peak; LAT_RATE overrides half of it)," \
    "linger.ms ${LAT_LINGER_MS:-5}, $LAT_P partitions"
  echo "(d0) Kafka path alone (simulator -> broker -> bare consumer, fetch.wait.max.ms ${LAT_FETCH_WAIT_MS:-1}," \
    "CreateTime -> polled, after 5 s): $(run_floor "$half")"
  L50=() L99=() L999=() I50=() I99=() I999=()
  for lrun in $(seq "$LAT_RUNS"); do
    read -r p50 p99 p999 lat_rate lat_n in50 in99 in999 < <(run_latency "$half")
    echo "(d) run $lrun: record e2e latency (CreateTime -> outputs acknowledged), $lat_n records over" \
      "${LAT_SECONDS:-30} s: p50=${p50} ms p99=${p99} ms p999=${p999} ms; consumed $lat_rate readings/s of" \
      "$half offered; inside gridsentinel (polled -> outputs acknowledged): p50=${in50} ms p99=${in99} ms" \
      "p999=${in999} ms"
    L50+=("$p50"); L99+=("$p99"); L999+=("$p999"); I50+=("$in50"); I99+=("$in99"); I999+=("$in999")
  done
  LAT_LINE="p50 $(med "${L50[@]}") ms, p99 $(med "${L99[@]}") ms, p999 $(med "${L999[@]}") ms; inside gridsentinel p50 $(med "${I50[@]}") ms, p99 $(med "${I99[@]}") ms, p999 $(med "${I999[@]}") ms (medians of $LAT_RUNS run(s) at $half readings/s)"
  if (( LAT_RUNS > 1 )); then echo "(d) medians: $LAT_LINE"; fi
fi

[[ ${LAT_ONLY:-0} == 1 ]] && { echo "logs in $WORK"; exit 0; }
echo "== medians over $RUNS run(s)"
# a / b to $3 decimals, rounded (bc's scale truncates: 0.31893 printed as .318).
ratio() { LC_ALL=C printf "%.${3}f" "$(echo "$1 / $2" | bc -l)"; }
mb=$(med "${BARE_R[@]}"); mg=$(med "${GS_R[@]}"); mh=$(med "${GS_HWM[@]}")
echo "bare consume rate:        $mb records/s"
echo "gridsentinel end to end:  $mg events/s ($(med "${GS_RPC[@]}") per CPU-second; $(med "${GS_CPU[@]}") CPU-s)" \
  "= $(ratio "$mg" "$mb" 3) x bare"
echo "gridsentinel peak RSS:    $mh kB = $((mh * 1024 / M)) bytes per meter (M=$M, whole process)"
if [[ ${#PY_E2E[@]} -gt 0 ]]; then
  mp=$(med "${PY_E2E[@]}"); mc=$(med "${PY_CORE[@]}")
  echo "python peer end to end:   $mp events/s ($(med "${PY_E2E_RPC[@]}") per CPU-second);" \
    "gridsentinel = $(ratio "$mg" "$mp" 2) x peer"
  mgc=$(med "${GS_CORE[@]}")
  echo "python peer compute core: $mc events/s"
  echo "gridsentinel compute core: $mgc events/s ($(med "${GS_CORE_RPC[@]}") per CPU-second; one thread)" \
    "= $(ratio "$mgc" "$mc" 2) x peer core"
fi
if [[ -n ${LAT_LINE:-} ]]; then echo "latency at half the peak: $LAT_LINE"; fi
echo "logs in $WORK"
