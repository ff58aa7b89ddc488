#pragma once
// RecordDecoder: one consumed record's bytes -> validated readings, or reasons to dead-letter.
//
// Per input topic it decodes the configured message type (MeterReading, MeterReadingBatch or InfraMetric)
// from protobuf binary or protobuf's canonical JSON mapping (so a person can push a reading with kcat), then
// validates every reading. A batch is split: valid readings go on, each invalid one is reported with its
// index so that it can be dead-lettered alone (re-encoded as a single MeterReading) while its neighbours are
// processed. Never throws; reuses its message objects between records, so steady-state decoding does not
// allocate. Not thread-safe: one decoder per consuming thread.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/Config.h"
#include "gridsentinel/v1/telemetry.pb.h"
#include "ingest/DeadLetterReason.h"

namespace gridsentinel::ingest {

struct Rejection {
  DeadLetterReason reason;
  std::string detail;
  int batch_index = -1;  // index in a MeterReadingBatch, or -1 for the whole record
};

struct DecodedRecord {
  // Meter topics: the readings (a single MeterReading is decoded as a batch of one). valid[i] says whether
  // meters.readings(i) passed validation.
  v1::MeterReadingBatch meters;
  std::vector<uint8_t> valid;
  // Infra topics.
  v1::InfraMetric infra;
  bool infra_valid = false;
  std::vector<Rejection> rejections;
  void clear();
};

// Strips Confluent Schema Registry's protobuf framing: magic byte 0, the schema id (4 bytes, big-endian),
// then the message-index path as zigzag varints (a count, then the indexes; a single 0 means "the first
// message"). Returns false (with `why`) when the framing is malformed. The schema id is returned but not
// checked against a registry: gridsentinel decodes with the compiled schema of the topic's configured message
// type.
bool strip_confluent_framing(std::string_view& value, int32_t& schema_id, std::string& why);

class RecordDecoder {
 public:
  // The longest interval_s a reading may state (31 days, monthly reads); longer is "invalid_value".
  static constexpr uint32_t kMaxIntervalS = 31 * 86'400;
  RecordDecoder(const config::Config::Ingest& limits, const config::InputTopic& topic);
  // Decodes and validates `value`. `now_ms` is the wall clock, for the future/past event-time bounds.
  void decode(std::string_view value, int64_t now_ms, DecodedRecord& out) const;
  const config::InputTopic& topic() const { return topic_; }

 private:
  bool parse(std::string_view value, google::protobuf::Message& msg, Rejection& why) const;
  std::string guess_other_type(std::string_view value) const;
  bool validate_meter(const v1::MeterReading& r, int64_t now_ms, Rejection& why) const;
  bool validate_infra(const v1::InfraMetric& m, int64_t now_ms, Rejection& why) const;
  bool validate_time(int64_t t, int64_t now_ms, Rejection& why) const;

  config::Config::Ingest limits_;
  config::InputTopic topic_;
};

}  // namespace gridsentinel::ingest
