#!/usr/bin/env bash
# The main job on the embedded default: installs what is needed, builds, then runs gridsentinel with librdkafka's
# mock Kafka cluster in-process, a simulated fleet of 500 meters with injected anomalies, alerts printed to stdout
# and Prometheus metrics at http://127.0.0.1:9464/metrics. Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build-release -DCMAKE_BUILD_TYPE=Release -DGS_BUILD_TESTS=OFF -DGS_BUILD_BENCH=OFF
exec build-release/gridsentinel run --config deploy/config/embedded.yaml "$@"
