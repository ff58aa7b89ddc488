#!/usr/bin/env python3
"""Read gridsentinel's alerts topic and print each alert once.

gridsentinel delivers at least once: after a crash or a rebalance an alert can be published again, with the same
alert_id (a deterministic hash of the entity, detector, anomaly type and the event time that opened the episode).
This consumer drops such duplicates with a bounded LRU of recently seen alert_ids, as an alert consumer should.

usage: /usr/bin/python3 examples/python/alert_consumer.py --bootstrap-servers BOOTSTRAP [--max-alerts N] [--idle-timeout S]

Offsets are committed only after an alert is handled (printed), so a crash of this consumer re-reads, never skips.
With a new --group-id it starts from the beginning of the topic. Stops on Ctrl-C / SIGTERM, after --max-alerts
alerts or --idle-timeout seconds without a new one.
Needs confluent-kafka and protobuf (Debian: python3-confluent-kafka, python3-protobuf) and protoc.
"""
import argparse
import collections
import datetime
import signal
import sys
import time

from confluent_kafka import Consumer, KafkaError

import gs_proto


class LruSet:
    """The most recent `capacity` keys; memory stays bounded however many alerts go by."""

    def __init__(self, capacity):
        self.capacity = capacity
        self._keys = collections.OrderedDict()

    def add(self, key):
        """Returns False if the key was already there (a duplicate), True if it is new."""
        if key in self._keys:
            self._keys.move_to_end(key)
            return False
        self._keys[key] = None
        if len(self._keys) > self.capacity:
            self._keys.popitem(last=False)
        return True


def format_alert(alert_pb2, a):
    when = datetime.datetime.fromtimestamp(a.event_time_ms / 1000, datetime.timezone.utc)
    severity = alert_pb2.Severity.Name(a.severity).removeprefix("SEVERITY_")
    kind = {alert_pb2.ENTITY_KIND_METER: "meter", alert_pb2.ENTITY_KIND_INFRA_SERIES: "infra",
            alert_pb2.ENTITY_KIND_FLEET: "fleet"}.get(a.entity_kind, "entity")
    return (f"{when:%Y-%m-%dT%H:%M:%SZ} {severity:<8} {kind} {a.entity_id} {a.detector}/{a.anomaly_type} "
            f"{a.feature}={a.observed_value:.6g} expected [{a.expected_low:.6g}, {a.expected_high:.6g}] "
            f"score={a.score:.3f} id={a.alert_id[:12]}\n    {a.explanation}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bootstrap-servers", required=True)
    p.add_argument("--topic", default="gridsentinel-alerts")
    p.add_argument("--group-id", default="gridsentinel-example-alert-consumer")
    p.add_argument("--max-alerts", type=int, default=0, help="stop after this many alerts (0 = no limit)")
    p.add_argument("--idle-timeout", type=float, default=0, help="stop after this many seconds without a new alert")
    p.add_argument("--lru-size", type=int, default=100_000, help="alert_ids remembered to drop duplicates")
    p.add_argument("--proto-dir", default=None, help="gridsentinel's proto/ directory (default: this repository's)")
    p.add_argument("--property", action="append", default=[], metavar="KEY=VALUE",
                   help="extra librdkafka property, e.g. security.protocol=SASL_SSL (repeatable)")
    args = p.parse_args()

    _, alert_pb2 = gs_proto.load(args.proto_dir)
    conf = {"bootstrap.servers": args.bootstrap_servers, "group.id": args.group_id,
            "auto.offset.reset": "earliest", "enable.auto.commit": True, "enable.auto.offset.store": False,
            "client.id": "gridsentinel-example-alert-consumer"}
    for kv in args.property:
        k, _, v = kv.partition("=")
        conf[k] = v
    consumer = Consumer(conf)
    consumer.subscribe([args.topic])

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    seen = LruSet(args.lru_size)
    printed = duplicates = undecodable = 0
    last_new = time.monotonic()
    try:
        while not stop:
            if args.max_alerts and printed >= args.max_alerts:
                break
            if args.idle_timeout and time.monotonic() - last_new > args.idle_timeout:
                break
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() != KafkaError._PARTITION_EOF:
                    print(f"consumer error: {msg.error()}", file=sys.stderr)
                continue
            alert = alert_pb2.Alert()
            try:
                alert.ParseFromString(msg.value())
            except Exception as e:  # a record that is not an Alert: skip it, do not stop
                undecodable += 1
                print(f"skipping undecodable record at {msg.topic()}/{msg.partition()}@{msg.offset()}: {e}",
                      file=sys.stderr)
            else:
                if seen.add(alert.alert_id):
                    print(format_alert(alert_pb2, alert), flush=True)
                    printed += 1
                    last_new = time.monotonic()
                else:
                    duplicates += 1
            consumer.store_offsets(message=msg)  # handled: its offset may be committed now
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()  # commits the stored offsets, leaves the group
    print(f"{printed} alerts printed, {duplicates} duplicates dropped, {undecodable} undecodable", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
