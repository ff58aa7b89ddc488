#include "ingest/RecordDecoder.h"

#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/util/json_util.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <mutex>

namespace gridsentinel::ingest {

namespace {

// libprotobuf logs some parse failures itself (a string field of invalid UTF-8: "String field ... contains
// invalid UTF-8 data ..."), to stderr, a line per record: I/O on the per-record path, and a log flood anyone
// who can produce to an input topic could cause. While this thread parses a record, its messages are kept
// for the dead letter's detail instead; any other goes to spdlog.
thread_local bool t_parsing = false;
thread_local std::string t_parse_message;

void protobuf_log(google::protobuf::LogLevel level, const char* file, int line, const std::string& message) {
  if (t_parsing && level < google::protobuf::LOGLEVEL_FATAL) {
    if (t_parse_message.empty()) t_parse_message = message;
    return;
  }
  const auto lvl = level >= google::protobuf::LOGLEVEL_ERROR     ? spdlog::level::err
                   : level == google::protobuf::LOGLEVEL_WARNING ? spdlog::level::warn
                                                                 : spdlog::level::info;
  spdlog::log(lvl, "libprotobuf {}:{}: {}", file, line, message);
}

// A parse inside the capture above: message() is the first thing libprotobuf logged on this thread since the
// outermost scope began ("" when nothing).
class ParseScope {
 public:
  ParseScope() : outer_(t_parsing) {
    static std::once_flag installed;
    std::call_once(installed, [] { google::protobuf::SetLogHandler(&protobuf_log); });
    if (!outer_) t_parse_message.clear();  // nested (a guess at another type inside a parse): keeps the first
    t_parsing = true;
  }
  ~ParseScope() { t_parsing = outer_; }
  ParseScope(const ParseScope&) = delete;
  ParseScope& operator=(const ParseScope&) = delete;
  const std::string& message() const { return t_parse_message; }

 private:
  bool outer_;
};

bool has_unknown_fields(const google::protobuf::Message& msg) {
  const auto* refl = msg.GetReflection();
  if (!refl->GetUnknownFields(msg).empty()) return true;
  // Nested messages (a batch's readings) can carry unknown fields of their own. The message-typed fields are
  // found in the descriptor rather than by listing the set fields (Reflection::ListFields fills a vector: an
  // allocation per record; ListFields alone was 0.8% of the end-to-end process in perf).
  const auto* d = msg.GetDescriptor();
  for (int k = 0; k < d->field_count(); ++k) {
    const auto* f = d->field(k);
    if (f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < refl->FieldSize(msg, f); ++i)
        if (has_unknown_fields(refl->GetRepeatedMessage(msg, f, i))) return true;
    } else if (refl->HasField(msg, f) && has_unknown_fields(refl->GetMessage(msg, f))) {
      return true;
    }
  }
  return false;
}

bool finite_if_set(bool has, double v) {
  return !has || std::isfinite(v);
}

}  // namespace

namespace {
bool read_zigzag_varint(std::string_view& in, int64_t& out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (in.empty()) return false;
    const auto b = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    v |= uint64_t{b & 0x7fu} << shift;
    if (!(b & 0x80u)) {
      out = static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
      return true;
    }
  }
  return false;
}
}  // namespace

bool strip_confluent_framing(std::string_view& value, int32_t& schema_id, std::string& why) {
  if (value.size() < 6 || value[0] != '\0') {
    why = "not in Confluent Schema Registry wire format (expected magic byte 0 and a 4-byte schema id)";
    return false;
  }
  uint32_t id = 0;
  for (int i = 1; i <= 4; ++i) id = (id << 8) | static_cast<uint8_t>(value[static_cast<size_t>(i)]);
  schema_id = static_cast<int32_t>(id);
  value.remove_prefix(5);
  int64_t count = 0;
  if (!read_zigzag_varint(value, count) || count < 0 || count > 64) {
    why = "malformed message-index path in the Confluent wire format";
    return false;
  }
  for (int64_t i = 0; i < count; ++i) {
    int64_t index = 0;
    if (!read_zigzag_varint(value, index) || index < 0) {
      why = "malformed message index in the Confluent wire format";
      return false;
    }
  }
  return true;
}

void DecodedRecord::clear() {
  meters.Clear();
  valid.clear();
  infra.Clear();
  infra_valid = false;
  rejections.clear();
}

RecordDecoder::RecordDecoder(const config::Config::Ingest& limits, const config::InputTopic& topic)
    : limits_(limits), topic_(topic) {}

