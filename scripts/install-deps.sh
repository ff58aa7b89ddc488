#!/usr/bin/env bash
# Installs everything gridsentinel needs to build, test and run on Debian 12 (as root). Idempotent.
set -euo pipefail
PKGS=(build-essential cmake ninja-build pkg-config ccache clang-14 libclang-rt-14-dev clang
      librdkafka-dev libprotobuf-dev protobuf-compiler libeigen3-dev libspdlog-dev libfmt-dev
      prometheus-cpp-dev libcivetweb-dev libyaml-cpp-dev libcli11-dev nlohmann-json3-dev
      libgtest-dev libgmock-dev libbenchmark-dev
      kcat prometheus curl python3-confluent-kafka python3-protobuf python3-scipy python3-sklearn python3-numpy python3-yaml
      gnuplot-nox)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  # --no-install-recommends: prometheus' recommends would pull in and start node-exporter.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
