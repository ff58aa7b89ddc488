#include <gtest/gtest.h>

#include <google/protobuf/util/json_util.h>

#include <cmath>

#include "ingest/RecordDecoder.h"

namespace gridsentinel::ingest {
namespace {

constexpr int64_t kNow = 1'700'000'000'000;

config::InputTopic topic(config::MessageType m, config::PayloadFormat f = config::PayloadFormat::kProtobuf) {
  return {"t", m == config::MessageType::kInfraMetric ? config::InputKind::kInfra : config::InputKind::kMeter,
          f, m};
}

v1::MeterReading good_reading() {
  v1::MeterReading r;
  r.set_meter_id("MTR-1");
  r.set_event_time_ms(kNow - 1000);
  r.set_voltage_v(231.0);
  r.set_active_power_w(500);
  r.set_power_factor(0.95);
  return r;
}

DeadLetterReason decode_reason(const std::string& bytes, config::InputTopic t,
                               config::Config::Ingest limits = {}) {
  RecordDecoder d(limits, t);
  DecodedRecord out;
  d.decode(bytes, kNow, out);
  EXPECT_EQ(out.rejections.size(), 1u);
  return out.rejections.empty() ? DeadLetterReason::kCount : out.rejections[0].reason;
}

TEST(RecordDecoder, AcceptsAValidReadingInBinaryAndJson) {
  RecordDecoder bin({}, topic(config::MessageType::kMeterReading));
  DecodedRecord out;
  bin.decode(good_reading().SerializeAsString(), kNow, out);
  ASSERT_TRUE(out.rejections.empty());
  ASSERT_EQ(out.meters.readings_size(), 1);
  EXPECT_EQ(out.valid[0], 1);

  RecordDecoder json({}, topic(config::MessageType::kMeterReading, config::PayloadFormat::kJson));
  json.decode(R"({"meterId":"MTR-9","eventTimeMs":"1699999999000","voltageV":229.5})", kNow, out);
  ASSERT_TRUE(out.rejections.empty());
  EXPECT_EQ(out.meters.readings(0).meter_id(), "MTR-9");
  EXPECT_EQ(out.meters.readings(0).voltage_v(), 229.5);
}

TEST(RecordDecoder, EachBadInputClassDecodesToItsReason) {
  const auto meter = topic(config::MessageType::kMeterReading);
  EXPECT_EQ(decode_reason("\xff\xff\xff\x01garbage", meter), DeadLetterReason::kDecodeError);

  v1::InfraMetric infra;
  infra.set_source("host-1");
  infra.set_metric("cpu_utilisation_ratio");
  infra.set_value(0.5);
  infra.set_event_time_ms(kNow);
  EXPECT_EQ(decode_reason(infra.SerializeAsString(), meter), DeadLetterReason::kWrongMessageType);

  auto r = good_reading();
  r.clear_meter_id();
  EXPECT_EQ(decode_reason(r.SerializeAsString(), meter), DeadLetterReason::kMissingId);
  r = good_reading();
  r.set_meter_id(std::string(200, 'x'));
  EXPECT_EQ(decode_reason(r.SerializeAsString(), meter), DeadLetterReason::kIdTooLong);
  r = good_reading();
  r.set_event_time_ms(0);
  EXPECT_EQ(decode_reason(r.SerializeAsString(), meter), DeadLetterReason::kMissingEventTime);
  r = good_reading();
  r.set_voltage_v(std::nan(""));
  EXPECT_EQ(decode_reason(r.SerializeAsString(), meter), DeadLetterReason::kNonFiniteValue);
  r = good_reading();
  r.set_active_power_w(INFINITY);
  EXPECT_EQ(decode_reason(r.SerializeAsString(), meter), DeadLetterReason::kNonFiniteValue);
  r = good_reading();
  r.set_power_factor(1.5);
  EXPECT_EQ(decode_reason(r.SerializeAsString(), meter), DeadLetterReason::kInvalidValue);
  r = good_reading();
  r.set_active_power_w(1e300);  // finite, but no meter's
  EXPECT_EQ(decode_reason(r.SerializeAsString(), meter), DeadLetterReason::kInvalidValue);
  // An interval longer than monthly reads: 4,294,968 s once wrapped to 704 ms in the silence tracker.
  r = good_reading();
  r.set_interval_s(4'294'968);
  EXPECT_EQ(decode_reason(r.SerializeAsString(), meter), DeadLetterReason::kInvalidValue);
  r.set_interval_s(RecordDecoder::kMaxIntervalS);  // monthly: valid
  {
    RecordDecoder d({}, meter);
    DecodedRecord out;
    d.decode(r.SerializeAsString(), kNow, out);
    EXPECT_TRUE(out.rejections.empty());
  }
  r = good_reading();
  r.set_event_time_ms(kNow + 3'600'000);
  EXPECT_EQ(decode_reason(r.SerializeAsString(), meter), DeadLetterReason::kEventTimeInFuture);

  config::Config::Ingest strict;
  strict.max_past_ms = 86'400'000;
  r = good_reading();
  r.set_event_time_ms(kNow - 2 * 86'400'000LL);
  EXPECT_EQ(decode_reason(r.SerializeAsString(), meter, strict), DeadLetterReason::kEventTimeTooOld);

  strict.max_message_bytes = 64;
  EXPECT_EQ(decode_reason(std::string(65, 'a'), meter, strict), DeadLetterReason::kOversized);

  const auto json = topic(config::MessageType::kMeterReading, config::PayloadFormat::kJson);
  EXPECT_EQ(decode_reason("{not json", json), DeadLetterReason::kJsonError);
  EXPECT_EQ(decode_reason(R"({"source":"h","metric":"m","value":1,"eventTimeMs":"1"})", json),
            DeadLetterReason::kWrongMessageType);

  const auto infra_topic = topic(config::MessageType::kInfraMetric);
  auto many = infra;
  for (int i = 0; i < 9; ++i) (*many.mutable_labels())["k" + std::to_string(i)] = "v";
  EXPECT_EQ(decode_reason(many.SerializeAsString(), infra_topic), DeadLetterReason::kTooManyLabels);
  auto nosrc = infra;
  nosrc.clear_source();
  EXPECT_EQ(decode_reason(nosrc.SerializeAsString(), infra_topic), DeadLetterReason::kMissingId);
}

std::string confluent_frame(int32_t schema_id, std::string_view indexes, const std::string& payload) {
  std::string out(1, '\0');
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((schema_id >> shift) & 0xff));
  out.append(indexes);
  return out + payload;
}

// A string field of invalid UTF-8 fails to parse (proto3), and libprotobuf logs it: that message goes into
// the dead letter's detail, not to stderr once per record.
TEST(RecordDecoder, InvalidUtf8IsADecodeErrorThatSaysSoWithoutWritingToStderr) {
  const std::string bytes = std::string("\x0a\x03\xff\xfe\xfd", 5) + std::string("\x18\x01", 2);
  RecordDecoder d({}, topic(config::MessageType::kMeterReading));
  DecodedRecord out;
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 3; ++i) d.decode(bytes, kNow, out);
  const std::string stderr_text = ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(out.rejections.size(), 1u);
  EXPECT_EQ(out.rejections[0].reason, DeadLetterReason::kDecodeError);
  EXPECT_NE(out.rejections[0].detail.find("invalid UTF-8"), std::string::npos) << out.rejections[0].detail;
  EXPECT_EQ(stderr_text, "");
}

