#!/usr/bin/env python3
"""The Python examples work as documented against a running gridsentinel.

Starts `gridsentinel run` on its embedded broker (z-score on active_power_w over a 6 h window, so that a short
warm-up suffices), runs examples/python/producer.py exactly as its usage line says (BOOTSTRAP replaced by the
embedded broker's address), waits for the alert on the alerts topic, publishes every alert a second time (a
redelivery, as after a crash of gridsentinel), then runs examples/python/alert_consumer.py as its usage line says
(with --idle-timeout so it ends) and checks it prints the spike's alert once and reports the duplicates dropped.

Usage: python_examples_test.py GRIDSENTINEL_BINARY SOURCE_DIR
"""
import ast
import os
import re
import shlex
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # nothing written into the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deploylib import Checks, Gridsentinel, free_port  # noqa: E402

BINARY, SRC = sys.argv[1], os.path.abspath(sys.argv[2])
EXAMPLES = os.path.join(SRC, "examples", "python")
METER = "MTR-EXAMPLE-1"  # producer.py's default --meter-id


def usage_argv(script, bootstrap):
    """The `usage:` line of the script's docstring as argv: optional [..] parts dropped, BOOTSTRAP replaced."""
    doc = ast.get_docstring(ast.parse(open(os.path.join(EXAMPLES, script)).read()))
    line = next(ln for ln in doc.splitlines() if ln.lower().startswith("usage:"))
    line = re.sub(r"\[[^\]]*\]", "", line.split(":", 1)[1])
    argv = [bootstrap if a == "BOOTSTRAP" else a for a in shlex.split(line)]
    assert bootstrap in argv, f"{script}: the usage line has no BOOTSTRAP placeholder: {line}"
    return argv


def main():
    checks = Checks()
    config = f"""
embedded: {{partitions: 2, bootstrap_file: "@BOOTSTRAP_FILE@"}}
metrics: {{bind: 127.0.0.1:{free_port()}}}
log: {{level: warn}}
detectors:
  zscore:
    meter: [{{feature: active_power_w, window: 6h, buckets: 12, min_samples: 20, threshold: 5}}]
"""
    from confluent_kafka import Consumer, Producer

    with Gridsentinel(BINARY, config) as gs:
        print(f"gridsentinel on embedded broker {gs.bootstrap}")

        # 1. The producer, as documented.
        argv = usage_argv("producer.py", gs.bootstrap)
        print("$", " ".join(argv))
        r = subprocess.run(argv, cwd=SRC, capture_output=True, text=True, timeout=90)
        print(r.stdout + r.stderr)
        checks.check("producer.py (usage line) exits 0 and reports its readings",
                     r.returncode == 0 and re.search(rf"produced \d+ readings for {METER}", r.stdout) is not None,
                     f"exit {r.returncode}")
        spike = re.search(r"spike of ([\d.]+) W", r.stdout)
        spike_w = float(spike.group(1)) if spike else 6000.0

        # 2. The raw alerts, as gridsentinel published them; then each once more (a redelivery).
        reader = Consumer({"bootstrap.servers": gs.bootstrap, "group.id": "deploy-test-raw-reader",
                           "auto.offset.reset": "earliest", "enable.auto.commit": False})
        reader.subscribe(["gridsentinel-alerts"])
        raw = []
        deadline = time.time() + 60
        last_new = None
        while time.time() < deadline:
            msg = reader.poll(0.5)
            if msg is not None and not msg.error():
                raw.append((msg.key(), msg.value()))
                last_new = time.time()
            elif last_new and time.time() - last_new > 3:  # nothing new for 3 s after the first alert
                break
        reader.close()
        ours = [kv for kv in raw if kv[0] == METER.encode()]
        checks.check(f"gridsentinel published alerts for {METER}", bool(ours), f"{len(ours)} of {len(raw)} alerts")
        producer = Producer({"bootstrap.servers": gs.bootstrap})
        for key, value in raw:
            producer.produce("gridsentinel-alerts", key=key, value=value)
        checks.check("the alerts were published a second time (simulated redelivery)", producer.flush(15) == 0,
                     f"{len(raw)} duplicates")
        producer = None  # destroyed now, not after the broker is gone

        # 3. The consumer, as documented, until it has been idle for a few seconds.
        argv = usage_argv("alert_consumer.py", gs.bootstrap) + ["--idle-timeout", "8"]
        print("$", " ".join(argv))
        r = subprocess.run(argv, cwd=SRC, capture_output=True, text=True, timeout=90)
        print(r.stdout + r.stderr)
        out = r.stdout
        checks.check("alert_consumer.py (usage line) exits 0", r.returncode == 0, f"exit {r.returncode}")
        lines = [ln for ln in out.splitlines() if re.match(r"\d{4}-\d\d-\d\dT", ln)]
        spike_lines = [ln for ln in lines if f" meter {METER} " in ln and "/high_value " in ln
                       and f"active_power_w={spike_w:g} " in ln]
        checks.check("the consumer prints the spike's alert (meter, high_value, observed value)", bool(spike_lines),
                     spike_lines[0] if spike_lines else out[-500:])
        checks.check("the z-score detector's alert is among them", any(" zscore/high_value " in ln for ln in lines))
        ids = [re.search(r"id=(\w+)", ln).group(1) for ln in lines]
        checks.check("every alert printed once (no alert_id twice)", len(ids) == len(set(ids)) == len(raw),
                     f"{len(ids)} printed, {len(set(ids))} distinct ids, {len(raw)} published")
        m = re.search(r"(\d+) alerts printed, (\d+) duplicates dropped", out)
        checks.check("the consumer reports the redelivered alerts as duplicates dropped",
                     m is not None and int(m.group(2)) == len(raw), m.group(0) if m else "no summary line")

        # 4. The bounded LRU itself: a key evicted by capacity counts as new again.
        sys.path.insert(0, EXAMPLES)
        from alert_consumer import LruSet
        s = LruSet(2)
        # a b | a again (dup, now newest) | c evicts b | b is new, evicts a | a is new, evicts c | a again (dup)
        got = [s.add(k) for k in ("a", "b", "a", "c", "b", "a", "a")]
        checks.check("LruSet(2): duplicates dropped, least recently seen evicted, memory bounded",
                     got == [True, True, False, True, True, True, False] and len(s._keys) == 2, str(got))
    checks.check("gridsentinel stopped cleanly on SIGTERM (exit 0)", gs.returncode == 0,
                 f"exit {gs.returncode}" + ("" if gs.returncode == 0 else "\n" + gs.output()))
    checks.finish()


if __name__ == "__main__":
    main()
