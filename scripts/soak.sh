#!/usr/bin/env bash
# soak.sh [MINUTES]: a soak run outside the default suite (default 30 minutes).
#
# Starts the embedded broker in its own process (`gridsentinel broker`), measures gridsentinel's peak rate on a
# pre-filled backlog (unless RATE is given), then runs the fleet simulator at a steady ~80% of that peak with
# gridsentinel consuming it. Samples gridsentinel's RSS every 10 s and prints the RSS after warm-up and at the end,
# the growth, the errors and warnings in its log, alerts, dead letters and the consumer lag.
#
# Environment:
#   GS_BIN        gridsentinel binary (default: build-release/gridsentinel, else build/gridsentinel)
#   METERS        simulated fleet size (default 10000)
#   RATE          readings per second for the soak (default: 80% of the measured peak)
#   RATE_FRACTION fraction of the peak when RATE is not given (default 0.8)
#   WARMUP_S      seconds before the "after warm-up" RSS (default: MINUTES x 12 s, between 60 and 300)
#   PARTITIONS    partitions per topic (default 8)
#   OUT           directory for logs and samples (default: a new /tmp/gs-soak.XXXXXX)
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=${1:-30}
meters=${METERS:-10000}
partitions=${PARTITIONS:-8}
fraction=${RATE_FRACTION:-0.8}
if [[ -z ${GS_BIN:-} ]]; then
  if [[ -x build-release/gridsentinel ]]; then GS_BIN=build-release/gridsentinel; else GS_BIN=build/gridsentinel; fi
fi
[[ -x $GS_BIN ]] || { echo "soak: no gridsentinel binary at $GS_BIN (set GS_BIN or build first)" >&2; exit 2; }
out=${OUT:-$(mktemp -d /tmp/gs-soak.XXXXXX)}
mkdir -p "$out"
duration_s=$((minutes * 60))
warmup_s=${WARMUP_S:-$((minutes * 12))}
((warmup_s < 60)) && warmup_s=60
((warmup_s > 300)) && warmup_s=300

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# metric NAME_PREFIX PORT: sum of the samples whose series starts with NAME_PREFIX.
metric() {
  curl -s "http://127.0.0.1:$2/metrics" | awk -v m="$1" 'index($0, m) == 1 { s += $NF } END { printf "%.0f\n", s + 0 }'
}

start_broker() {  # start_broker FILE -> sets broker_pid
  rm -f "$1"
  "$GS_BIN" broker --partitions "$partitions" --bootstrap-file "$1" >"$out/broker-$(basename "$1").log" 2>&1 &
  broker_pid=$!
  pids+=("$broker_pid")
  for _ in $(seq 100); do [[ -s $1 ]] && break; sleep 0.1; done
  [[ -s $1 ]] || { echo "soak: broker did not start" >&2; exit 1; }
}

start_gridsentinel() {  # start_gridsentinel BOOTSTRAP PORT LOG -> sets gs_pid
  "$GS_BIN" run --bootstrap-servers "$1" --metrics-bind "127.0.0.1:$2" >"$3" 2>&1 &
  gs_pid=$!
  pids+=("$gs_pid")
}

