// Entities idle past features.<kind>.entity_ttl (event time, against their partition's progress) are
// forgotten, so that churn (meters taken out of service, infra sources of past deployments) cannot fill
// limits.max_entities: erased at once; with the changelog on, a checkpoint then writes a tombstone for each,
// again after a failed checkpoint, until one is known to have arrived.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "config/Config.h"
#include "gridsentinel/v1/alert.pb.h"
#include "gridsentinel/v1/telemetry.pb.h"
#include "pipeline/Processor.h"
#include "sinks/Metrics.h"

namespace gridsentinel {
namespace {

constexpr int64_t kT0 = 1'704'067'200'000;
constexpr int64_t kStep = 900'000;  // 15-minute readings
constexpr int64_t kDay = 86'400'000;
constexpr int64_t kMinute = 60'000;

class Discard : public pipeline::Emitter {
 public:
  void alert(const v1::Alert&) override {}
  void dead_letter(const v1::DeadLetter& d, std::string_view) override { reasons.push_back(d.reason()); }
  void risk(const v1::MeterRisk&) override {}
  std::vector<std::string> reasons;
};

// The changelog as a restore sees it: the latest value per key, a tombstone deleting the key.
using Log = std::map<std::string, std::string>;

class Fleet {
 public:
  explicit Fleet(const std::string& yaml)
      : cfg_(config::parse_config(yaml, "test")),
        metrics_({"meter-readings", "infra-metrics"}, pipeline::Processor::detector_names()),
        processor_(cfg_, metrics_) {}

  void meter(const std::string& id, int64_t t, int32_t partition = 0) {
    v1::MeterReading r;
    r.set_meter_id(id);
    r.set_event_time_ms(t);
    r.set_voltage_v(230.0);
    r.set_active_power_w(400.0 + static_cast<double>((t / kStep) % 5));
    send(r, "meter-readings", t, partition);
  }
  void infra(const std::string& source, int64_t t, int32_t partition = 0) {
    v1::InfraMetric m;
    m.set_source(source);
    m.set_metric("queue_depth");
    m.set_value(3.0);
    m.set_event_time_ms(t);
    send(m, "infra-metrics", t, partition);
  }
  // `others` meters reporting every 15 minutes from `from` to `to`: the fleet's event time moves on.
  void fleet_reports(int others, int64_t from, int64_t to, int32_t partition = 0, int64_t step = kStep) {
    for (int64_t t = from; t <= to; t += step)
      for (int m = 0; m < others; ++m)
        meter("p" + std::to_string(partition) + "-other-" + std::to_string(m), t, partition);
  }
  // The wall clock the records are processed at (default: their event time).
  void set_wall_clock(int64_t now_ms) { wall_ms_ = now_ms; }
  // A checkpoint whose writes arrive (as KafkaRunner confirms them), or, `arrives` false, are all lost.
  // Returns how many tombstones it wrote.
  int checkpoint(Log& log, bool arrives = true) {
    int tombstones = 0;
    processor_.checkpoint(kHomes, false, [&](uint64_t, std::string_view k, const std::string_view* v) {
      tombstones += v ? 0 : 1;
      if (!arrives) return;
      if (v)
        log[std::string(k)] = *v;
      else
        log.erase(std::string(k));
    });
    if (arrives)
      processor_.tombstones_delivered();
    else
      processor_.mark_dirty(kHomes);
    return tombstones;
  }
  static constexpr uint64_t kHomes[] = {pipeline::Processor::home_of(0, 0),
                                        pipeline::Processor::home_of(2, 0)};
  double meters() { return metrics_.active_entities("meter").Value(); }
  double infra_series() { return metrics_.active_entities("infra").Value(); }
  double evicted(const char* kind) { return metrics_.entities_evicted(kind).Value(); }
  double banded_meters() {
    double n = 0;
    for (int b = 0; b < 3; ++b) n += metrics_.meters_by_risk_band(b).Value();
    return n;
  }
  pipeline::Processor& processor() { return processor_; }
  Discard out;

