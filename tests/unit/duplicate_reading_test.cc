// A reading delivered twice (a producer retrying a send) is learned once: the repeat of an entity's newest
// reading, or of one of the few before it within the allowed lateness, is skipped and counted, another
// reading at that same event time with other values is dead-lettered as conflicting_reading, and a restored
// entity (whose digests are not checkpointed) learns them again.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <limits>
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

class Collector : public pipeline::Emitter {
 public:
  void alert(const v1::Alert&) override {}
  void dead_letter(const v1::DeadLetter& d, std::string_view) override { reasons.push_back(d.reason()); }
  void risk(const v1::MeterRisk&) override {}
  std::vector<std::string> reasons;
};

v1::MeterReading reading(int64_t t, double power_w) {
  v1::MeterReading r;
  r.set_meter_id("meter-1");
  r.set_event_time_ms(t);
  r.set_voltage_v(230.0);
  r.set_current_a(power_w / 230.0);
  r.set_active_power_w(power_w);
  r.set_energy_kwh(1000.0 + static_cast<double>(t - kT0) / 3.6e9);
  r.set_power_factor(0.97);
  r.set_frequency_hz(50.0);
  r.set_interval_s(900);
  return r;
}

v1::InfraMetric sample(int64_t t, double value) {
  v1::InfraMetric m;
  m.set_source("collector-1");
  m.set_metric("queue_depth");
  m.set_value(value);
  m.set_event_time_ms(t);
  return m;
}

class Feed {
 public:
  explicit Feed(const char* yaml = "{}")
      : cfg_(config::parse_config(yaml, "test")),
        metrics_({"meter-readings", "infra-metrics"}, pipeline::Processor::detector_names()),
        processor_(cfg_, metrics_) {}

  template <class Message>
  void send(const Message& m, const std::string& topic) {
    std::string value;
    m.SerializeToString(&value);
    kafka::Record rec;
    rec.topic = topic;
    rec.partition = 0;
    rec.offset = next_offset_++;
    rec.key = "k";
    rec.value = value;
    processor_.process(rec, kT0 + 100 * kStep, out);
  }
  void send(const v1::MeterReading& r) { send(r, "meter-readings"); }

  // The saved state of every entity homed on partition 0 of meter-readings or infra-metrics (topics.inputs
  // 0 and 2), in table order.
  std::vector<std::string> states() {
    std::vector<std::string> all;
    const uint64_t homes[] = {pipeline::Processor::home_of(0, 0), pipeline::Processor::home_of(2, 0)};
    processor_.checkpoint(
        homes, true, [&](uint64_t, std::string_view, const std::string_view* v) { all.emplace_back(*v); });
    return all;
  }
  double metric(const char* kind, bool duplicates) {
    processor_.flush_metrics();
    return (duplicates ? metrics_.duplicate_readings(kind) : metrics_.readings(kind)).Value();
  }
  pipeline::Processor& processor() { return processor_; }
  void set_next_offset(int64_t o) { next_offset_ = o; }
  Collector out;

 private:
  config::Config cfg_;
  sinks::Metrics metrics_;
  pipeline::Processor processor_;
  int64_t next_offset_ = 0;
};

TEST(DuplicateReadings, AnExactRepeatOfTheNewestReadingIsSkippedAndCounted) {
  Feed once, twice;
  for (int i = 0; i < 40; ++i) {
    const auto r = reading(kT0 + i * kStep, 500.0 + 10.0 * (i % 7));
    once.set_next_offset(2 * i);  // the same offsets in both feeds: applied_offset is part of the state
    once.send(r);
    twice.set_next_offset(2 * i);
    twice.send(r);
    twice.send(r);  // the repeat, at the next offset
  }
  EXPECT_TRUE(once.out.reasons.empty());
  EXPECT_TRUE(twice.out.reasons.empty()) << twice.out.reasons.front();
  EXPECT_EQ(twice.metric("meter", true), 40);
  EXPECT_EQ(twice.metric("meter", false), 40) << "a skipped repeat is not counted as scored";
  EXPECT_EQ(once.states(), twice.states()) << "the repeats left no trace in the detectors' state";
}

