// Missing readings against the fleet's progress per input partition (Processor): a partition not read yet
// holds the fleet back, one that stopped delivering for `rules.idle_partition_after` (wall clock) no longer
// does, and a restored partition holds it back from its restore on.
#include <gtest/gtest.h>

#include <set>
#include <span>
#include <string>
#include <vector>

#include "config/Config.h"
#include "gridsentinel/v1/alert.pb.h"
#include "gridsentinel/v1/telemetry.pb.h"
#include "pipeline/Processor.h"
#include "sinks/Metrics.h"

namespace gridsentinel::pipeline {
namespace {

constexpr int64_t kT0 = 1'704'067'200'000;  // 2024-01-01 00:00 UTC
constexpr int64_t kInterval = 900'000;      // 15 minutes
constexpr int64_t kMinute = 60'000;
constexpr int kMetersPerPartition = 50;
constexpr int64_t kWall = kT0 + 30 * 24 * 60 * kMinute;  // the wall clock: a month after the readings began

class MissingCollector : public Emitter {
 public:
  void alert(const v1::Alert& a) override {
    if (a.anomaly_type() != "missing_readings") return;
    missing.insert(a.entity_id());
    alerts.push_back(a);
    ++reports;
  }
  void dead_letter(const v1::DeadLetter& d, std::string_view) override {
    if (dead++ == 0) first_reason = d.reason() + ": " + d.detail();
  }
  std::string first_reason;
  void risk(const v1::MeterRisk& r) override { risks.push_back(r); }
  std::vector<v1::MeterRisk> risks;
  std::set<std::string> missing;  // meters reported
  std::vector<v1::Alert> alerts;
  size_t reports = 0;
  int dead = 0;
};

struct Fleet {
  explicit Fleet(const config::Config& c)
      : cfg(c), metrics({"meter-readings", "infra-metrics"}, {}), processor(cfg, metrics) {}
  // Ticks [from, to) of the meters of `partition` (meters P<partition>-<i>), processed at wall time `now`;
  // meter `silent` (if any) sends nothing.
  void feed(int32_t partition, int from, int to, int64_t now, int silent = -1, bool check = true) {
    kafka::Record rec;
    rec.topic = "meter-readings";
    rec.partition = partition;
    v1::MeterReading r;
    std::string key, value;
    for (int tick = from; tick < to; ++tick)
      for (int m = 0; m < kMetersPerPartition; ++m) {
        if (m == silent) continue;
        key = "P" + std::to_string(partition) + "-" + std::to_string(m);
        r.set_meter_id(key);
        r.set_event_time_ms(kT0 + tick * kInterval);
        r.set_interval_s(900);
        r.set_voltage_v(vary_readings ? 230.0 + 0.5 * ((tick + m) % 5) : 230.0);
        r.set_current_a(2.0);
        r.set_active_power_w(460.0 + m + (vary_readings ? (tick % 7) : 0));
        r.set_energy_kwh(1000.0 + tick * 0.115);
        r.set_transformer_id("TX-" + std::to_string(m % 4));
        r.SerializeToString(&value);
        rec.key = key;
        rec.value = value;
        rec.offset = offsets[partition]++;
        processor.process(rec, now, out);
      }
    if (check) processor.check_missing(now, out);
  }
  // One infra series sample on partition `partition` of infra-metrics, at event time tick `tick`.
  void feed_infra(int32_t partition, int tick, int64_t now) {
    v1::InfraMetric m;
    m.set_source("collector-1");
    m.set_metric("cpu_utilisation_ratio");
    m.set_value(0.25);
    m.set_event_time_ms(kT0 + tick * kInterval);
    std::string value;
    m.SerializeToString(&value);
    kafka::Record rec;
    rec.topic = "infra-metrics";
    rec.partition = partition;
    rec.offset = infra_offset++;
    rec.key = "collector-1";
    rec.value = value;
    processor.process(rec, now, out);
  }
  config::Config cfg;
  sinks::Metrics metrics;
  Processor processor;
  MissingCollector out;
  int64_t offsets[2] = {0, 0};
  int64_t infra_offset = 0;
  bool vary_readings = false;  // and power: constant ones are a stuck meter to the rules
};

config::Config with_idle_after(const std::string& duration) {
  return config::parse_config("rules: {idle_partition_after: " + duration + "}", "test");
}

TEST(PartitionProgress, APartitionThatStoppedDeliveringHoldsTheFleetBackUntilItIsIdle) {
  const int64_t wall = kWall;
  // Both partitions deliver a day; then only partition 0 delivers, for another day.
  Fleet held(with_idle_after("1h")), idle(with_idle_after("1h")), never(with_idle_after("0s"));
  for (Fleet* f : {&held, &idle, &never}) {
    f->feed(0, 0, 96, wall);
    f->feed(1, 0, 96, wall);
  }
  held.feed(0, 96, 192, wall + 30 * kMinute);  // partition 1 quiet for 30 min: still holds the fleet back
  idle.feed(0, 96, 192, wall + 61 * kMinute);  // quiet for 61 min: idle
  never.feed(0, 96, 192, wall + 24 * 60 * kMinute);
  for (const Fleet* f : {&held, &idle, &never}) ASSERT_EQ(f->out.dead, 0) << f->out.first_reason;
  EXPECT_TRUE(held.out.missing.empty()) << *held.out.missing.begin();
  EXPECT_TRUE(never.out.missing.empty()) << "idle_partition_after: 0 never lets a partition go idle";
  // Idle: partition 1's meters are judged against partition 0's progress, and all of them are silent.
  EXPECT_EQ(idle.out.missing.size(), static_cast<size_t>(kMetersPerPartition));
  for (const auto& id : idle.out.missing) EXPECT_EQ(id.rfind("P1-", 0), 0u) << id;
}

TEST(PartitionProgress, APartitionThatDeliversAgainHoldsTheFleetBackAgain) {
  Fleet f(with_idle_after("1h"));
  f.feed(0, 0, 96, kWall);
  f.feed(1, 0, 96, kWall);
  f.feed(1, 96, 97,
         kWall + 2 * 60 * kMinute);  // partition 1 delivered just now (one tick); partition 0 did not
  f.feed(1, 97, 120, kWall + 2 * 60 * kMinute);
  // Partition 0 is idle, so partition 1's progress alone moves the fleet: partition 0's meters are missing.
  EXPECT_EQ(f.out.missing.size(), static_cast<size_t>(kMetersPerPartition));
  EXPECT_EQ(f.out.reports, static_cast<size_t>(kMetersPerPartition));
  // Partition 0 delivers once more (tick 120), then partition 1 runs a day ahead: partition 0 is active again
  // and holds the fleet back at tick 120, so its meters are not reported a second time.
  f.feed(0, 120, 121, kWall + 2 * 60 * kMinute);
  f.feed(1, 120, 200, kWall + 2 * 60 * kMinute);
  EXPECT_EQ(f.out.reports, static_cast<size_t>(kMetersPerPartition));
  // An hour and more later partition 0 is idle again: now they are.
  f.feed(1, 200, 210, kWall + 3 * 60 * kMinute + kMinute);
  EXPECT_EQ(f.out.reports, static_cast<size_t>(2 * kMetersPerPartition));
  EXPECT_EQ(f.out.dead, 0) << f.out.first_reason;
}

// Infra series have no missing-reading judgement: their partitions never hold the meters' fleet back. (They
// once did: every record's partition counted as active, and an infra partition, with no meter readings to
// give it progress, kept the fleet's watermark unknown, so no silent meter of the thread was ever reported.)
TEST(PartitionProgress, InfraRecordsDoNotHoldTheFleetBack) {
  Fleet f(with_idle_after("1h"));
  f.feed(0, 0, 96, kWall);
  for (int tick = 96; tick < 192; ++tick) {
    f.feed_infra(0, tick, kWall + kMinute);  // an infra partition as active as the meters' one
    f.feed(0, tick, tick + 1, kWall + kMinute, /*silent=*/3);
  }
  ASSERT_EQ(f.out.dead, 0) << f.out.first_reason;
  EXPECT_EQ(f.out.missing, std::set<std::string>{"P0-3"});
}

// Nor do records of a meter partition that bring no valid reading: such a partition has no progress to judge
// by, and would otherwise hold the fleet back as long as it keeps sending them.
TEST(PartitionProgress, APartitionOfInvalidRecordsDoesNotHoldTheFleetBack) {
  Fleet f(with_idle_after("1h"));
  f.feed(0, 0, 96, kWall);
  kafka::Record junk;
  junk.topic = "meter-readings";
  junk.partition = 1;
  junk.key = "junk";
  junk.value = "\xff\xff not a MeterReading";
  for (int tick = 96; tick < 192; ++tick) {
    junk.offset = tick;
    f.processor.process(junk, kWall + kMinute, f.out);
    f.feed(0, tick, tick + 1, kWall + kMinute, /*silent=*/3);
  }
  EXPECT_EQ(f.out.dead, 96);  // every junk record dead-lettered
  EXPECT_EQ(f.out.missing, std::set<std::string>{"P0-3"});
}

// Without the changelog, a new assignment keeps the state of the partitions that stayed and forgets the
// others' (KafkaRunner::on_assigned): their meters are not reported missing from an instance that no longer
// reads them, as they are without it (the control).
TEST(PartitionProgress, EntitiesOfPartitionsNoLongerAssignedAreForgotten) {
  Fleet kept(with_idle_after("1h")), control(with_idle_after("1h"));
  for (Fleet* f : {&kept, &control}) {
    f->feed(0, 0, 96, kWall);
    f->feed(1, 0, 96, kWall);
  }
  const uint64_t home0 = Processor::home_of(0, 0);
  EXPECT_EQ(kept.processor.drop_all_but(std::span(&home0, 1)), static_cast<size_t>(kMetersPerPartition));
  EXPECT_EQ(kept.processor.entities(config::InputKind::kMeter), static_cast<size_t>(kMetersPerPartition));
  for (Fleet* f : {&kept, &control}) f->feed(0, 96, 192, kWall + 2 * 60 * kMinute);
  EXPECT_TRUE(kept.out.missing.empty()) << *kept.out.missing.begin();
  EXPECT_EQ(control.out.missing.size(), static_cast<size_t>(kMetersPerPartition));
  // Partition 0's meters kept their state: no reading of theirs was refused or judged anew as late.
  EXPECT_EQ(kept.out.dead, 0) << kept.out.first_reason;
}

// A silence that moves a meter's risk band is published like any other band change (it was counted in the
// meter's state only, so the next change was published from the wrong band and services reading the risk
// topic never saw it), and meters_by_risk_band counts every tracked meter in its band.
TEST(PartitionProgress, ASilenceThatMovesTheRiskBandIsPublished) {
  Fleet f(config::parse_config(
      "rules: {idle_partition_after: 1h}\n"
      "risk: {ml_weight: 0.0, rules_weight: 1.0, medium_threshold: 0.1, high_threshold: 0.9}",
      "test"));
  f.vary_readings = true;
  f.feed(0, 0, 96, kWall);
  EXPECT_TRUE(f.out.risks.empty()) << f.out.risks.front().DebugString();
  f.feed(0, 96, 192, kWall + kMinute, /*silent=*/3);
  ASSERT_EQ(f.out.missing, std::set<std::string>{"P0-3"});
  ASSERT_EQ(f.out.risks.size(), 1u);
  const v1::MeterRisk& r = f.out.risks.front();
  EXPECT_EQ(r.meter_id(), "P0-3");
  EXPECT_EQ(r.top_finding(), "missing_readings");
  EXPECT_EQ(r.previous_band(), v1::RISK_BAND_LOW);
  EXPECT_NE(r.band(), v1::RISK_BAND_LOW);
  // Bands: 49 meters low and one not, all tracked meters counted.
  f.processor.flush_metrics();
  const auto band = [&](int b) { return f.metrics.meters_by_risk_band(b).Value(); };
  EXPECT_EQ(band(0), kMetersPerPartition - 1);
  EXPECT_EQ(band(0) + band(1) + band(2), kMetersPerPartition);
}

TEST(PartitionProgress, ARestoredPartitionHoldsTheFleetBackFromItsRestoreUntilIdle) {
  Fleet f(with_idle_after("1h"));
  const uint64_t home1 = Processor::home_of(0, 1);
  f.feed(0, 0, 10, kWall);
  // Partition 1 was restored (its meters' state came from a checkpoint; here: its progress alone, at the
  // watermark its previous owner had reached) and has not delivered since.
  f.processor.resume_partition_progress(home1, kT0 + 5 * kInterval, kWall);
  EXPECT_EQ(f.processor.partition_watermark(home1), kT0 + 5 * kInterval);
  f.feed(0, 10, 96, kWall + 30 * kMinute);
  EXPECT_TRUE(f.out.missing.empty());
  // An older checkpoint without a watermark: unknown, which holds the fleet back as well.
  Fleet g(with_idle_after("1h"));
  g.feed(0, 0, 10, kWall);
  g.processor.resume_partition_progress(home1, detectors::FleetWatermark::kUnknown, kWall);
  g.feed(1, 0, 1, kWall);  // one tick: fewer readings than the watermark needs
  g.feed(0, 10, 96, kWall + 30 * kMinute);
  EXPECT_TRUE(g.out.missing.empty());
  // An hour later partition 1 is idle: its meter that reported once is judged against partition 0.
  g.feed(0, 96, 100, kWall + 2 * 60 * kMinute);
  EXPECT_EQ(g.out.missing.size(), static_cast<size_t>(kMetersPerPartition));
  for (const auto& id : g.out.missing) EXPECT_EQ(id.rfind("P1-", 0), 0u) << id;
  EXPECT_EQ(f.out.dead + g.out.dead, 0) << f.out.first_reason << g.out.first_reason;
}

TEST(PartitionProgress, AfterARebalanceDroppedSomeMetersTheSilenceOfEveryOtherIsStillReported) {
  Fleet f(with_idle_after("1h"));
  f.feed(0, 0, 10, kWall);
  f.feed(1, 0, 10, kWall);  // partition 1's meters have the higher entity indices
  EXPECT_EQ(f.processor.drop(std::vector<uint64_t>{Processor::home_of(0, 0)}),
            static_cast<size_t>(kMetersPerPartition));
  f.feed(1, 10, 96, kWall, /*silent=*/7);
  EXPECT_EQ(f.out.dead, 0) << f.out.first_reason;
  // Once each: a silence report was dropped when the meter's index was above the count of live meters.
  EXPECT_EQ(f.out.missing, std::set<std::string>{"P1-7"});
  EXPECT_EQ(f.out.reports, 1u);
}

// The same silence, found by the fleet's progress while the meter is silent (check_missing) or by its next
// reading (the gap was never checked in between): the same alert, but for how long the meter had been silent
// when it was found. A redelivery after a restart may find it the other way (it once differed in the
// reading's transformer_id).
TEST(PartitionProgress, ASilenceGivesTheSameAlertWhicheverWayItIsFound) {
  Fleet by_fleet(with_idle_after("1h")), by_reading(with_idle_after("1h"));
  for (Fleet* f : {&by_fleet, &by_reading}) f->feed(0, 0, 8, kWall);
  for (int tick = 8; tick < 13; ++tick) {  // meter 3 silent for 5 intervals
    by_fleet.feed(0, tick, tick + 1, kWall, 3, /*check=*/true);
    by_reading.feed(0, tick, tick + 1, kWall, 3, /*check=*/false);
  }
  for (Fleet* f : {&by_fleet, &by_reading}) f->feed(0, 13, 14, kWall, -1, /*check=*/false);
  ASSERT_EQ(by_fleet.out.alerts.size(), 1u);
  ASSERT_EQ(by_reading.out.alerts.size(), 1u);
  v1::Alert a = by_fleet.out.alerts[0], b = by_reading.out.alerts[0];
  EXPECT_NE(a.observed_value(), b.observed_value());  // the two ways were taken
  for (v1::Alert* x : {&a, &b}) {
    x->clear_detection_time_ms();
    x->clear_observed_value();
    x->clear_explanation();
    x->clear_features();
  }
  EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString()) << a.ShortDebugString() << "\n"
                                                          << b.ShortDebugString();
}

TEST(PartitionProgress, IdlePartitionAfterMustNotBeNegative) {
  EXPECT_THROW(with_idle_after("-5m"), std::exception);
}

}  // namespace
}  // namespace gridsentinel::pipeline
