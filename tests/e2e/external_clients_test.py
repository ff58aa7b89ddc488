#!/usr/bin/env python3
"""End to end with clients that are not gridsentinel.

Starts `gridsentinel run` on its embedded broker (a separate process), pushes readings as JSON with kcat (as a
person would by hand), reads the resulting alert back with Python confluent-kafka decoding the protobuf generated
from proto/, and checks that /metrics answers and passes `promtool check metrics`.
Usage: external_clients_test.py GRIDSENTINEL_BINARY SOURCE_DIR
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    binary, source_dir = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp(prefix="gs-e2e-")
    # Python bindings generated from the project's own schemas, as a consumer team would.
    subprocess.run(["protoc", f"-I{source_dir}/proto", f"--python_out={work}",
                    "gridsentinel/v1/alert.proto", "gridsentinel/v1/telemetry.proto"], check=True)
    sys.path.insert(0, work)
    from gridsentinel.v1 import alert_pb2  # noqa: E402
    from confluent_kafka import Consumer  # noqa: E402

    port = free_port()
    bootstrap_file = os.path.join(work, "bootstrap")
    config = os.path.join(work, "config.yaml")
    with open(config, "w") as f:
        f.write(f"""
embedded: {{partitions: 2, bootstrap_file: {bootstrap_file}}}
metrics: {{bind: 127.0.0.1:{port}}}
detectors:
  zscore:
    meter: [{{feature: active_power_w, window: 6h, buckets: 12, min_samples: 20, threshold: 5}}]
""")
    proc = subprocess.Popen([binary, "run", "--config", config], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        deadline = time.time() + 30
        while not (os.path.exists(bootstrap_file) and open(bootstrap_file).read().strip()):
            assert time.time() < deadline, "gridsentinel did not report its bootstrap address"
            assert proc.poll() is None, "gridsentinel exited early"
            time.sleep(0.1)
        bootstrap = open(bootstrap_file).read().strip()
        print("embedded broker at", bootstrap)

        # 40 normal readings every 15 minutes, then one spike: pushed as JSON lines with kcat.
        t0 = 1_704_067_200_000
        lines = []
        for i in range(40):
            reading = {"meterId": "MTR-KCAT-1", "eventTimeMs": str(t0 + i * 900_000), "voltageV": 229.5 + (i % 7) * 0.2,
                       "activePowerW": 500.0 + (i % 5) * 10.0}
            lines.append("MTR-KCAT-1:" + json.dumps(reading))
        spike = {"meterId": "MTR-KCAT-1", "eventTimeMs": str(t0 + 40 * 900_000), "voltageV": 230.0,
                 "activePowerW": 6000.0}
        lines.append("MTR-KCAT-1:" + json.dumps(spike))
        subprocess.run(["kcat", "-b", bootstrap, "-t", "meter-readings-json", "-P", "-K:"],
                       input="\n".join(lines) + "\n", text=True, check=True, timeout=60)

        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "e2e-python-reader",
                             "auto.offset.reset": "earliest"})
        consumer.subscribe(["gridsentinel-alerts"])
        alert, seen = None, []
        deadline = time.time() + 60
        while alert is None and time.time() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            a = alert_pb2.Alert()
            a.ParseFromString(msg.value())
            seen.append(f"{a.detector}/{a.anomaly_type}")
            if a.detector == "zscore":
                alert = a
        consumer.close()
        assert alert is not None, f"no z-score alert read back within 60 s (saw {seen})"
        print("alert read back by Python:", alert.entity_id, alert.detector, alert.anomaly_type,
              alert.observed_value, alert.explanation)
        assert alert.entity_id == "MTR-KCAT-1", alert
        assert alert.anomaly_type == "high_value" and alert.feature == "active_power_w", alert
        assert alert.observed_value == 6000.0 and alert.event_time_ms == t0 + 40 * 900_000, alert
        assert len(alert.alert_id) == 32

        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        assert 'gridsentinel_records_consumed_total{topic="meter-readings-json"} 41' in body, body
        check = subprocess.run(["promtool", "check", "metrics"], input=body, text=True, capture_output=True)
        assert check.returncode == 0, check.stdout + check.stderr
        print("/metrics passes promtool check metrics")
        for path in ("/healthz", "/readyz"):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
                assert r.status == 200 and r.read() == b"ok\n", path
        print("/healthz and /readyz answer 200 while consuming")
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            raise AssertionError("gridsentinel did not stop within 15 s of SIGTERM")
    assert proc.returncode == 0, f"gridsentinel exited with {proc.returncode}:\n{out}"
    print("gridsentinel stopped cleanly on SIGTERM")
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