TEST(DuplicateReadings, AnotherReadingAtTheSameEventTimeIsDeadLetteredAsConflicting) {
  Feed f;
  f.send(reading(kT0, 500.0));
  const auto before = f.states();
  f.send(reading(kT0, 2500.0));
  ASSERT_EQ(f.out.reasons.size(), 1u);
  EXPECT_EQ(f.out.reasons[0], "conflicting_reading");
  EXPECT_EQ(f.metric("meter", true), 0);
  EXPECT_EQ(f.states(), before) << "the first reading's state stands";
  // A later reading is scored as usual; the first one, no longer the newest, is still compared.
  f.send(reading(kT0 + kStep, 510.0));
  f.send(reading(kT0, 500.0));
  f.send(reading(kT0, 2500.0));
  EXPECT_EQ(f.out.reasons, (std::vector<std::string>{"conflicting_reading", "conflicting_reading"}));
  EXPECT_EQ(f.metric("meter", true), 1);
  EXPECT_EQ(f.metric("meter", false), 2);
}

TEST(DuplicateReadings, AResentRunOfSeveralIntervalsIsLearnedOnce) {
  // A head-end that retries a send of its last four intervals (the newest and the three before it, all
  // within the hour of allowed lateness) every fourth reading.
  Feed once, resent;
  std::vector<v1::MeterReading> sent;
  int64_t offset = 0;
  for (int i = 0; i < 48; ++i) {
    sent.push_back(reading(kT0 + i * kStep, 500.0 + 10.0 * (i % 7) + (i == 30 ? 4000.0 : 0.0)));
    once.set_next_offset(offset);
    once.send(sent.back());
    resent.set_next_offset(offset);
    resent.send(sent.back());
    offset += 5;
    if (i % 4 == 3)
      for (int j = i - 3; j <= i; ++j) resent.send(sent[static_cast<size_t>(j)]);
  }
  EXPECT_TRUE(resent.out.reasons.empty()) << resent.out.reasons.front();
  EXPECT_EQ(resent.metric("meter", true), 48);
  EXPECT_EQ(resent.metric("meter", false), 48);
  EXPECT_EQ(once.states(), resent.states()) << "the resent intervals left no trace in the detectors' state";
}

TEST(DuplicateReadings, ALateReadingAndItsRepeatAreComparedLikeTheNewest) {
  Feed f;
  f.send(reading(kT0, 500.0));
  f.send(reading(kT0 + 2 * kStep, 520.0));
  f.send(reading(kT0 + kStep, 510.0));  // late, within the lateness: scored
  f.send(reading(kT0 + kStep, 510.0));  // its repeat
  f.send(reading(kT0 + kStep, 515.0));  // another value for that interval
  f.send(reading(kT0 + 3 * kStep, 530.0));
  f.send(reading(kT0 + kStep, 510.0));  // still remembered two readings on
  EXPECT_EQ(f.metric("meter", false), 4);
  EXPECT_EQ(f.metric("meter", true), 2);
  EXPECT_EQ(f.out.reasons, std::vector<std::string>{"conflicting_reading"});
  // Past the hour of lateness a repeat is a late event, as any reading that old.
  f.send(reading(kT0 + 8 * kStep, 580.0));
  f.send(reading(kT0 + 3 * kStep, 530.0));
  EXPECT_EQ(f.out.reasons, (std::vector<std::string>{"conflicting_reading", "late_event"}));
}

