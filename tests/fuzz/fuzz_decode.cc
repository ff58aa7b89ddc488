// libFuzzer target: RecordDecoder on arbitrary bytes, for each input-topic configuration.
//
// Input: byte 0 selects the topic configuration (MeterReading protobuf, MeterReadingBatch protobuf,
// InfraMetric protobuf, MeterReading JSON, MeterReadingBatch JSON, InfraMetric JSON); the rest is the record
// value. Checks, besides the sanitizers: the decoder never throws; its output is consistent (one validity
// flag per reading, a rejection per invalid reading or for the whole record, reasons in range); every reading
// it accepts satisfies the documented validation rules; and an accepted reading re-encoded (binary and JSON)
// is accepted again (round trip).
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/util/json_util.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/Config.h"
#include "ingest/RecordDecoder.h"

namespace gs = gridsentinel;
using gs::config::InputKind;
using gs::config::InputTopic;
using gs::config::MessageType;
using gs::config::PayloadFormat;

namespace {

constexpr int64_t kNowMs = 1'706'745'600'000;  // 2024-02-01T00:00:00Z

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_decode invariant violated: %s\n", what);
  std::abort();
}
void check(bool ok, const char* what) {
  if (!ok) fail(what);
}

const InputTopic kTopics[] = {
    {"meter-readings", InputKind::kMeter, PayloadFormat::kProtobuf, MessageType::kMeterReading},
    {"meter-batches", InputKind::kMeter, PayloadFormat::kProtobuf, MessageType::kMeterReadingBatch},
    {"infra-metrics", InputKind::kInfra, PayloadFormat::kProtobuf, MessageType::kInfraMetric},
    {"meter-readings-json", InputKind::kMeter, PayloadFormat::kJson, MessageType::kMeterReading},
    {"meter-batches-json", InputKind::kMeter, PayloadFormat::kJson, MessageType::kMeterReadingBatch},
    {"infra-metrics-json", InputKind::kInfra, PayloadFormat::kJson, MessageType::kInfraMetric},
};
constexpr size_t kNumTopics = sizeof(kTopics) / sizeof(kTopics[0]);

struct Decoders {
  gs::config::Config::Ingest limits;  // defaults, plus max_past so that its branch is reachable
  std::vector<gs::ingest::RecordDecoder> d;
  Decoders() {
    limits.max_past_ms = 400LL * 86'400'000;
    for (const auto& t : kTopics) d.emplace_back(limits, t);
  }
};

void check_meter_valid(const gs::v1::MeterReading& r, const gs::config::Config::Ingest& lim) {
  check(!r.meter_id().empty(), "accepted reading with empty meter_id");
  check(r.meter_id().size() <= lim.max_id_bytes, "accepted reading with oversized meter_id");
  check(!r.has_transformer_id() || r.transformer_id().size() <= lim.max_id_bytes,
        "accepted reading with oversized transformer_id");
  check(r.event_time_ms() > 0, "accepted reading without event time");
  check(r.event_time_ms() <= kNowMs + lim.max_future_ms, "accepted reading from the future");
  check(r.event_time_ms() >= kNowMs - lim.max_past_ms, "accepted reading older than max_past");
  const double vals[] = {r.voltage_v(),  r.current_a(),    r.active_power_w(),
                         r.energy_kwh(), r.power_factor(), r.frequency_hz()};
  for (double v : vals) check(std::isfinite(v), "accepted reading with a non-finite value");
  check(r.voltage_v() >= 0 && r.current_a() >= 0 && r.energy_kwh() >= 0, "accepted negative quantity");
  check(std::abs(r.power_factor()) <= 1.0, "accepted |power_factor| > 1");
  check(r.frequency_hz() >= 0 && r.frequency_hz() <= 1000, "accepted frequency out of range");
}

