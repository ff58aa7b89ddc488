// Per-stage cost of gridsentinel's data path, and of the whole compute core (Processor::process, no Kafka).
//
//   cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DGS_BUILD_TESTS=OFF
//   cmake --build build-bench -j2 --target pipeline_bench
//   ./build-bench/bench/pipeline_bench --benchmark_counters_tabular=true
//
// Stages:
//   BM_DecodeValidate     RecordDecoder::decode of one pre-encoded MeterReading (protobuf parse + validation)
//   BM_RollingWindowAdd   RollingWindow::add + stats() (24 h window, 24 buckets, 15-minute readings)
//   BM_ZScoreScoreLearn   ZScoreDetector score then learn (prequential, as the Processor calls it)
//   BM_AlertEncode        v1::Alert (a typical z-score alert, 9 features) serialized into a reused string
//   BM_ProcessorStream    Processor::process over a pre-encoded FleetSimulator stream (M meters x T ticks,
//                         one MeterReading per record, default config: every detector on; a third argument
//                         > 0 sets the forest's window_span in minutes), in-memory Emitter. One iteration =
//                         the whole stream through a fresh Processor (construction untimed).
// items/s = readings/s. Use --benchmark_repetitions=3 on a noisy machine; CPU time is reported next to real
// time. bench/core_replay_bench runs the same Processor over the records of a Kafka topic instead (the e2e
// bench's compute-core figure).
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ProcessStats.h"
#include "config/Config.h"
#include "detectors/ZScoreDetector.h"
#include "features/RollingWindow.h"
#include "gridsentinel/v1/alert.pb.h"
#include "gridsentinel/v1/telemetry.pb.h"
#include "ingest/RecordDecoder.h"
#include "kafka/KafkaClients.h"
#include "pipeline/Emitter.h"
#include "pipeline/Processor.h"
#include "sim/FleetSimulator.h"
#include "sinks/Metrics.h"