TEST(DuplicateReadings, AResentBatchIsLearnedOnceAndARepeatInsideABatchIsSkipped) {
  constexpr const char* kBatches =
      "topics:\n  inputs:\n    - {name: meter-batches, kind: meter, format: protobuf, message: "
      "MeterReadingBatch}\n";
  Feed once(kBatches), resent(kBatches);
  // A head-end sends each meter's last four intervals in a batch every hour, and retries every batch.
  int64_t offset = 0;
  for (int hour = 0; hour < 12; ++hour) {
    v1::MeterReadingBatch batch;
    for (int j = 0; j < 4; ++j) {
      const int i = 4 * hour + j;
      *batch.add_readings() = reading(kT0 + i * kStep, 500.0 + 10.0 * (i % 7) + (i == 30 ? 4000.0 : 0.0));
    }
    once.set_next_offset(offset);
    once.send(batch, "meter-batches");
    resent.set_next_offset(offset);
    resent.send(batch, "meter-batches");
    resent.send(batch, "meter-batches");
    offset += 2;
  }
  EXPECT_TRUE(resent.out.reasons.empty()) << resent.out.reasons.front();
  EXPECT_EQ(resent.metric("meter", true), 48);
  EXPECT_EQ(resent.metric("meter", false), 48);
  EXPECT_EQ(once.states(), resent.states());
  // One batch that holds a reading twice, and an older reading once more.
  v1::MeterReadingBatch twice;
  *twice.add_readings() = reading(kT0 + 48 * kStep, 600.0);
  *twice.add_readings() = reading(kT0 + 48 * kStep, 600.0);
  *twice.add_readings() = reading(kT0 + 46 * kStep, 500.0 + 10.0 * (46 % 7));
  resent.send(twice, "meter-batches");
  EXPECT_EQ(resent.metric("meter", true), 50);
  EXPECT_EQ(resent.metric("meter", false), 49);
}

TEST(DuplicateReadings, ARepeatAsOldAsTheLatenessIsStillSkipped) {
  Feed f;  // meters: an hour of lateness, four 15-minute steps
  for (int i = 0; i <= 4; ++i) f.send(reading(kT0 + i * kStep, 500.0 + i));
  f.send(reading(kT0, 500.0));
  EXPECT_EQ(f.metric("meter", true), 1);
  EXPECT_TRUE(f.out.reasons.empty());
}

TEST(DuplicateReadings, WithMoreReadingsInTheLatenessThanItHoldsOnlyTheYoungestAreCompared) {
  // 5-minute readings: twelve within the hour, the four before the newest are compared. An older repeat is
  // scored again (the documented limit), a younger one skipped.
  constexpr int64_t kFive = 300'000;
  Feed f;
  for (int i = 0; i < 12; ++i) f.send(reading(kT0 + i * kFive, 500.0 + i));
  f.send(reading(kT0 + 7 * kFive, 507.0));  // four before the newest: held
  EXPECT_EQ(f.metric("meter", true), 1);
  f.send(reading(kT0 + 6 * kFive, 506.0));  // five before: not held, scored again
  EXPECT_EQ(f.metric("meter", true), 1);
  EXPECT_EQ(f.metric("meter", false), 13);
}

TEST(DuplicateReadings, AnOlderInfraSampleIsComparedToo) {
  Feed f;  // infra: a minute of lateness
  constexpr int64_t kScrape = 15'000;
  for (int i = 0; i < 3; ++i) f.send(sample(kT0 + i * kScrape, 7.0 + i), "infra-metrics");
  f.send(sample(kT0 + kScrape, 8.0), "infra-metrics");
  f.send(sample(kT0 + kScrape, 9.0), "infra-metrics");
  EXPECT_EQ(f.metric("infra", true), 1);
  EXPECT_EQ(f.metric("infra", false), 3);
  EXPECT_EQ(f.out.reasons, std::vector<std::string>{"conflicting_reading"});
}

TEST(DuplicateReadings, EveryMeasuredFieldAndItsPresenceCounts) {
  Feed f;
  const auto base = reading(kT0, 500.0);
  f.send(base);
  std::vector<v1::MeterReading> variants(9, base);
  variants[0].set_voltage_v(231.0);
  variants[1].set_current_a(3.0);
  variants[2].set_active_power_w(501.0);
  variants[3].set_energy_kwh(1000.5);
  variants[4].set_power_factor(0.96);
  variants[5].set_frequency_hz(50.01);
  variants[6].set_status_flags(1);
  variants[7].set_interval_s(300);
  variants[8].clear_frequency_hz();
  for (const auto& v : variants) f.send(v);
  EXPECT_EQ(f.out.reasons, std::vector<std::string>(variants.size(), "conflicting_reading"));
  // Metadata is not a measurement: the same values with a transformer id are the same reading.
  auto same = base;
  same.set_transformer_id("tx-9");
  f.send(same);
  EXPECT_EQ(f.metric("meter", true), 1);
}

