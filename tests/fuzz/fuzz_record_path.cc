// libFuzzer target: the whole per-record path. A Processor with the default configuration processes a
// sequence of records built from the fuzz input, so that per-entity and fleet state accumulates; an in-memory
// Emitter checks every output:
//   - alert: alert_id is 32 lowercase hex digits (and is make_alert_id of its own fields: replays dedupe),
//     score in [0, 1], finite observed value, non-empty entity id, detector and anomaly type, a known
//     detector, a WARNING or CRITICAL severity;
//   - dead letter: non-empty reason and stage, the source topic/partition/offset of the record being
//   processed;
//   - risk: risk, ml_score and rules_score in [0, 1], a known band.
//
// Input format (consumed with FuzzedDataProvider, so every byte string is a valid program): a sequence of
// operations until the input runs out:
//   0: a raw record: topic, partition, key and value bytes straight from the input;
//   1: a synthesised valid MeterReading (protobuf or JSON topic), meter id from a small set, event time
//      advancing by a fuzzed step, measurements from the input;
//   2: a synthesised MeterReadingBatch of such readings (raw record on a batch topic, which the default
//   config
//      does not subscribe to: exercises the unknown-topic path) or an InfraMetric;
//   3: a burst: up to 600 regular readings of one meter (or infra series) around a level, with a fuzzed
//      anomaly injected, so that the detectors warm up and fire;
//   4: check_missing / reset_partition_progress / a wall-clock jump.
#include <fuzzer/FuzzedDataProvider.h>
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/util/json_util.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "config/Config.h"
#include "kafka/KafkaClients.h"
#include "pipeline/Emitter.h"
#include "pipeline/Processor.h"
#include "sinks/Metrics.h"

namespace gs = gridsentinel;

namespace {

constexpr int64_t kBaseMs = 1'704'067'200'000;  // 2024-01-01T00:00:00Z

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_record_path invariant violated: %s\n%s\n", what, detail.c_str());
  std::abort();
}

bool is_hex32(const std::string& s) {
  if (s.size() != 32) return false;
  for (char ch : s)
    if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) return false;
  return true;
}

struct CheckingEmitter final : gs::pipeline::Emitter {
  const std::set<std::string>* detectors = nullptr;
  const std::set<std::pair<std::string, std::string>>* kinds = nullptr;
  const gs::kafka::Record* current = nullptr;  // the record being processed, or null (check_missing)
  uint64_t alerts = 0, dead_letters = 0, risks = 0;

  void alert(const gs::v1::Alert& a) override {
    ++alerts;
    const std::string dbg = a.ShortDebugString();
    if (!is_hex32(a.alert_id())) fail("alert_id is not 32 hex digits", dbg);
    if (!(a.score() >= 0.0 && a.score() <= 1.0)) fail("alert score outside [0, 1]", dbg);
    if (!std::isfinite(a.observed_value())) fail("alert observed_value not finite", dbg);
    if (a.entity_id().empty() || a.detector().empty() || a.anomaly_type().empty())
      fail("alert without entity id, detector or anomaly type", dbg);
    if (detectors->count(a.detector()) == 0) fail("alert from a detector not in detector_names()", dbg);
    if (kinds->count({a.detector(), a.anomaly_type()}) == 0)
      fail("alert of a (detector, anomaly_type) not in alert_kinds(): an unbounded metric label", dbg);
    if (a.severity() != gs::v1::SEVERITY_WARNING && a.severity() != gs::v1::SEVERITY_CRITICAL)
      fail("alert severity neither WARNING nor CRITICAL", dbg);
    // Deterministic id from the alert's own fields; a fleet drift alert keys it by the drifted feature in
    // place of the anomaly type (Processor::run_drift), so that two features drifting at once get distinct
    // ids.
    const std::string& kind_key = a.detector() == "ks_drift" ? a.feature() : a.anomaly_type();
    if (a.alert_id() != gs::pipeline::make_alert_id(a.entity_kind(), a.entity_id(), a.detector(), kind_key,
                                                    a.event_time_ms()))
      fail("alert_id is not make_alert_id of the alert's own fields", dbg);
  }
  void dead_letter(const gs::v1::DeadLetter& d, std::string_view key) override {
    ++dead_letters;
    const std::string dbg = d.reason() + " / " + d.detail();
    if (d.reason().empty()) fail("dead letter without a reason", dbg);
    if (d.stage().empty()) fail("dead letter without a stage", dbg);
    if (current) {
      if (d.source_topic() != current->topic || d.source_partition() != current->partition ||
          d.source_offset() != current->offset)
        fail("dead letter does not name the record being processed", dbg);
      if (key != current->key || d.original_key() != current->key) fail("dead letter key differs", dbg);
    }
  }
  void risk(const gs::v1::MeterRisk& r) override {
    ++risks;
    const std::string dbg = r.ShortDebugString();
    auto unit = [](double v) { return v >= 0.0 && v <= 1.0; };
    if (!unit(r.risk()) || !unit(r.ml_score()) || !unit(r.rules_score()))
      fail("risk value outside [0, 1]", dbg);
    if (r.meter_id().empty()) fail("risk without meter id", dbg);
    if (r.band() < gs::v1::RISK_BAND_LOW || r.band() > gs::v1::RISK_BAND_HIGH) fail("risk band unknown", dbg);
  }
};

