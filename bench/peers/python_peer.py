#!/usr/bin/python3
"""The Python peer of gridsentinel's meter path, written as well as Python allows, for bench/e2e/run_e2e.sh.

  /usr/bin/python3 bench/peers/python_peer.py --bootstrap-servers B --topic meter-readings --expected N

Pipeline per micro-batch (confluent-kafka consume(1000)):
  1. protobuf decode of each MeterReading (classes generated from proto/ by protoc into a temp dir);
  2. per-meter rolling window features, vectorised with numpy: a ring buffer of the last W readings per meter and
     running sum / sum of squares, for voltage, current, active power and power factor: mean, std, z-score
     (prequential: scored against the window before the reading enters it);
  3. scikit-learn IsolationForest (100 trees, 256 samples, as gridsentinel's default) fitted once on the first
     `--fit-sample` readings' feature vectors, then score_samples on every micro-batch.
Also times the compute core alone: the same raw records replayed from memory (steps 1-3, no Kafka).
Prints key=value lines: e2e_rate, e2e_cpu_s, core_rate, core_cpu_s, peak_rss_kb.

Needs /usr/bin/python3 (Debian python3-confluent-kafka, python3-protobuf, python3-numpy, python3-sklearn) and protoc.
"""
import argparse
import atexit
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from confluent_kafka import Consumer, KafkaError
from sklearn.ensemble import IsolationForest

PROTO_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto"))


def load_proto():
    gen = tempfile.mkdtemp(prefix="gs-peer-proto-")
    atexit.register(shutil.rmtree, gen, True)
    subprocess.run(["protoc", f"-I{PROTO_DIR}", f"--python_out={gen}", "gridsentinel/v1/telemetry.proto"], check=True)
    sys.path.insert(0, gen)
    from gridsentinel.v1 import telemetry_pb2  # noqa: E402
    return telemetry_pb2


NF = 4  # voltage_v, current_a, active_power_w, power_factor


class Detector:
    """Per-meter rolling windows (ring buffer + running sums) and an IsolationForest, vectorised per micro-batch."""

    def __init__(self, telemetry_pb2, window, fit_sample, z_threshold=4.0, capacity=1 << 14):
        self.MeterReading = telemetry_pb2.MeterReading
        self.W = window
        self.fit_sample = fit_sample
        self.z_threshold = z_threshold
        self.index = {}  # meter id -> row
        self._alloc(capacity)
        self.forest = None
        self.fit_buf = []
        self.flagged = 0
        self.forest_flagged = 0
        self.readings = 0

    def _alloc(self, cap):
        self.ring = np.zeros((cap, self.W, NF))
        self.pos = np.zeros(cap, dtype=np.int64)
        self.cnt = np.zeros(cap, dtype=np.int64)
        self.s1 = np.zeros((cap, NF))
        self.s2 = np.zeros((cap, NF))

    def _grow(self):
        cap = self.ring.shape[0] * 2
        old = (self.ring, self.pos, self.cnt, self.s1, self.s2)
        self._alloc(cap)
        n = old[0].shape[0]
        self.ring[:n], self.pos[:n], self.cnt[:n], self.s1[:n], self.s2[:n] = old

    def decode(self, values):
        """Raw protobuf bytes -> (meter rows, event times, feature matrix)."""
        n = len(values)
        x = np.empty((n, NF))
        rows = np.empty(n, dtype=np.int64)
        t = np.empty(n, dtype=np.int64)
        parse = self.MeterReading.FromString
        index = self.index
        for i, v in enumerate(values):
            r = parse(v)
            row = index.get(r.meter_id)
            if row is None:
                row = len(index)
                index[r.meter_id] = row
                if row >= self.ring.shape[0]:
                    self._grow()
            rows[i] = row
            t[i] = r.event_time_ms
            x[i, 0] = r.voltage_v
            x[i, 1] = r.current_a
            x[i, 2] = r.active_power_w
            x[i, 3] = r.power_factor
        return rows, t, x

    def features(self, rows, x):
        """Prequential z-scores per reading (n x NF); readings of the same meter in one batch taken in order."""
        n = len(rows)
        z = np.zeros((n, NF))
        feats = np.empty((n, 2 * NF))
        # Rank of each reading among its meter's readings in this batch: each rank is a set of distinct meters.
        order = np.argsort(rows, kind="stable")
        srows = rows[order]
        starts = np.r_[True, srows[1:] != srows[:-1]]
        grp_start = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n) - grp_start
        for k in range(int(rank.max()) + 1 if n else 0):
            sel = np.nonzero(rank == k)[0]
            r = rows[sel]
            xv = x[sel]
            c = self.cnt[r][:, None].astype(np.float64)
            s1 = self.s1[r]
            s2 = self.s2[r]
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = s1 / c
                var = (s2 - s1 * mean) / (c - 1)
                std = np.sqrt(np.maximum(var, 0.0))
                floor = np.maximum(1e-9, 1e-3 * np.abs(mean))
                zz = (xv - mean) / np.maximum(std, floor)
            zz[(c[:, 0] < 16)] = 0.0  # warm-up, as gridsentinel's min_samples
            z[sel] = zz
            feats[sel, :NF] = xv
            feats[sel, NF:] = np.nan_to_num(zz)
            # learn: replace the oldest value of the ring buffer
            p = self.pos[r]
            full = self.cnt[r] >= self.W
            old = self.ring[r, p]
            old[~full] = 0.0
            self.s1[r] += xv - old
            self.s2[r] += xv * xv - old * old
            self.ring[r, p] = xv
            self.pos[r] = (p + 1) % self.W
            self.cnt[r] = np.minimum(self.cnt[r] + 1, self.W)
        return z, feats

    def process(self, values):
        rows, _t, x = self.decode(values)
        z, feats = self.features(rows, x)
        self.flagged += int(np.count_nonzero(np.abs(z) >= self.z_threshold))
        if self.forest is None:
            self.fit_buf.append(feats)
            if sum(len(f) for f in self.fit_buf) >= self.fit_sample:
                self.forest = IsolationForest(n_estimators=100, max_samples=256, random_state=0)
                self.forest.fit(np.concatenate(self.fit_buf))
                self.fit_buf = []
        else:
            s = -self.forest.score_samples(feats)  # in (0, 1]; higher = more anomalous, like the paper's score
            self.forest_flagged += int(np.count_nonzero(s >= 0.6))
        self.readings += len(values)