stop_pid() {  # SIGTERM and wait
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

echo "soak: $minutes min, $meters meters, $partitions partitions, binary $GS_BIN, output in $out"

# ---- 1. Peak: a backlog of readings, consumed as fast as gridsentinel can.
if [[ -z ${RATE:-} ]]; then
  start_broker "$out/bootstrap-peak"
  b=$(cat "$out/bootstrap-peak")
  ticks=$(((300000 + meters - 1) / meters))
  "$GS_BIN" simulate --bootstrap-servers "$b" --meters "$meters" --ticks "$ticks" >"$out/peak-sim.log" 2>&1
  backlog=$((ticks * meters))
  port=$(free_port)
  start_gridsentinel "$b" "$port" "$out/peak-gridsentinel.log"
  t_first="" n_first=0 n=0
  for _ in $(seq 1200); do
    sleep 0.1
    n=$(metric 'gridsentinel_records_consumed_total{topic="meter-readings"}' "$port" 2>/dev/null || echo 0)
    if [[ -z $t_first && $n -gt 0 ]]; then t_first=$(date +%s.%N); n_first=$n; fi
    ((n >= backlog)) && break
  done
  t_last=$(date +%s.%N)
  stop_pid "$gs_pid"
  stop_pid "$broker_pid"
  peak=$(awk -v n="$n" -v n0="$n_first" -v a="$t_first" -v b="$t_last" 'BEGIN { printf "%.0f", (n - n0) / (b - a) }')
  rate=$(awk -v p="$peak" -v f="$fraction" 'BEGIN { printf "%.0f", p * f }')
  echo "peak: $n readings consumed, $peak readings/s (from the first consumed record); soak rate $rate readings/s"
else
  rate=$RATE
  echo "soak rate $rate readings/s (given)"
fi

# ---- 2. Soak: broker, simulator at a steady rate, gridsentinel; RSS every 10 s.
start_broker "$out/bootstrap"
b=$(cat "$out/bootstrap")
port=$(free_port)
start_gridsentinel "$b" "$port" "$out/gridsentinel.log"
speedup=$(awk -v r="$rate" -v m="$meters" 'BEGIN { printf "%.3f", r * 900 / m }')
"$GS_BIN" simulate --bootstrap-servers "$b" --meters "$meters" --speedup "$speedup" >"$out/simulator.log" 2>&1 &
sim_pid=$!
pids+=("$sim_pid")
echo "simulator: speedup $speedup (simulated seconds per wall second) = $rate readings/s"

samples="$out/rss.csv"
echo "elapsed_s,rss_kb,consumed,lag" >"$samples"
rss_warm="" consumed_warm=0 t0=$(date +%s)
while :; do
  sleep 10
  elapsed=$(($(date +%s) - t0))
  kill -0 "$gs_pid" 2>/dev/null || { echo "soak: gridsentinel exited early" >&2; tail -20 "$out/gridsentinel.log" >&2; exit 1; }
  rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$gs_pid/status")
  consumed=$(metric 'gridsentinel_records_consumed_total' "$port")
  lag=$(metric 'gridsentinel_consumer_lag_records' "$port")
  echo "$elapsed,$rss,$consumed,$lag" >>"$samples"
  printf '  t=%4ds rss=%7d kB consumed=%10d lag=%d\n' "$elapsed" "$rss" "$consumed" "$lag"
  if [[ -z $rss_warm ]] && ((elapsed >= warmup_s)); then rss_warm=$rss; consumed_warm=$consumed; t_warm=$elapsed; fi
  ((elapsed >= duration_s)) && break
done
rss_end=$rss
consumed_end=$consumed
alerts=$(metric 'gridsentinel_alerts_total' "$port")
dead=$(metric 'gridsentinel_dead_letters_total' "$port")
perr=$(metric 'gridsentinel_producer_errors_total' "$port")
commits_failed=$(metric 'gridsentinel_offset_commits_total{result="failed"}' "$port")
entities=$(metric 'gridsentinel_active_entities' "$port")
stop_pid "$sim_pid"
t_stop=$(date +%s.%N)
stop_pid "$gs_pid"
stop_s=$(awk -v a="$t_stop" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
errors=$(grep -c -E ' (error|critical) ' "$out/gridsentinel.log" || true)
warnings=$(grep -c -E ' warn +' "$out/gridsentinel.log" || true)
growth=$(awk -v a="$rss_warm" -v b="$rss_end" 'BEGIN { printf "%.1f", (b - a) * 100 / a }')
# RSS oscillates with librdkafka's fetch buffers (a single sample can sit in a dip): also compare the medians of
# the 5 minutes after warm-up and of the last 5 minutes.
median_rss() {  # median_rss FROM_S TO_S
  awk -F, -v a="$1" -v b="$2" 'NR > 1 && $1 >= a && $1 < b { print $2 }' "$out/rss.csv" | sort -n |
    awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2); else print 0 }'
}
med_warm=$(median_rss "$t_warm" $((t_warm + 300)))
med_end=$(median_rss $((elapsed - 300)) $((elapsed + 1)))
med_growth=$(awk -v a="$med_warm" -v b="$med_end" 'BEGIN { if (a > 0) printf "%.1f", (b - a) * 100 / a; else print "?" }')
achieved=$(awk -v a="$consumed_warm" -v b="$consumed_end" -v t="$((elapsed - t_warm))" 'BEGIN { if (t > 0) printf "%.0f", (b - a) / t; else print 0 }')

cat <<EOF

==== soak summary ($minutes min, $meters meters) ====
rate offered         $rate readings/s; consumed after warm-up $achieved readings/s; final lag $lag records
RSS after warm-up    $rss_warm kB (t=${t_warm}s)
RSS at the end       $rss_end kB (t=${elapsed}s)
RSS growth           $growth % (single samples); medians of 5 min after warm-up / last 5 min: $med_warm / $med_end kB, $med_growth %
records consumed     $consumed_end; active entities $entities
alerts               $alerts
dead letters         $dead
producer errors      $perr; failed offset commits $commits_failed
log errors           $errors; log warnings $warnings
SIGTERM -> exit      $stop_s s
samples              $samples; logs in $out
EOF
if ((errors > 0)); then grep -E ' (error|critical) ' "$out/gridsentinel.log" | head -5; fi