const char* const kTopics[] = {"meter-readings", "meter-readings-json", "infra-metrics", "meter-batches",
                               "unknown-topic"};

double fuzz_double(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange<int>(0, 7)) {
    case 0:
      return in.ConsumeFloatingPoint<double>();  // anything, including huge values
    case 1:
      return in.ConsumeFloatingPointInRange<double>(-1e4, 1e4);
    case 2:
      return static_cast<double>(in.ConsumeIntegralInRange<int>(-5, 5));
    case 3:
      return std::ldexp(1.0, in.ConsumeIntegralInRange<int>(-1074, 1023));  // denormals to near-max
    default:
      return in.ConsumeFloatingPointInRange<double>(0.0, 1000.0);
  }
}

void fill_reading(FuzzedDataProvider& in, gs::v1::MeterReading& r, const std::string& id, int64_t t) {
  r.Clear();
  r.set_meter_id(id);
  r.set_event_time_ms(t);
  const uint8_t present = in.ConsumeIntegral<uint8_t>();
  auto nonneg = [](double v) { return std::isfinite(v) ? std::abs(v) : 0.0; };
  auto finite = [](double v) { return std::isfinite(v) ? v : 0.0; };
  if (present & 1) r.set_voltage_v(nonneg(fuzz_double(in)));
  if (present & 2) r.set_current_a(nonneg(fuzz_double(in)));
  if (present & 4) r.set_active_power_w(finite(fuzz_double(in)));
  if (present & 8) r.set_energy_kwh(nonneg(fuzz_double(in)));
  if (present & 16) r.set_power_factor(in.ConsumeFloatingPointInRange<double>(-1.0, 1.0));
  if (present & 32) r.set_frequency_hz(in.ConsumeFloatingPointInRange<double>(0.0, 1000.0));
  if (present & 64) r.set_status_flags(in.ConsumeIntegral<uint32_t>());
  if (present & 128) r.set_interval_s(in.ConsumeIntegralInRange<uint32_t>(0, 86'400));
  if (in.ConsumeBool()) r.set_transformer_id("TR-" + std::to_string(in.ConsumeIntegralInRange<int>(0, 3)));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);  // libprotobuf logs every invalid UTF-8 string it parses
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const gs::config::Config cfg;
  static std::vector<std::string> topic_names = [] {
    std::vector<std::string> v;
    for (const auto& t : cfg.topics.inputs) v.push_back(t.name);
    return v;
  }();
  static gs::sinks::Metrics metrics(topic_names, gs::pipeline::Processor::detector_names());
  static const std::set<std::pair<std::string, std::string>> kinds = [] {
    std::set<std::pair<std::string, std::string>> s;
    for (const auto& k : gs::pipeline::Processor::alert_kinds()) s.emplace(k.detector, k.anomaly_type);
    return s;
  }();
  static const std::set<std::string> detectors = [] {
    const auto names = gs::pipeline::Processor::detector_names();
    return std::set<std::string>(names.begin(), names.end());
  }();

  FuzzedDataProvider in(data, size);
  gs::pipeline::Processor proc(cfg, metrics);
  CheckingEmitter out;
  out.detectors = &detectors;
  out.kinds = &kinds;

  int64_t now_ms = kBaseMs + 30LL * 86'400'000;  // wall clock: event times up to ~30 days of history fit
  int64_t t = kBaseMs;                           // synthesised event time, advancing
  int64_t offsets[4] = {0, 0, 0, 0};
  std::string key, value;
  gs::v1::MeterReading reading;
  gs::v1::MeterReadingBatch batch;
  gs::v1::InfraMetric infra;

  // At most 64 operations and kMaxRecords records per input, to keep executions fast (a burst is cut short).
  constexpr int kMaxRecords = 1500;
  int records = 0;
  auto send = [&](const char* topic, int32_t partition, std::string_view k, std::string_view v) {
    gs::kafka::Record rec;
    rec.topic = topic;
    rec.partition = partition;
    rec.offset = offsets[partition & 3]++;
    rec.key = k;
    rec.value = v;
    rec.timestamp_ms = now_ms;
    ++records;
    out.current = &rec;
    proc.process(rec, now_ms, out);
    out.current = nullptr;
  };

  for (int ops = 0; ops < 64 && in.remaining_bytes() > 0 && records < kMaxRecords; ++ops) {
    const int op = in.ConsumeIntegralInRange<int>(0, 4);
    const int32_t partition = in.ConsumeIntegralInRange<int32_t>(0, 3);
    switch (op) {
      case 0: {  // raw record
        const char* topic = kTopics[in.ConsumeIntegralInRange<size_t>(0, 4)];
        key = in.ConsumeRandomLengthString(64);
        value = in.ConsumeRandomLengthString(4096);
        send(topic, partition, key, value);
        break;
      }
      case 1: {  // one synthesised reading
        t += in.ConsumeIntegralInRange<int64_t>(-3'600'000 * 2, 3'600'000);
        key = "MTR-" + std::to_string(in.ConsumeIntegralInRange<int>(0, 7));
        fill_reading(in, reading, key, t);
        if (in.ConsumeBool()) {
          send("meter-readings", partition, key, reading.SerializeAsString());
        } else {
          value.clear();
          (void)google::protobuf::util::MessageToJsonString(reading, &value);
          send("meter-readings-json", partition, key, value);
        }
        break;
      }
      case 2: {  // a batch (unsubscribed topic) or an infra metric
        if (in.ConsumeBool()) {
          batch.Clear();
          const int n = in.ConsumeIntegralInRange<int>(0, 8);
          for (int i = 0; i < n; ++i)
            fill_reading(in, *batch.add_readings(), "MTR-" + std::to_string(i), t + 900'000LL * i);
          send("meter-batches", partition, "", batch.SerializeAsString());
        } else {
          infra.Clear();
          infra.set_source("host-" + std::to_string(in.ConsumeIntegralInRange<int>(0, 3)));
          infra.set_metric(in.ConsumeBool() ? "cpu_utilisation_ratio" : in.ConsumeRandomLengthString(16));
          infra.set_value(fuzz_double(in));
          t += in.ConsumeIntegralInRange<int64_t>(-120'000, 60'000);
          infra.set_event_time_ms(t);
          const int labels = in.ConsumeIntegralInRange<int>(0, 9);
          for (int i = 0; i < labels; ++i) (*infra.mutable_labels())["k" + std::to_string(i)] = "v";
          send("infra-metrics", partition, infra.source(), infra.SerializeAsString());
        }
        break;
      }
      case 3: {  // a burst of regular readings with one injected anomaly
        const bool meter = in.ConsumeBool();
        const int n = in.ConsumeIntegralInRange<int>(1, 600);
        const double level = in.ConsumeFloatingPointInRange<double>(0.0, 5000.0);
        const double noise = in.ConsumeFloatingPointInRange<double>(0.0, 200.0);
        const int at = in.ConsumeIntegralInRange<int>(0, n);
        const double anomaly = fuzz_double(in);
        const int64_t step = meter ? 900'000 : 10'000;
        const int id = in.ConsumeIntegralInRange<int>(0, 7);
        uint64_t rng = 0x9e3779b97f4a7c15ULL ^ static_cast<uint64_t>(id);
        for (int i = 0; i < n && records < kMaxRecords; ++i) {
          rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
          const double u = static_cast<double>(rng >> 11) * 0x1.0p-53 - 0.5;
          double x = level + noise * u + (i == at ? anomaly : 0.0);
          if (!std::isfinite(x)) x = level;
          t += step;
          if (meter) {
            reading.Clear();
            key = "MTR-" + std::to_string(id);
            reading.set_meter_id(key);
            reading.set_event_time_ms(t);
            reading.set_voltage_v(230.0 + 2.0 * u);
            reading.set_active_power_w(x);
            reading.set_current_a(std::abs(x) / 230.0);
            reading.set_power_factor(0.95);
            reading.set_frequency_hz(50.0);
            reading.set_energy_kwh(static_cast<double>(i) * 0.1);
            reading.set_interval_s(900);
            send("meter-readings", partition, key, reading.SerializeAsString());
          } else {
            infra.Clear();
            infra.set_source("host-" + std::to_string(id));
            infra.set_metric("cpu_utilisation_ratio");
            infra.set_value(x);
            infra.set_event_time_ms(t);
            send("infra-metrics", partition, infra.source(), infra.SerializeAsString());
          }
        }
        break;
      }
      case 4: {
        switch (in.ConsumeIntegralInRange<int>(0, 2)) {
          case 0:
            proc.check_missing(now_ms, out);
            break;
          case 1:
            proc.reset_partition_progress();
            break;
          default:
            now_ms += in.ConsumeIntegralInRange<int64_t>(0, 7LL * 86'400'000);
            break;
        }
        break;
      }
    }
    // Keep the wall clock ahead of the synthesised event time (else everything is event_time_in_future).
    if (t > now_ms) now_ms = t + 60'000;
  }
  proc.check_missing(now_ms, out);
  return 0;
}
