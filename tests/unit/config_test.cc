#include <gtest/gtest.h>

#include "config/Config.h"

namespace gridsentinel::config {
namespace {

std::string error_of(const std::string& yaml) {
  try {
    parse_config(yaml);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(Config, EmptyFileGivesDefaults) {
  const Config c = parse_config("");
  EXPECT_TRUE(c.kafka.bootstrap_servers.empty());
  ASSERT_EQ(c.topics.inputs.size(), 3u);
  EXPECT_EQ(c.topics.inputs[0].name, "meter-readings");
  EXPECT_EQ(c.meter.zscore.size(), 2u);
}

TEST(Config, ParsesDurationsAndTopics) {
  const Config c = parse_config(R"(
kafka: {bootstrap_servers: "b:9092", properties: {security.protocol: SASL_SSL}}
topics:
  inputs:
    - {name: raw, kind: meter, format: json, message: MeterReadingBatch}
features:
  meter: {allowed_lateness: 30m}
detectors:
  cooldown: {meter: 2h}
  zscore:
    meter: [{feature: voltage_v, window: 6h, buckets: 12, threshold: 4.5}]
)");
  EXPECT_EQ(c.kafka.properties.at("security.protocol"), "SASL_SSL");
  EXPECT_EQ(c.topics.inputs.at(0).format, PayloadFormat::kJson);
  EXPECT_EQ(c.topics.inputs.at(0).message, MessageType::kMeterReadingBatch);
  EXPECT_EQ(c.meter.allowed_lateness_ms, 1'800'000);
  EXPECT_EQ(c.meter.cooldown_ms, 7'200'000);
  ASSERT_EQ(c.meter.zscore.size(), 1u);
  EXPECT_EQ(c.meter.zscore[0].params.window_ms, 6 * 3'600'000);
  EXPECT_EQ(c.meter.zscore[0].params.threshold, 4.5);
}

TEST(Config, ErrorsNameTheKey) {
  EXPECT_NE(error_of("kafka: {grup_id: x}").find("kafka.grup_id: unknown key"), std::string::npos);
  EXPECT_NE(error_of("detectors: {cooldown: {meter: 5 minutes}}").find("detectors.cooldown.meter"), std::string::npos);
  EXPECT_NE(error_of("detectors: {zscore: {meter: [{feature: volts}]}}").find("detectors.zscore.meter[0].feature"),
            std::string::npos);
  EXPECT_NE(error_of("embedded: {partitions: -3}").find("embedded.partitions"), std::string::npos);
  EXPECT_NE(error_of("ingest: {max_message_bytes: lots}").find("ingest.max_message_bytes"), std::string::npos);
  EXPECT_NE(error_of("topics: {inputs: [{name: x, kind: infra, message: MeterReading}]}").find("topics.inputs[0]"),
            std::string::npos);
  EXPECT_NE(error_of("log: {json: maybe}").find("log.json"), std::string::npos);
  EXPECT_NE(error_of("a: [").find("not valid YAML"), std::string::npos);
}

TEST(Config, DurationsNeedAUnit) {
  EXPECT_EQ(parse_duration_ms("500ms", "k"), 500);
  EXPECT_EQ(parse_duration_ms("7d", "k"), 7 * 86'400'000LL);
  EXPECT_THROW(parse_duration_ms("15", "k"), ConfigError);
  EXPECT_THROW(parse_duration_ms("-1s", "k"), ConfigError);
  EXPECT_THROW(parse_duration_ms("1.5h", "k"), ConfigError);
}

TEST(Config, SecretPropertiesAreRecognised) {
  EXPECT_TRUE(is_secret_property("sasl.password"));
  EXPECT_TRUE(is_secret_property("ssl.key.password"));
  EXPECT_FALSE(is_secret_property("sasl.username"));
}

}  // namespace
}  // namespace gridsentinel::config