bool RecordDecoder::parse(std::string_view value, google::protobuf::Message& msg, Rejection& why) const {
  const ParseScope scope;
  if (topic_.format == config::PayloadFormat::kJson) {
    google::protobuf::util::JsonParseOptions opts;
    opts.ignore_unknown_fields = false;
    const auto status = google::protobuf::util::JsonStringToMessage(
        google::protobuf::StringPiece(value.data(), value.size()), &msg, opts);
    if (status.ok()) return true;
    const std::string other = guess_other_type(value);
    why = other.empty() ? Rejection{DeadLetterReason::kJsonError, std::string(status.message()), -1}
                        : Rejection{DeadLetterReason::kWrongMessageType,
                                    "expected " + msg.GetTypeName() + ", got what parses as " + other, -1};
    return false;
  }
  if (topic_.format == config::PayloadFormat::kConfluentProtobuf) {
    int32_t schema_id = 0;
    std::string err;
    if (!strip_confluent_framing(value, schema_id, err)) {
      why = {DeadLetterReason::kDecodeError, err, -1};
      return false;
    }
  }
  if (!msg.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    why = {DeadLetterReason::kDecodeError,
           "not a valid protobuf encoding of " + msg.GetTypeName() +
               (scope.message().empty() ? "" : " (" + scope.message() + ")"),
           -1};
    return false;
  }
  // proto3 keeps fields it does not know; a message full of them was written with another schema.
  if (has_unknown_fields(msg)) {
    const std::string other = guess_other_type(value);
    why = {
        DeadLetterReason::kWrongMessageType,
        "fields unknown to " + msg.GetTypeName() + (other.empty() ? std::string() : "; parses as " + other),
        -1};
    return false;
  }
  return true;
}

// Only on the error path: which of the other input types the bytes decode to cleanly, for the dead letter's
// detail.
std::string RecordDecoder::guess_other_type(std::string_view value) const {
  v1::MeterReading reading;
  v1::InfraMetric infra;
  google::protobuf::Message* candidates[] = {&reading, &infra};
  for (auto* m : candidates) {
    if (m->GetTypeName() == (topic_.message == config::MessageType::kInfraMetric
                                 ? "gridsentinel.v1.InfraMetric"
                                 : "gridsentinel.v1.MeterReading"))
      continue;
    bool ok = false;
    if (topic_.format == config::PayloadFormat::kJson) {
      ok = google::protobuf::util::JsonStringToMessage(
               google::protobuf::StringPiece(value.data(), value.size()), m)
               .ok();
    } else {
      const ParseScope scope;  // (a guess: what libprotobuf logs of it is of no use)
      ok = m->ParseFromArray(value.data(), static_cast<int>(value.size())) && !has_unknown_fields(*m);
    }
    if (ok) return m->GetTypeName();
  }
  return "";
}

bool RecordDecoder::validate_time(int64_t t, int64_t now_ms, Rejection& why) const {
  if (t <= 0) {
    why = {DeadLetterReason::kMissingEventTime, "event_time_ms is unset or not positive", -1};
    return false;
  }
  if (limits_.max_future_ms > 0 && t > now_ms + limits_.max_future_ms) {
    why = {DeadLetterReason::kEventTimeInFuture,
           "event_time_ms " + std::to_string(t) + " is " + std::to_string((t - now_ms) / 1000) +
               " s ahead of now",
           -1};
    return false;
  }
  if (limits_.max_past_ms > 0 && t < now_ms - limits_.max_past_ms) {
    why = {
        DeadLetterReason::kEventTimeTooOld,
        "event_time_ms " + std::to_string(t) + " is " + std::to_string((now_ms - t) / 1000) + " s behind now",
        -1};
    return false;
  }
  return true;
}

bool RecordDecoder::validate_meter(const v1::MeterReading& r, int64_t now_ms, Rejection& why) const {
  if (r.meter_id().empty()) {
    why = {DeadLetterReason::kMissingId, "meter_id is empty", -1};
    return false;
  }
  if (r.meter_id().size() > limits_.max_id_bytes ||
      (r.has_transformer_id() && r.transformer_id().size() > limits_.max_id_bytes)) {
    why = {DeadLetterReason::kIdTooLong,
           "meter_id or transformer_id longer than " + std::to_string(limits_.max_id_bytes) + " bytes", -1};
    return false;
  }
  if (!validate_time(r.event_time_ms(), now_ms, why)) return false;
  const struct {
    bool has;
    double v;
    const char* name;
  } values[] = {{r.has_voltage_v(), r.voltage_v(), "voltage_v"},
                {r.has_current_a(), r.current_a(), "current_a"},
                {r.has_active_power_w(), r.active_power_w(), "active_power_w"},
                {r.has_energy_kwh(), r.energy_kwh(), "energy_kwh"},
                {r.has_power_factor(), r.power_factor(), "power_factor"},
                {r.has_frequency_hz(), r.frequency_hz(), "frequency_hz"}};
  for (const auto& v : values) {
    if (!finite_if_set(v.has, v.v)) {
      why = {DeadLetterReason::kNonFiniteValue, std::string(v.name) + " is not finite", -1};
      return false;
    }
  }
  const char* invalid = nullptr;
  if (r.has_voltage_v() && r.voltage_v() < 0)
    invalid = "voltage_v is negative";
  else if (r.has_current_a() && r.current_a() < 0)
    invalid = "current_a is negative";
  else if (r.has_energy_kwh() && r.energy_kwh() < 0)
    invalid = "energy_kwh is negative";
  else if (r.has_power_factor() && std::abs(r.power_factor()) > 1.0)
    invalid = "power_factor is outside [-1, 1]";
  else if (r.has_frequency_hz() && (r.frequency_hz() < 0 || r.frequency_hz() > 1000))
    invalid = "frequency_hz is outside [0, 1000]";
  // Beyond any meter (1 MV, 1 MA, 10 GW, 10^12 kWh): garbage, and magnitudes the per-entity windows' float
  // accumulators cannot hold (found by fuzzing: one 1e300 W reading left a meter's windows NaN until they
  // emptied).
  else if (r.has_voltage_v() && r.voltage_v() > 1e6)
    invalid = "voltage_v is above 1e6 V";
  else if (r.has_current_a() && r.current_a() > 1e6)
    invalid = "current_a is above 1e6 A";
  else if (r.has_active_power_w() && std::abs(r.active_power_w()) > 1e10)
    invalid = "active_power_w is beyond +-1e10 W";
  else if (r.has_energy_kwh() && r.energy_kwh() > 1e12)
    invalid = "energy_kwh is above 1e12 kWh";
  // Monthly reads are the longest interval in use (0 means unknown, as unset). Longer ones are garbage, and
  // the silence tracker holds an interval in 32-bit milliseconds: 4,294,968 s wrapped to 704 ms, and the
  // meter's next normal reading was alerted missing.
  else if (r.has_interval_s() && r.interval_s() > kMaxIntervalS)
    invalid = "interval_s is above 2678400 (31 days)";
  if (invalid) {
    why = {DeadLetterReason::kInvalidValue, invalid, -1};
    return false;
  }
  return true;
}

