#!/usr/bin/env python3
"""Push meter readings to gridsentinel as protobuf MeterReading records, as a meter head-end would.

One meter reports every 15 minutes: a warm-up of normal readings (about 500 W, 230 V), then one obvious spike in
active power. Once the warm-up fills gridsentinel's rolling windows, the spike is far outside the meter's normal
range and gridsentinel publishes an alert for it (read it with alert_consumer.py).

usage: /usr/bin/python3 examples/python/producer.py --bootstrap-servers BOOTSTRAP

  BOOTSTRAP is the Kafka bootstrap address gridsentinel consumes from; with the embedded broker of
  `gridsentinel run` it is in the file its config's embedded.bootstrap_file names (scripts/demo.sh:
  /tmp/gridsentinel-bootstrap). The default warm-up (120 readings, 30 hours) is enough for the default config
  (z-score on active_power_w needs 96 readings in its 24 h window).

Readings are keyed by meter id, so one meter's readings stay in order on one partition. Event times end at the
current 15-minute boundary; run it again with another --meter-id (or wait 15 minutes), since gridsentinel
dead-letters readings older than a meter's newest reading minus features.meter.allowed_lateness (late_event).
Needs confluent-kafka and protobuf (Debian: python3-confluent-kafka, python3-protobuf) and protoc.
"""
import argparse
import datetime
import random
import sys

from confluent_kafka import Producer

import gs_proto

INTERVAL_S = 900


def readings(telemetry_pb2, meter_id, warmup, spike_w, end_ms, seed):
    """The warm-up readings and the spike, oldest first."""
    rng = random.Random(seed)
    energy_kwh = 12_345.0
    start_ms = end_ms - warmup * INTERVAL_S * 1000
    for i in range(warmup + 1):
        spike = i == warmup
        power_w = spike_w if spike else 500.0 + rng.gauss(0.0, 25.0)
        voltage_v = 230.0 + rng.gauss(0.0, 0.8)
        power_factor = 0.95
        energy_kwh += power_w * INTERVAL_S / 3.6e6
        r = telemetry_pb2.MeterReading(
            meter_id=meter_id,
            transformer_id="TX-EXAMPLE-1",
            event_time_ms=start_ms + i * INTERVAL_S * 1000,
            voltage_v=round(voltage_v, 2),
            current_a=round(power_w / (voltage_v * power_factor), 3),
            active_power_w=round(power_w, 1),
            energy_kwh=round(energy_kwh, 4),
            power_factor=power_factor,
            frequency_hz=50.0,
            interval_s=INTERVAL_S,
        )
        yield r, spike


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bootstrap-servers", required=True, help="Kafka bootstrap servers (host:port[,...])")
    p.add_argument("--topic", default="meter-readings", help="input topic with format protobuf, message MeterReading")
    p.add_argument("--meter-id", default="MTR-EXAMPLE-1")
    p.add_argument("--warmup", type=int, default=120, help="normal readings before the spike (15 minutes apart)")
    p.add_argument("--spike-w", type=float, default=6000.0, help="active power of the spike, watts")
    p.add_argument("--end-time-ms", type=int, default=0,
                   help="event time of the spike, ms since the epoch (default: the current 15-minute boundary)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--proto-dir", default=None, help="gridsentinel's proto/ directory (default: this repository's)")
    p.add_argument("--property", action="append", default=[], metavar="KEY=VALUE",
                   help="extra librdkafka property, e.g. security.protocol=SASL_SSL (repeatable)")
    args = p.parse_args()

    telemetry_pb2, _ = gs_proto.load(args.proto_dir)
    end_ms = args.end_time_ms or (int(datetime.datetime.now(datetime.timezone.utc).timestamp()) // INTERVAL_S
                                  * INTERVAL_S * 1000)
    conf = {"bootstrap.servers": args.bootstrap_servers, "enable.idempotence": True, "acks": "all",
            "linger.ms": 5, "client.id": "gridsentinel-example-producer"}
    for kv in args.property:
        k, _, v = kv.partition("=")
        conf[k] = v
    producer = Producer(conf)

    failures = []

    def on_delivery(err, msg):
        if err is not None:
            failures.append(err)

    count = 0
    spike_reading = None
    for reading, spike in readings(telemetry_pb2, args.meter_id, args.warmup, args.spike_w, end_ms, args.seed):
        producer.produce(args.topic, key=reading.meter_id.encode(), value=reading.SerializeToString(),
                         on_delivery=on_delivery)
        producer.poll(0)
        count += 1
        if spike:
            spike_reading = reading
    remaining = producer.flush(30)
    if remaining or failures:
        print(f"delivery failed: {remaining} undelivered, errors: {failures[:3]}", file=sys.stderr)
        return 1
    when = datetime.datetime.fromtimestamp(spike_reading.event_time_ms / 1000, datetime.timezone.utc)
    print(f"produced {count} readings for {args.meter_id} to {args.topic}: {args.warmup} normal (~500 W), then a "
          f"spike of {spike_reading.active_power_w:g} W at {when:%Y-%m-%dT%H:%M:%SZ}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