 private:
  template <class Message>
  void send(const Message& m, const std::string& topic, int64_t t, int32_t partition = 0) {
    std::string value;
    m.SerializeToString(&value);
    kafka::Record rec;
    rec.topic = topic;
    rec.partition = partition;
    rec.offset = offset_[partition]++;
    rec.key = "k";
    rec.value = value;
    processor_.process(rec, wall_ms_ != 0 ? wall_ms_ : t, out);
  }
  config::Config cfg_;
  sinks::Metrics metrics_;
  pipeline::Processor processor_;
  std::map<int32_t, int64_t> offset_;
  int64_t wall_ms_ = 0;
};

// A meter reports once, beside ten that go on; a checkpoint writes it; four days later it is evicted.
void checkpoint_then_retire(Fleet& f, Log& log) {
  f.meter("retired", kT0);
  f.fleet_reports(10, kT0, kT0 + kStep);
  f.checkpoint(log);
  ASSERT_EQ(log.count("m:retired"), 1u);
  f.fleet_reports(10, kT0 + 2 * kStep, kT0 + 4 * kDay);
  ASSERT_EQ(f.evicted("meter"), 1);
}

TEST(EntityEviction, WithoutTheChangelogAnIdleMeterIsErasedAndStartsColdWhenItReturns) {
  Fleet f("{state: {changelog: false}, features: {meter: {entity_ttl: 2d}}}");
  f.meter("retired", kT0);
  f.fleet_reports(20, kT0, kT0 + kDay);  // idle for a day (1,941 records: a sweep ran): kept
  EXPECT_EQ(f.meters(), 21);
  EXPECT_EQ(f.evicted("meter"), 0);
  f.fleet_reports(20, kT0 + kDay + kStep, kT0 + 3 * kDay);  // idle for 3 days: past the 2-day ttl
  EXPECT_EQ(f.meters(), 20);
  EXPECT_EQ(f.evicted("meter"), 1);
  EXPECT_EQ(f.banded_meters(), 20) << "its risk band uncounted once";
  // Back: a new entity (its reading 3 days after its last is not late for an entity without history).
  f.meter("retired", kT0 + 3 * kDay);
  EXPECT_EQ(f.meters(), 21);
  EXPECT_TRUE(f.out.reasons.empty());
  EXPECT_EQ(f.banded_meters(), 21);
}

TEST(EntityEviction, WithTheChangelogTheNextCheckpointDeletesItsState) {
  Fleet f("{features: {meter: {entity_ttl: 2d}}}");
  Log log;
  checkpoint_then_retire(f, log);
  EXPECT_EQ(f.banded_meters(), 10);
  EXPECT_EQ(f.meters(), 10) << "erased at once; only its tombstone waits";
  EXPECT_EQ(f.processor().pending_tombstones(), 1u);
  EXPECT_EQ(f.checkpoint(log), 1);
  EXPECT_EQ(log.count("m:retired"), 0u) << "a tombstone deleted it";
  EXPECT_EQ(log.size(), 10u);
  EXPECT_EQ(f.processor().pending_tombstones(), 0u);
  EXPECT_EQ(f.checkpoint(log), 0) << "written once it arrived";
  // What a restore of that log gives: the ten that report, not the retired one.
  Fleet g("{features: {meter: {entity_ttl: 2d}}}");
  for (const auto& [k, v] : log) ASSERT_TRUE(g.processor().restore(pipeline::Processor::home_of(0, 0), k, v));
  EXPECT_EQ(g.meters(), 10);
}

TEST(EntityEviction, AMeterBackBeforeTheCheckpointStartsAnewAndIsWrittenNotDeleted) {
  Fleet f("{features: {meter: {entity_ttl: 2d}}}");
  Log log;
  f.meter("retired", kT0);
  f.fleet_reports(10, kT0, kT0 + 4 * kDay);
  ASSERT_EQ(f.evicted("meter"), 1);
  f.meter("retired", kT0 + 4 * kDay + kStep);
  EXPECT_EQ(f.banded_meters(), 11) << "counted again, once";
  f.checkpoint(log);
  EXPECT_EQ(log.count("m:retired"), 1u);
  EXPECT_EQ(f.meters(), 11);
  EXPECT_TRUE(f.out.reasons.empty());
}

TEST(EntityEviction, AMeterBackWithinASlicedCycleIsNotDeletedByTheNextOne) {
  // KafkaRunner's background cycle: tombstones when it begins, then the entities in slices. A meter evicted
  // after the tombstones were taken and back before the slices reached it has its new state written by this
  // cycle; its tombstone, taken by the next cycle, would come after that state and delete it.
  Fleet f("{features: {meter: {entity_ttl: 2d}}}");
  Log log;
  const auto to_log = [&](uint64_t, std::string_view k, const std::string_view* v) {
    if (v)
      log[std::string(k)] = *v;
    else
      log.erase(std::string(k));
  };
  f.meter("retired", kT0);
  f.fleet_reports(10, kT0, kT0 + kStep);
  f.checkpoint(log);
  EXPECT_EQ(f.processor().checkpoint_tombstones(Fleet::kHomes, to_log), 0u);  // the cycle begins
  f.fleet_reports(10, kT0 + 2 * kStep, kT0 + 4 * kDay);
  ASSERT_EQ(f.evicted("meter"), 1);
  f.meter("retired", kT0 + 4 * kDay + kStep);
  pipeline::Processor::CheckpointCursor cursor;
  while (!cursor.done())
    f.processor().checkpoint_slice(Fleet::kHomes, cursor, std::chrono::steady_clock::time_point::max(),
                                   to_log);
  f.processor().tombstones_delivered();
  ASSERT_EQ(log.count("m:retired"), 1u);
  EXPECT_EQ(f.processor().checkpoint_tombstones(Fleet::kHomes, to_log), 0u);  // the next cycle begins
  EXPECT_EQ(log.count("m:retired"), 1u) << "its new state was deleted";
  EXPECT_EQ(f.processor().pending_tombstones(), 0u);
}

TEST(EntityEviction, ATombstoneLostWithItsCheckpointIsWrittenAgain) {
  Fleet f("{features: {meter: {entity_ttl: 2d}}}");
  Log log;
  checkpoint_then_retire(f, log);
  EXPECT_EQ(f.checkpoint(log, /*arrives=*/false), 1);
  ASSERT_EQ(log.count("m:retired"), 1u) << "the failed checkpoint deleted nothing";
  EXPECT_EQ(f.checkpoint(log), 1) << "its tombstone again";
  EXPECT_EQ(log.count("m:retired"), 0u);
  // A revocation hands the partition (and its tombstones) to the next owner: nothing is left to write here.
  f.meter("retired-2", kT0 + 4 * kDay);
  f.fleet_reports(10, kT0 + 4 * kDay + kStep, kT0 + 7 * kDay);
  ASSERT_EQ(f.evicted("meter"), 2);
  EXPECT_EQ(f.processor().pending_tombstones(), 1u);
  f.processor().drop(Fleet::kHomes);
  EXPECT_EQ(f.processor().pending_tombstones(), 0u);
}

TEST(EntityEviction, AnEvictedMeterFreesItsPlaceAtOnceAndTombstonesAreBounded) {
  // max_entities 6 (and so at most 6 tombstones waiting), with the changelog on; three meters reporting
  // every minute (a sweep every 1,024 records).
  Fleet f("{limits: {max_entities: 6}, features: {meter: {entity_ttl: 2d}}}");
  Log log;
  for (int m = 0; m < 3; ++m) f.meter("retired-" + std::to_string(m), kT0);
  f.fleet_reports(3, kT0, kT0 + 3 * kDay, 0, kMinute);
  ASSERT_EQ(f.evicted("meter"), 3);
  // Before any checkpoint, three new meters take the evicted ones' places.
  for (int m = 0; m < 3; ++m) f.meter("new-" + std::to_string(m), kT0 + 3 * kDay);
  EXPECT_EQ(f.meters(), 6);
  EXPECT_TRUE(f.out.reasons.empty()) << "no entity_limit: " << f.out.reasons.front();
  // They stop too: three more tombstones, six waiting.
  f.fleet_reports(3, kT0 + 3 * kDay + kMinute, kT0 + 6 * kDay, 0, kMinute);
  ASSERT_EQ(f.evicted("meter"), 6);
  EXPECT_EQ(f.processor().pending_tombstones(), 6u);
  // Three more come and stop: with six tombstones waiting, nothing more is evicted until a checkpoint.
  for (int m = 0; m < 3; ++m) f.meter("late-" + std::to_string(m), kT0 + 6 * kDay);
  f.fleet_reports(3, kT0 + 6 * kDay + kMinute, kT0 + 9 * kDay, 0, kMinute);
  EXPECT_EQ(f.evicted("meter"), 6);
  EXPECT_EQ(f.meters(), 6);
  EXPECT_EQ(f.checkpoint(log), 6);
  f.fleet_reports(3, kT0 + 9 * kDay + kMinute, kT0 + 9 * kDay + kDay / 4, 0, kMinute);
  EXPECT_EQ(f.evicted("meter"), 9) << "evicted once the tombstones were taken";
  EXPECT_EQ(f.meters(), 3);
}

TEST(EntityEviction, APartitionReadBehindTheOthersLosesNothing) {
  // A backlog: partition 1 is read days behind partition 0. Its meters are judged against its own progress,
  // not against the thread's newest reading.
  Fleet f("{state: {changelog: false}, features: {meter: {entity_ttl: 2d}}}");
  f.fleet_reports(10, kT0, kT0 + kStep, 1);
  f.fleet_reports(10, kT0, kT0 + 4 * kDay, 0);
  EXPECT_EQ(f.evicted("meter"), 0);
  EXPECT_EQ(f.meters(), 20);
  // Partition 1 catches up; a meter of it that stopped is evicted against that partition's progress.
  f.meter("p1-retired", kT0 + 2 * kStep, 1);
  f.fleet_reports(10, kT0 + 2 * kStep, kT0 + 4 * kDay, 1);
  EXPECT_EQ(f.evicted("meter"), 1);
  EXPECT_EQ(f.meters(), 20);
}

TEST(EntityEviction, ReadingsWithAWrongClockMakeNoOtherEntityLookIdle) {
  // A replay of old data: the wall clock is a year on, so readings stamped months ahead of the others are
  // not refused as in the future. A burst of them (100 meters) must not make the partition's other meters
  // look idle; a meter that did stop is still evicted.
  Fleet f("{state: {changelog: false}, features: {meter: {entity_ttl: 2d}}}");
  f.set_wall_clock(kT0 + 365 * kDay);
  f.meter("retired", kT0);
  f.fleet_reports(20, kT0, kT0 + kDay / 2);
  for (int m = 0; m < 100; ++m) f.meter("broken-clock-" + std::to_string(m), kT0 + 200 * kDay);
  f.fleet_reports(20, kT0 + kDay / 2 + kStep, kT0 + kDay);
  EXPECT_EQ(f.evicted("meter"), 0) << "a day idle: nobody yet";
  f.fleet_reports(20, kT0 + kDay + kStep, kT0 + 3 * kDay);
  EXPECT_EQ(f.evicted("meter"), 1) << "only the retired meter";
  EXPECT_EQ(f.meters(), 120);
}

TEST(EntityEviction, InfraSeriesOfAPastDeploymentGoAfterADayByDefault) {
  Fleet f("{state: {changelog: false}}");
  f.infra("pod-old-1", kT0);
  f.infra("pod-old-2", kT0);
  for (int64_t t = kT0; t <= kT0 + 2 * kDay; t += 60'000) f.infra("pod-new", t);
  EXPECT_EQ(f.infra_series(), 1);
  EXPECT_EQ(f.evicted("infra"), 2);
}

TEST(EntityEviction, ZeroTurnsItOffAndTheConfigRefusesATtlWithinTheAllowedLateness) {
  Fleet f("{state: {changelog: false}, features: {meter: {entity_ttl: 0s}}}");
  f.meter("retired", kT0);
  f.fleet_reports(10, kT0, kT0 + 40 * kDay / 10);
  EXPECT_EQ(f.meters(), 11);
  EXPECT_EQ(f.evicted("meter"), 0);

  const config::Config defaults;
  EXPECT_EQ(defaults.meter.entity_ttl_ms, 30 * kDay);
  EXPECT_EQ(defaults.infra.entity_ttl_ms, kDay);
  try {
    config::parse_config("{features: {meter: {allowed_lateness: 2h, entity_ttl: 1h}}}", "test");
    ADD_FAILURE() << "a ttl within the allowed lateness was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("features.meter.entity_ttl"), std::string::npos) << e.what();
  }
  // Only the lateness raised past the default ttl (a config written before the ttl existed): it still starts.
  EXPECT_EQ(config::parse_config("{features: {infra: {allowed_lateness: 2d}}}", "test").infra.entity_ttl_ms,
            4 * kDay);
}

}  // namespace
}  // namespace gridsentinel