void check_rejections(const gs::ingest::DecodedRecord& out, int readings) {
  for (const auto& rej : out.rejections) {
    check(static_cast<size_t>(rej.reason) < static_cast<size_t>(gs::ingest::DeadLetterReason::kCount),
          "rejection reason out of range");
    check(gs::ingest::reason_name(rej.reason) != nullptr && *gs::ingest::reason_name(rej.reason) != '\0',
          "rejection without a reason name");
    check(rej.batch_index >= -1 && rej.batch_index < readings, "rejection batch_index out of range");
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);  // libprotobuf logs every invalid UTF-8 string it parses
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Decoders decoders;
  static gs::ingest::DecodedRecord out, again;
  if (size < 1) return 0;
  const size_t which = data[0] % kNumTopics;
  const std::string_view value(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto& dec = decoders.d[which];
  const auto& topic = kTopics[which];
  dec.decode(value, kNowMs, out);

  if (topic.message == MessageType::kInfraMetric) {
    check(out.meters.readings_size() == 0 && out.valid.empty(), "meter readings on an infra topic");
    check(out.infra_valid == out.rejections.empty(), "infra: valid iff no rejection");
    check(out.rejections.size() <= 1, "infra: more than one rejection");
    check_rejections(out, 0);
    if (out.infra_valid) {
      const auto& m = out.infra;
      check(!m.source().empty() && !m.metric().empty(), "accepted infra metric without ids");
      check(m.source().size() <= decoders.limits.max_id_bytes &&
                m.metric().size() <= decoders.limits.max_id_bytes,
            "accepted infra metric with oversized ids");
      check(m.labels_size() <= 8, "accepted infra metric with > 8 labels");
      check(std::isfinite(m.value()), "accepted non-finite infra value");
      check(m.event_time_ms() > 0, "accepted infra metric without event time");
      // Round trip: binary and JSON re-encodings are accepted again.
      decoders.d[2].decode(m.SerializeAsString(), kNowMs, again);
      check(again.infra_valid, "infra: binary re-encoding of an accepted metric rejected");
      std::string json;
      if (google::protobuf::util::MessageToJsonString(m, &json).ok()) {
        decoders.d[5].decode(json, kNowMs, again);
        check(again.infra_valid, "infra: JSON re-encoding of an accepted metric rejected");
      }
    }
    return 0;
  }

  check(!out.infra_valid, "infra metric on a meter topic");
  const int n = out.meters.readings_size();
  check(out.valid.size() == static_cast<size_t>(n), "one validity flag per reading");
  check_rejections(out, n);
  if (topic.message == MessageType::kMeterReading) {
    check(n <= 1, "single-reading topic decoded more than one reading");
    check((n == 1 && out.valid[0]) == out.rejections.empty(), "single reading: valid iff no rejection");
  } else {
    size_t invalid = 0;
    for (int i = 0; i < n; ++i) invalid += out.valid[static_cast<size_t>(i)] ? 0 : 1;
    // Either the whole record was refused (no readings, one rejection) or one rejection per invalid reading.
    if (n == 0 && !out.rejections.empty()) {
      check(out.rejections.size() == 1 && out.rejections[0].batch_index == -1, "whole-batch rejection");
    } else {
      check(out.rejections.size() == invalid, "one rejection per invalid batch reading");
      for (size_t k = 0; k < out.rejections.size(); ++k) {
        const int idx = out.rejections[k].batch_index;
        check(idx >= 0 && !out.valid[static_cast<size_t>(idx)], "batch rejection names an invalid reading");
      }
    }
  }
  for (int i = 0; i < n; ++i) {
    if (!out.valid[static_cast<size_t>(i)]) continue;
    const auto& r = out.meters.readings(i);
    check_meter_valid(r, decoders.limits);
    // Round trip: what was accepted is accepted again once re-encoded, as binary and as JSON.
    decoders.d[0].decode(r.SerializeAsString(), kNowMs, again);
    check(again.valid.size() == 1 && again.valid[0],
          "meter: binary re-encoding of an accepted reading rejected");
    std::string json;
    if (google::protobuf::util::MessageToJsonString(r, &json).ok()) {
      decoders.d[3].decode(json, kNowMs, again);
      check(again.valid.size() == 1 && again.valid[0],
            "meter: JSON re-encoding of an accepted reading rejected");
      check(again.meters.readings(0).event_time_ms() == r.event_time_ms(),
            "meter: JSON round trip changed time");
    }
  }
  return 0;
}
