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
  // The README's third format (RecordDecoder reads its framing); the parser once refused it.
  EXPECT_EQ(parse_config("topics: {inputs: [{name: sr, kind: meter, format: confluent_protobuf}]}", "test")
                .topics.inputs.at(0)
                .format,
            PayloadFormat::kConfluentProtobuf);
  EXPECT_EQ(c.topics.inputs.at(0).message, MessageType::kMeterReadingBatch);
  EXPECT_EQ(c.meter.allowed_lateness_ms, 1'800'000);
  EXPECT_EQ(c.meter.cooldown_ms, 7'200'000);
  ASSERT_EQ(c.meter.zscore.size(), 1u);
  EXPECT_EQ(c.meter.zscore[0].params.window_ms, 6 * 3'600'000);
  EXPECT_EQ(c.meter.zscore[0].params.threshold, 4.5);
}

TEST(Config, ErrorsNameTheKey) {
  EXPECT_NE(error_of("state: {checkpoint_interval: 999999999999d}").find("state.checkpoint_interval"),
            std::string::npos);
  EXPECT_NE(error_of("kafka: {consumer_properties: {partition.assignment.strategy: cooperative-sticky}}")
                .find("kafka.consumer_properties.partition.assignment.strategy"),
            std::string::npos);
  EXPECT_NE(error_of("kafka: {grup_id: x}").find("kafka.grup_id: unknown key"), std::string::npos);
  EXPECT_NE(error_of("detectors: {cooldown: {meter: 5 minutes}}").find("detectors.cooldown.meter"),
            std::string::npos);
  EXPECT_NE(
      error_of("detectors: {zscore: {meter: [{feature: volts}]}}").find("detectors.zscore.meter[0].feature"),
      std::string::npos);
  EXPECT_NE(error_of("embedded: {partitions: -3}").find("embedded.partitions"), std::string::npos);
  EXPECT_NE(error_of("ingest: {max_message_bytes: lots}").find("ingest.max_message_bytes"),
            std::string::npos);
  EXPECT_NE(
      error_of("topics: {inputs: [{name: x, kind: infra, message: MeterReading}]}").find("topics.inputs[0]"),
      std::string::npos);
  EXPECT_NE(error_of("log: {json: maybe}").find("log.json"), std::string::npos);
  EXPECT_NE(error_of("ingest: {max_future: 0s}").find("ingest.max_future"), std::string::npos);
  EXPECT_NE(error_of("a: [").find("not valid YAML"), std::string::npos);
}

TEST(Config, DetectorSuiteKeysAreReadAndValidated) {
  const Config c = parse_config(R"(
detectors:
  iqr: {meter: {k: 5, window: 2d}, infra: {enabled: false}}
  spike: {meter: {threshold: 9, level_shift_alerts: true}}
  iforest: {meter: {trees: 50, contamination: 0.01, window_span: 30m}}
  drift: {meter: {alpha: 0.001, cycle: 12h}}
rules: {nominal_voltage_v: 120, exporting_meter_prefixes: [PV-], missing_after_intervals: 4}
risk: {ml_weight: 0.6, rules_weight: 0.4}
topics: {risk: risk-out}
)");
  EXPECT_EQ(c.meter.iqr.k, 5);
  EXPECT_EQ(c.meter.iqr.window_ms, 2 * 86'400'000LL);
  EXPECT_FALSE(c.infra.iqr_enabled);
  EXPECT_EQ(c.meter.spike.threshold, 9);
  EXPECT_TRUE(c.meter.level_shift_alerts);
  EXPECT_EQ(c.meter.iforest.n_trees, 50u);
  EXPECT_EQ(c.meter.iforest_window_span_ms, 1'800'000);
  EXPECT_EQ(c.infra.iforest_window_span_ms, 0) << "off by default";
  EXPECT_EQ(c.meter.drift_cycle_ms, 12 * 3'600'000LL);
  EXPECT_EQ(c.rules.nominal_voltage_v, 120);
  ASSERT_EQ(c.rules.exporting_meter_prefixes.size(), 1u);
  EXPECT_EQ(c.silence.missing_after_intervals, 4u);
  EXPECT_EQ(c.risk.ml_weight, 0.6);
  EXPECT_EQ(c.topics.risk, "risk-out");
  EXPECT_NE(error_of("detectors: {iforest: {meter: {contamination: 0.9}}}")
                .find("detectors.iforest.meter.contamination"),
            std::string::npos);
  // 4096 trees of 2^20 points would need 8.6e9 nodes: more than 32-bit node indices address.
  EXPECT_NE(error_of("detectors: {iforest: {meter: {trees: 4096, window: 1048576, subsample: 1048576, "
                     "min_points: 1048576}}}")
                .find("detectors.iforest.meter.subsample"),
            std::string::npos);
  EXPECT_NE(error_of("detectors: {iforest: {meter: {window_span: 500ms}}}")
                .find("detectors.iforest.meter.window_span"),
            std::string::npos);
  EXPECT_NE(error_of("detectors: {spike: {meter: {treshold: 3}}}")
                .find("detectors.spike.meter.treshold: unknown key"),
            std::string::npos);
  EXPECT_NE(error_of("rules: {sag_ratio: 1.5}").find("rules"), std::string::npos);
  // A list item that is not a string is an error naming the key, not a YAML library exception.
  EXPECT_NE(
      error_of("rules: {exporting_meter_prefixes: [PV-, {a: 1}]}").find("rules.exporting_meter_prefixes"),
      std::string::npos);
  // The sketch has at most 256 buckets: more is refused rather than silently clamped.
  EXPECT_NE(error_of("detectors: {iqr: {meter: {sketch_buckets: 257}}}")
                .find("detectors.iqr.meter.sketch_buckets: value 257 is out of range (0..256)"),
            std::string::npos);
  EXPECT_EQ(error_of("detectors: {iqr: {meter: {sketch_buckets: 256}}}"), "");
  // An entity saves its z-score count in one byte: more than 255 features are refused.
  const auto zscores = [](int n) {
    std::string y = "detectors: {zscore: {infra: [";
    for (int i = 0; i < n; ++i) y += std::string(i ? ", " : "") + "{feature: value}";
    return y + "]}}";
  };
  EXPECT_NE(error_of(zscores(256)).find("detectors.zscore.infra"), std::string::npos);
  EXPECT_EQ(error_of(zscores(255)), "");
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