TEST(RecordDecoder, AcceptsConfluentSchemaRegistryFraming) {
  const auto t = topic(config::MessageType::kMeterReading, config::PayloadFormat::kConfluentProtobuf);
  RecordDecoder d({}, t);
  DecodedRecord out;
  // A single 0 byte: the message-index path [0] (the first message of the schema).
  d.decode(confluent_frame(42, std::string(1, '\0'), good_reading().SerializeAsString()), kNow, out);
  ASSERT_TRUE(out.rejections.empty()) << out.rejections[0].detail;
  EXPECT_EQ(out.meters.readings(0).meter_id(), "MTR-1");
  // An explicit path [1, 0]: count 2 (zigzag 4), then 1 (zigzag 2) and 0.
  d.decode(confluent_frame(7, std::string("\x04\x02\x00", 3), good_reading().SerializeAsString()), kNow, out);
  EXPECT_TRUE(out.rejections.empty());

  EXPECT_EQ(decode_reason(good_reading().SerializeAsString(), t), DeadLetterReason::kDecodeError)
      << "plain protobuf without the framing is refused";
  EXPECT_EQ(decode_reason(confluent_frame(1, "\x80", ""), t), DeadLetterReason::kDecodeError)
      << "a truncated varint is refused";
  int32_t id = 0;
  std::string why;
  std::string_view v = "\x01\x00\x00\x00\x01\x00";
  EXPECT_FALSE(strip_confluent_framing(v, id, why));
  EXPECT_NE(why.find("magic byte"), std::string::npos);
}

TEST(RecordDecoder, SplitsABatchIntoValidReadingsAndIndexedRejections) {
  v1::MeterReadingBatch batch;
  *batch.add_readings() = good_reading();
  auto bad = good_reading();
  bad.set_voltage_v(-1);
  *batch.add_readings() = bad;
  *batch.add_readings() = good_reading();
  RecordDecoder d({}, topic(config::MessageType::kMeterReadingBatch));
  DecodedRecord out;
  d.decode(batch.SerializeAsString(), kNow, out);
  ASSERT_EQ(out.meters.readings_size(), 3);
  EXPECT_EQ(out.valid, (std::vector<uint8_t>{1, 0, 1}));
  ASSERT_EQ(out.rejections.size(), 1u);
  EXPECT_EQ(out.rejections[0].batch_index, 1);
  EXPECT_EQ(out.rejections[0].reason, DeadLetterReason::kInvalidValue);

  // A reading inside the batch written with another schema (a field this one does not know) is caught too.
  auto other_schema = batch;
  auto* nested = other_schema.mutable_readings(1);
  nested->GetReflection()->MutableUnknownFields(nested)->AddVarint(99, 1);
  EXPECT_EQ(decode_reason(other_schema.SerializeAsString(), topic(config::MessageType::kMeterReadingBatch)),
            DeadLetterReason::kWrongMessageType);

  config::Config::Ingest small;
  small.max_batch_readings = 2;
  EXPECT_EQ(decode_reason(batch.SerializeAsString(), topic(config::MessageType::kMeterReadingBatch), small),
            DeadLetterReason::kBatchTooLarge);
}

TEST(RecordDecoder, EveryReasonHasANameAndAStage) {
  for (int i = 0; i < static_cast<int>(DeadLetterReason::kCount); ++i) {
    const auto r = static_cast<DeadLetterReason>(i);
    EXPECT_STRNE(reason_name(r), "unknown");
    EXPECT_TRUE(std::string(reason_stage(r)) == "decode" || std::string(reason_stage(r)) == "validate" ||
                std::string(reason_stage(r)) == "features");
  }
}

}  // namespace
}  // namespace gridsentinel::ingest