def cpu_s():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap-servers", required=True)
    ap.add_argument("--topic", default="meter-readings")
    ap.add_argument("--expected", type=int, required=True)
    ap.add_argument("--group", default=f"python-peer-{os.getpid()}-{time.time_ns()}")
    ap.add_argument("--window", type=int, default=96, help="readings per meter in the rolling window (96 = 1 day)")
    ap.add_argument("--fit-sample", type=int, default=10000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--core-limit", type=int, default=0, help="replay only this many records for the core (0 = all)")
    a = ap.parse_args()
    pb = load_proto()

    consumer = Consumer({"bootstrap.servers": a.bootstrap_servers, "group.id": a.group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "queued.min.messages": 100000})
    consumer.subscribe([a.topic])
    det = Detector(pb, a.window, a.fit_sample)
    kept = []  # raw values, replayed from memory for the compute core alone
    n = 0
    t_sub = time.monotonic()
    t_first = t_last = None
    cpu_first = 0.0
    while n < a.expected:
        msgs = consumer.consume(a.batch, 0.1)
        if not msgs:
            if t_last is not None and time.monotonic() - t_last > 20:
                print(f"stalled at {n} of {a.expected}", file=sys.stderr)
                break
            continue
        if t_first is None:
            t_first = time.monotonic()
            cpu_first = cpu_s()
        values = [m.value() for m in msgs if m.error() is None]
        det.process(values)
        kept.extend(values)
        n += len(values)
        t_last = time.monotonic()
    e2e_s = t_last - t_first
    e2e_cpu = cpu_s() - cpu_first
    consumer.close()
    print(f"e2e_records={n} e2e_seconds={e2e_s:.3f} e2e_rate={n / e2e_s:.0f} e2e_cpu_s={e2e_cpu:.3f} "
          f"e2e_rate_per_cpu_s={n / e2e_cpu:.0f} assign_wait_s={t_first - t_sub:.2f} "
          f"z_flagged={det.flagged} forest_flagged={det.forest_flagged} meters={len(det.index)}", flush=True)

    if a.core_limit:
        kept = kept[:a.core_limit]
    core = Detector(pb, a.window, a.fit_sample)
    c0, w0 = cpu_s(), time.monotonic()
    for i in range(0, len(kept), a.batch):
        core.process(kept[i:i + a.batch])
    core_s = time.monotonic() - w0
    core_cpu = cpu_s() - c0
    print(f"core_records={len(kept)} core_seconds={core_s:.3f} core_rate={len(kept) / core_s:.0f} "
          f"core_cpu_s={core_cpu:.3f} core_rate_per_cpu_s={len(kept) / core_cpu:.0f} "
          f"peak_rss_kb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", flush=True)


if __name__ == "__main__":
    main()