TEST(DuplicateReadings, InfraSamplesAreComparedByValue) {
  Feed f;
  f.send(sample(kT0, 7.0), "infra-metrics");
  f.send(sample(kT0, 7.0), "infra-metrics");
  f.send(sample(kT0, 8.0), "infra-metrics");
  EXPECT_EQ(f.metric("infra", true), 1);
  EXPECT_EQ(f.out.reasons, std::vector<std::string>{"conflicting_reading"});
  EXPECT_EQ(f.metric("infra", false), 1);
}

TEST(DuplicateReadings, ARestoredEntityLearnsItsDigestFromItsNextReading) {
  Feed f;
  f.send(reading(kT0, 500.0));
  const auto saved = f.states();
  ASSERT_EQ(saved.size(), 1u);
  // The entity format stays 2: the digest is not checkpointed, so that instances of the previous version,
  // sharing the group in a rolling upgrade, still restore what this one writes.
  EXPECT_EQ(static_cast<uint8_t>(saved[0][0]), 2);

  Feed restored;
  ASSERT_TRUE(restored.processor().restore(pipeline::Processor::home_of(0, 0), "m:meter-1", saved[0]));
  restored.set_next_offset(1);
  restored.send(reading(kT0, 500.0));
  EXPECT_EQ(restored.metric("meter", true), 0) << "digest unknown after the restore: scored";
  EXPECT_EQ(restored.metric("meter", false), 1);
  restored.send(reading(kT0, 500.0));
  EXPECT_EQ(restored.metric("meter", true), 1) << "known again from the reading just scored";
  restored.send(reading(kT0, 2500.0));
  EXPECT_EQ(restored.out.reasons, std::vector<std::string>{"conflicting_reading"});
}

TEST(DuplicateReadings, ASavedStateWithoutAPositiveNewestEventTimeIsRefused) {
  Feed f;
  f.send(reading(kT0, 500.0));
  const auto saved = f.states();
  ASSERT_EQ(saved.size(), 1u);
  Feed restored;
  ASSERT_TRUE(restored.processor().restore(pipeline::Processor::home_of(0, 0), "m:meter-1", saved[0]));
  // newest_event_ms follows the format byte; a damaged one (the differences score_entity takes with it
  // could overflow) makes the value refused, and the entity start cold.
  for (const int64_t t : {int64_t{0}, int64_t{-1}, std::numeric_limits<int64_t>::min()}) {
    std::string damaged = saved[0];
    std::memcpy(damaged.data() + 1, &t, sizeof t);
    Feed cold;
    EXPECT_FALSE(cold.processor().restore(pipeline::Processor::home_of(0, 0), "m:meter-1", damaged)) << t;
  }
}

TEST(DuplicateReadings, ARestoredEntityLearnsTheOlderDigestsFromTheReadingsItScores) {
  Feed f;
  for (int i = 0; i < 3; ++i) f.send(reading(kT0 + i * kStep, 500.0 + i));
  const auto saved = f.states();
  ASSERT_EQ(saved.size(), 1u);

  Feed restored;
  ASSERT_TRUE(restored.processor().restore(pipeline::Processor::home_of(0, 0), "m:meter-1", saved[0]));
  restored.set_next_offset(3);
  restored.send(reading(kT0 + kStep, 501.0));  // a repeat the restored state cannot tell: scored
  EXPECT_EQ(restored.metric("meter", false), 1);
  restored.send(reading(kT0 + kStep, 501.0));  // now known
  restored.send(reading(kT0 + kStep, 2501.0));
  EXPECT_EQ(restored.metric("meter", true), 1);
  EXPECT_EQ(restored.out.reasons, std::vector<std::string>{"conflicting_reading"});
  restored.send(reading(kT0 + 3 * kStep, 503.0));  // the newest moves on; the older one is still held
  restored.send(reading(kT0 + kStep, 501.0));
  EXPECT_EQ(restored.metric("meter", true), 2);
  EXPECT_EQ(restored.metric("meter", false), 2);
}

}  // namespace
}  // namespace gridsentinel
