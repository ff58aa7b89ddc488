// A reading delivered twice (a producer retrying a send) is learned once: the repeat of an entity's newest
// reading is skipped and counted, another reading at that same event time with other values is dead-lettered
// as conflicting_reading, and a restored entity (whose digest is not checkpointed) learns it again.
#include <gtest/gtest.h>

#include <cstdint>
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
  Feed()
      : cfg_(config::parse_config("{}", "test")),
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
  // A later reading is scored as usual, and an exact repeat of an older, no longer newest, reading is not
  // caught (one digest per entity): it is within the allowed lateness and scored.
  f.send(reading(kT0 + kStep, 510.0));
  f.send(reading(kT0, 500.0));
  EXPECT_EQ(f.out.reasons.size(), 1u);
  EXPECT_EQ(f.metric("meter", false), 3);
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

}  // namespace
}  // namespace gridsentinel