namespace gridsentinel {
namespace {

using bench::rss_bytes;
using bench::wall_now_ms;

struct EncodedStream {
  std::vector<std::string> keys;
  std::vector<std::string> values;
  size_t bytes = 0;
};

// meters x ticks readings from the fleet simulator, each serialized as one MeterReading (key = meter id),
// exactly what `gridsentinel simulate --batch 1` produces.
const EncodedStream& encoded_stream(uint32_t meters, uint32_t ticks) {
  static std::map<std::pair<uint32_t, uint32_t>, std::unique_ptr<EncodedStream>> cache;
  auto& slot = cache[{meters, ticks}];
  if (slot) return *slot;
  slot = std::make_unique<EncodedStream>();
  sim::SimulatorConfig sc;
  sc.num_meters = meters;
  sc.max_ticks = ticks;
  sc.anomalies_per_meter_day = 0.02;  // the run/demo default
  sim::FleetSimulator fleet(sc);
  std::vector<v1::MeterReading> tick;
  slot->keys.reserve(size_t{meters} * ticks);
  slot->values.reserve(size_t{meters} * ticks);
  while (fleet.next_tick(tick)) {
    for (const auto& r : tick) {
      slot->keys.push_back(r.meter_id());
      slot->values.push_back(r.SerializeAsString());
      slot->bytes += slot->values.back().size();
    }
  }
  return *slot;
}

class CountingEmitter : public pipeline::Emitter {
 public:
  void alert(const v1::Alert& a) override {
    ++alerts;
    a.SerializeToString(&buf);  // the runner serializes every alert it produces
  }
  void dead_letter(const v1::DeadLetter& d, std::string_view) override {
    ++dead_letters;
    d.SerializeToString(&buf);
  }
  void risk(const v1::MeterRisk& r) override {
    ++risks;
    r.SerializeToString(&buf);
  }
  uint64_t alerts = 0, dead_letters = 0, risks = 0;
  std::string buf;
};

void BM_DecodeValidate(benchmark::State& state) {
  const auto& s = encoded_stream(10'000, 8);
  const config::Config cfg = config::parse_config("", "(defaults)");
  ingest::RecordDecoder decoder(cfg.ingest, cfg.topics.inputs.front());
  ingest::DecodedRecord out;
  const int64_t now = wall_now_ms();
  size_t i = 0, valid = 0, bytes = 0;
  for (auto _ : state) {
    const auto& v = s.values[i++ % s.values.size()];
    decoder.decode(v, now, out);
    valid += out.valid.empty() ? 0 : out.valid[0];
    bytes += v.size();
  }
  benchmark::DoNotOptimize(valid);
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["valid_fraction"] = static_cast<double>(valid) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_DecodeValidate);

// The window as a z-score feature uses it: add, then read the stats.
void BM_RollingWindowAdd(benchmark::State& state) {
  features::RollingWindow w(24LL * 3600 * 1000, 24);
  int64_t t = 1704067200000;
  double x = 500, sum = 0;
  for (auto _ : state) {
    x = x * 0.999 + 0.5 + static_cast<double>(t % 97);
    w.add(t, x);
    sum += w.stats().stddev;
    t += 900'000;
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RollingWindowAdd);

void BM_ZScoreScoreLearn(benchmark::State& state) {
  detectors::ZScoreDetector d;
  int64_t t = 1704067200000;
  for (int k = 0; k < 200; ++k, t += 900'000) d.learn({t, 500.0 + k % 13});
  double x = 500, sum = 0;
  for (auto _ : state) {
    x = 500.0 + static_cast<double>((t / 900'000) % 31);
    const detectors::Point p{t, x};
    sum += d.score(p);
    d.learn(p);
    t += 900'000;
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ZScoreScoreLearn);

void BM_AlertEncode(benchmark::State& state) {
  v1::Alert a;
  a.set_alert_id("9d3050874d3f2c81");
  a.set_entity_kind(v1::ENTITY_KIND_METER);
  a.set_entity_id("MTR-000123");
  a.set_detector("zscore");
  a.set_anomaly_type("high_value");
  a.set_severity(v1::SEVERITY_WARNING);
  a.set_score(0.704);
  a.set_feature("active_power_w");
  a.set_observed_value(5234);
  a.set_expected_low(-172);
  a.set_expected_high(1009);
  for (const char* f : {"z", "active_power_w.mean_1d", "active_power_w.stddev_1d", "active_power_w.min_1d",
                        "active_power_w.max_1d", "active_power_w.count_1d", "active_power_w.last",
                        "active_power_w.rate_per_s", "k"}) {
    auto* fv = a.add_features();
    fv->set_name(f);
    fv->set_value(123.456);
  }
  a.set_event_time_ms(1704267900000);
  a.set_detection_time_ms(wall_now_ms());
  a.set_gridsentinel_version("0.1.0");
  a.set_explanation(
      "active_power_w = 5234 is 10.5 standard deviations above its 1d mean 400.4 (expected -172 .. 1009)");
  a.set_transformer_id("TX-00005");
  std::string buf;
  size_t bytes = 0;
  for (auto _ : state) {
    a.SerializeToString(&buf);
    bytes += buf.size();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["alert_bytes"] = static_cast<double>(buf.size());
}
BENCHMARK(BM_AlertEncode);

// The compute core: decode + validate + every detector + alert/risk encoding, per record, no Kafka.
void BM_ProcessorStream(benchmark::State& state) {
  const auto meters = static_cast<uint32_t>(state.range(0));
  const auto ticks = static_cast<uint32_t>(state.range(1));
  const auto& s = encoded_stream(meters, ticks);
  // Third argument: the forest's window_span in minutes (0 = the default, off).
  const int64_t span_min = state.range(2);
  const config::Config cfg = config::parse_config(
      span_min > 0 ? fmt::format("detectors: {{iforest: {{meter: {{window_span: {}m}}}}}}", span_min) : "",
      "(defaults)");
  std::vector<std::string> input_topics;
  for (const auto& t : cfg.topics.inputs) input_topics.push_back(t.name);
  const std::string topic = cfg.topics.inputs.front().name;
  const int64_t now = wall_now_ms();
  std::vector<kafka::Record> records(s.values.size());
  for (size_t i = 0; i < records.size(); ++i) {
    records[i].topic = topic;
    records[i].partition =
        static_cast<int32_t>(i % 8);  // 8 partitions, as a consumer of the default topic sees
    records[i].offset = static_cast<int64_t>(i / 8);
    records[i].key = s.keys[i];
    records[i].value = s.values[i];
    records[i].timestamp_ms = now;
  }
  uint64_t alerts = 0, dead = 0, risks = 0;
  size_t entities = 0;
  double rss_growth = -1;  // first iteration only: later ones reuse the allocator's freed pages
  for (auto _ : state) {
    state.PauseTiming();
    const double rss_before = rss_bytes();
    auto metrics = std::make_unique<sinks::Metrics>(input_topics, pipeline::Processor::detector_names());
    auto proc = std::make_unique<pipeline::Processor>(cfg, *metrics);
    CountingEmitter out;
    state.ResumeTiming();
    for (size_t i = 0; i < records.size(); ++i) {  // as KafkaRunner::run
      if (i + 1 < records.size()) proc->prefetch(records[i + 1]);
      proc->process(records[i], now, out);
    }
    state.PauseTiming();
    alerts = out.alerts;
    dead = out.dead_letters;
    risks = out.risks;
    entities = proc->entities(config::InputKind::kMeter);
    if (rss_growth < 0) rss_growth = rss_bytes() - rss_before;
    proc.reset();
    metrics.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * s.values.size()));
  state.counters["readings"] = static_cast<double>(s.values.size());
  state.counters["alerts"] = static_cast<double>(alerts);
  state.counters["dead_letters"] = static_cast<double>(dead);
  state.counters["risk_changes"] = static_cast<double>(risks);
  state.counters["entities"] = static_cast<double>(entities);
  // Processor state (entity table, windows, detectors, forest) per meter, as resident memory: no Kafka
  // buffers.
  state.counters["rss_bytes_per_entity"] = entities ? rss_growth / static_cast<double>(entities) : 0.0;
  state.counters["bytes_per_reading"] = static_cast<double>(s.bytes) / static_cast<double>(s.values.size());
}
// 2k meters x 200 ticks (past the simulator's 2-day warm-up, so anomalies and alerts occur), 10k meters x 100
// ticks (1M readings, ~20 MB of meter state); that with the forest's window spread over 30 minutes of event
// time (10k meters: 20k readings a span, so it learns about 1 in 10); and the e2e bench's default shape (100k
// meters x 50 ticks = 5M readings, ~200 MB of meter state, beyond the caches).
BENCHMARK(BM_ProcessorStream)
    ->Args({2000, 200, 0})
    ->Args({10000, 100, 0})
    ->Args({10000, 100, 30})
    ->Args({100000, 50, 0})
    ->Iterations(2)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace gridsentinel

BENCHMARK_MAIN();