bool RecordDecoder::validate_infra(const v1::InfraMetric& m, int64_t now_ms, Rejection& why) const {
  if (m.source().empty() || m.metric().empty()) {
    why = {DeadLetterReason::kMissingId, m.source().empty() ? "source is empty" : "metric is empty", -1};
    return false;
  }
  if (m.source().size() > limits_.max_id_bytes || m.metric().size() > limits_.max_id_bytes) {
    why = {DeadLetterReason::kIdTooLong,
           "source or metric longer than " + std::to_string(limits_.max_id_bytes) + " bytes", -1};
    return false;
  }
  if (m.labels_size() > 8) {
    why = {DeadLetterReason::kTooManyLabels, std::to_string(m.labels_size()) + " labels (at most 8)", -1};
    return false;
  }
  for (const auto& [k, v] : m.labels()) {
    if (k.size() > 64 || v.size() > 64) {
      why = {DeadLetterReason::kTooManyLabels, "label '" + k.substr(0, 64) + "' longer than 64 bytes", -1};
      return false;
    }
  }
  if (!validate_time(m.event_time_ms(), now_ms, why)) return false;
  if (!std::isfinite(m.value())) {
    why = {DeadLetterReason::kNonFiniteValue, "value is not finite", -1};
    return false;
  }
  if (std::abs(m.value()) > 1e15) {  // the windows' float accumulators hold squares up to ~3e38
    why = {DeadLetterReason::kInvalidValue, "value is beyond +-1e15", -1};
    return false;
  }
  return true;
}

void RecordDecoder::decode(std::string_view value, int64_t now_ms, DecodedRecord& out) const {
  out.clear();
  Rejection why{DeadLetterReason::kDecodeError, "", -1};
  if (value.size() > limits_.max_message_bytes) {
    out.rejections.push_back(
        {DeadLetterReason::kOversized,
         std::to_string(value.size()) + " bytes (limit " + std::to_string(limits_.max_message_bytes) + ")",
         -1});
    return;
  }
  switch (topic_.message) {
    case config::MessageType::kInfraMetric:
      if (!parse(value, out.infra, why)) break;
      out.infra_valid = validate_infra(out.infra, now_ms, why);
      if (out.infra_valid) return;
      break;
    case config::MessageType::kMeterReading:
      if (!parse(value, *out.meters.add_readings(), why)) {
        out.meters.Clear();
        break;
      }
      out.valid.push_back(validate_meter(out.meters.readings(0), now_ms, why) ? 1 : 0);
      if (out.valid[0]) return;
      break;
    case config::MessageType::kMeterReadingBatch:
      if (!parse(value, out.meters, why)) {
        out.meters.Clear();
        break;
      }
      if (static_cast<uint32_t>(out.meters.readings_size()) > limits_.max_batch_readings) {
        why = {DeadLetterReason::kBatchTooLarge,
               std::to_string(out.meters.readings_size()) + " readings (limit " +
                   std::to_string(limits_.max_batch_readings) + ")",
               -1};
        out.meters.Clear();
        break;
      }
      out.valid.resize(static_cast<size_t>(out.meters.readings_size()));
      for (int i = 0; i < out.meters.readings_size(); ++i) {
        Rejection item_why{DeadLetterReason::kDecodeError, "", i};
        out.valid[static_cast<size_t>(i)] = validate_meter(out.meters.readings(i), now_ms, item_why) ? 1 : 0;
        if (!out.valid[static_cast<size_t>(i)]) {
          item_why.batch_index = i;
          out.rejections.push_back(std::move(item_why));
        }
      }
      return;
  }
  out.rejections.push_back(std::move(why));
}

}  // namespace gridsentinel::ingest
