// EventTimeSampler (pipeline/EventTimeSampler.h) on its own, and as the isolation forest's window_span inside
// the Processor: how many points the fleet forest learns, and that its sampler survives save/restore.
#include "pipeline/EventTimeSampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>

#include "config/Config.h"
#include "gridsentinel/v1/telemetry.pb.h"
#include "pipeline/Processor.h"
#include "sinks/Metrics.h"

namespace gridsentinel::pipeline {
namespace {

constexpr int64_t kHalfHour = 1'800'000;
constexpr int64_t kT0 = 1'704'067'200'000;  // 2024-01-01 00:00 UTC, a multiple of half an hour

TEST(EventTimeSampler, KeepsEverythingOrNothingInTheFirstCycleThenAboutTheTargetPerCycle) {
  EventTimeSampler keep_all(kHalfHour, 500, 1.0), keep_none(kHalfHour, 500);
  int kept_all = 0, kept_none = 0;
  for (int i = 0; i < 20'000; ++i) {
    const uint64_t u = EventTimeSampler::hash("MTR-" + std::to_string(i), kT0);
    kept_all += keep_all.keep(u, kT0);
    kept_none += keep_none.keep(u, kT0);
  }
  EXPECT_EQ(kept_all, 20'000);
  EXPECT_EQ(kept_none, 0);
  // Next cycle: probability 500 / 20000; binomial(20000, 0.025) has sd ~22.
  int kept = 0;
  for (int i = 0; i < 20'000; ++i)
    kept +=
        keep_all.keep(EventTimeSampler::hash("MTR-" + std::to_string(i), kT0 + kHalfHour), kT0 + kHalfHour);
  EXPECT_DOUBLE_EQ(keep_all.keep_probability(), 0.025);
  EXPECT_NEAR(kept, 500, 110);
}

TEST(EventTimeSampler, DecisionsAreDeterministicAndSaltedVariatesIndependent) {
  const uint64_t h = EventTimeSampler::hash("MTR-000042", kT0);
  EXPECT_EQ(h, EventTimeSampler::hash("MTR-000042", kT0));
  EXPECT_NE(h, EventTimeSampler::hash("MTR-000042", kT0 + 900'000));
  EXPECT_EQ(EventTimeSampler::variate(h, 0), h);
  // Two samplers keeping half each, one on salt 0, one on salt 1: about a quarter kept by both.
  int both = 0, first = 0;
  for (int i = 0; i < 40'000; ++i) {
    const uint64_t hi = EventTimeSampler::hash("MTR-" + std::to_string(i), kT0);
    const bool a = EventTimeSampler::variate(hi, 0) >> 63, b = EventTimeSampler::variate(hi, 1) >> 63;
    first += a;
    both += a && b;
  }
  EXPECT_NEAR(first, 20'000, 600);
  EXPECT_NEAR(both, 10'000, 450);
}

TEST(EventTimeSampler, RestoredCopiesMustMatchTheConfiguredSetting) {
  const EventTimeSampler configured(kHalfHour, 2048, 1.0);
  EXPECT_TRUE(EventTimeSampler(kHalfHour, 2048).restorable_as(configured));
  EXPECT_FALSE(EventTimeSampler(kHalfHour * 2, 2048).restorable_as(configured));
  EXPECT_FALSE(EventTimeSampler(kHalfHour, 1024).restorable_as(configured));
  EXPECT_FALSE(EventTimeSampler(kHalfHour, 2048, std::nan("")).restorable_as(configured));
  EXPECT_FALSE(EventTimeSampler(kHalfHour, 2048, 1.5).restorable_as(configured));
}

class NullEmitter : public Emitter {
 public:
  void alert(const v1::Alert&) override {}
  void dead_letter(const v1::DeadLetter& d, std::string_view) override {
    if (dead++ == 0) first_reason = d.reason() + ": " + d.detail();
  }
  std::string first_reason;
  void risk(const v1::MeterRisk&) override {}
  int dead = 0;
};

// `meters` meters, one reading each per 15 minutes from kT0, ticks [from, to).
void feed(Processor& p, const config::Config& cfg, int meters, int from, int to, NullEmitter& out) {
  kafka::Record rec;
  rec.topic = cfg.topics.inputs.front().name;
  v1::MeterReading r;
  std::string key, value;  // Record holds views
  for (int tick = from; tick < to; ++tick) {
    const int64_t t = kT0 + tick * int64_t{900'000};
    for (int m = 0; m < meters; ++m) {
      r.set_meter_id("MTR-" + std::to_string(m));
      r.set_event_time_ms(t);
      r.set_voltage_v(230.0 + (m % 7));
      r.set_current_a(2.0 + (m % 5) * 0.1);
      r.set_active_power_w(400.0 + (m % 13) * 20.0 + tick);
      r.set_power_factor(0.95);
      r.set_frequency_hz(50.0);
      key = r.meter_id();
      rec.key = key;
      rec.partition = m % 8;
      rec.offset = tick * int64_t{1'000'000} + m / 8;  // rising per partition across calls
      r.SerializeToString(&value);
      rec.value = value;
      p.process(rec, t, out);
    }
  }
}

struct Fleet {
  explicit Fleet(const config::Config& c)
      : metrics(topics(c), Processor::detector_names()), processor(c, metrics) {}
  static std::vector<std::string> topics(const config::Config& c) {
    std::vector<std::string> names;
    for (const auto& t : c.topics.inputs) names.push_back(t.name);
    return names;
  }
  sinks::Metrics metrics;
  Processor processor;
};

TEST(ForestWindowSpan, TheForestLearnsAboutAWindowPerSpanOnALargeFleetAndEveryPointWhenOff) {
  const config::Config on = config::parse_config("detectors: {iforest: {meter: {window_span: 30m}}}", "test");
  const config::Config off = config::parse_config("", "test");
  constexpr int kMeters = 20'000;  // 40k readings per half hour: keep probability 2048 / 40000
  Fleet sampled(on), every(off);
  NullEmitter out;
  feed(sampled.processor, on, kMeters, 0, 2, out);  // the first span is counted, and learned whole
  feed(every.processor, off, kMeters, 0, 2, out);
  ASSERT_EQ(out.dead, 0) << out.first_reason;
  const uint64_t first_sampled = sampled.processor.forest(config::InputKind::kMeter)->points_learned();
  const uint64_t first_every = every.processor.forest(config::InputKind::kMeter)->points_learned();
  EXPECT_EQ(first_sampled, first_every);
  EXPECT_GT(first_every, 0.99 * 2 * kMeters) << "only flagged points are left out";
  feed(sampled.processor, on, kMeters, 2, 4, out);
  feed(every.processor, off, kMeters, 2, 4, out);
  const double span_sampled = static_cast<double>(
      sampled.processor.forest(config::InputKind::kMeter)->points_learned() - first_sampled);
  const double span_every =
      static_cast<double>(every.processor.forest(config::InputKind::kMeter)->points_learned() - first_every);
  EXPECT_NEAR(span_sampled, 2048, 200);  // binomial sd ~44, less the few flagged points
  EXPECT_GT(span_every, 0.99 * 2 * kMeters);

  // The sampler is saved with the models: a restored processor learns exactly what the original does.
  Fleet restored(on);
  ASSERT_TRUE(restored.processor.restore_models(config::InputKind::kMeter,
                                                sampled.processor.save_models(config::InputKind::kMeter)));
  const uint64_t before = sampled.processor.forest(config::InputKind::kMeter)->points_learned();
  ASSERT_EQ(restored.processor.forest(config::InputKind::kMeter)->points_learned(), before);
  feed(sampled.processor, on, 3000, 4, 5, out);
  feed(restored.processor, on, 3000, 4, 5, out);
  const uint64_t learned = sampled.processor.forest(config::InputKind::kMeter)->points_learned() - before;
  EXPECT_GT(learned, 50u);
  EXPECT_LT(learned, 3000u) << "still thinned after the restore";
  EXPECT_EQ(restored.processor.forest(config::InputKind::kMeter)->points_learned() - before, learned);
}

// A forest saved under other detectors.iforest settings is not restored (restore() would adopt them, and the
// new settings would never take effect while the changelog holds a model): it starts cold.
TEST(ForestWindowSpan, AForestSavedUnderOtherSettingsStartsCold) {
  const config::Config cfg = config::parse_config("", "test");
  Fleet original(cfg);
  NullEmitter out;
  feed(original.processor, cfg, 600, 0, 2, out);
  ASSERT_TRUE(original.processor.forest(config::InputKind::kMeter)->warmed_up());
  const std::string saved = original.processor.save_models(config::InputKind::kMeter);
  const config::Config fewer = config::parse_config("detectors: {iforest: {meter: {trees: 50}}}", "test");
  Fleet same(cfg), changed(fewer);
  EXPECT_TRUE(same.processor.restore_models(config::InputKind::kMeter, saved));
  EXPECT_TRUE(same.processor.forest(config::InputKind::kMeter)->warmed_up());
  changed.processor.restore_models(config::InputKind::kMeter, saved);  // the drift model may still restore
  const auto* forest = changed.processor.forest(config::InputKind::kMeter);
  EXPECT_EQ(forest->config().n_trees, 50u);
  EXPECT_EQ(forest->points_learned(), 0u);
  EXPECT_FALSE(forest->warmed_up());
}

TEST(ForestWindowSpan, ModelsSavedInTheFormerFormatStillRestore) {
  const config::Config cfg = config::parse_config("", "test");
  Fleet original(cfg);
  NullEmitter out;
  feed(original.processor, cfg, 600, 0, 2, out);  // 1200 readings: the forest (512 to warm up) is built
  ASSERT_TRUE(original.processor.forest(config::InputKind::kMeter)->warmed_up());
  // Format 2 is [2][has forest][u32 length][forest][has forest sampler]...; format 1 lacks the sampler byte.
  std::string v2 = original.processor.save_models(config::InputKind::kMeter);
  ASSERT_EQ(v2[0], 2);
  uint32_t forest_len = 0;
  std::memcpy(&forest_len, v2.data() + 2, sizeof forest_len);
  const size_t sampler_at = 2 + sizeof forest_len + forest_len;
  ASSERT_EQ(v2[sampler_at], 0) << "no forest sampler when window_span is off";
  std::string v1 = v2;
  v1[0] = 1;
  v1.erase(sampler_at, 1);
  Fleet from_v1(cfg), from_v2(cfg);
  EXPECT_TRUE(from_v1.processor.restore_models(config::InputKind::kMeter, v1));
  EXPECT_TRUE(from_v2.processor.restore_models(config::InputKind::kMeter, v2));
  EXPECT_EQ(from_v1.processor.save_models(config::InputKind::kMeter), v2);
  EXPECT_FALSE(Fleet(cfg).processor.restore_models(config::InputKind::kMeter, v1.substr(0, sampler_at)));
  v2[0] = 3;
  EXPECT_FALSE(Fleet(cfg).processor.restore_models(config::InputKind::kMeter, v2)) << "unknown format";
}

}  // namespace
}  // namespace gridsentinel::pipeline
