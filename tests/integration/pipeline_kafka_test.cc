// The whole data path on the real Kafka protocol: readings with known anomalies and malformed records in,
// alerts and dead letters out, offsets committed, and a real scrape of /metrics checked by promtool.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <thread>

#include "TestSupport.h"
#include "config/Config.h"
#include "gridsentinel/v1/alert.pb.h"
#include "kafka/KafkaClients.h"
#include "pipeline/KafkaRunner.h"
#include "sim/FleetSimulator.h"
#include "sinks/Metrics.h"

namespace gridsentinel {
namespace {

using testing::consume_until;
using testing::OwnedRecord;

constexpr int kPartitions = 4;

config::Config test_config(const std::string& bootstrap) {
  config::Config c = config::parse_config(R"(
topics:
  inputs:
    - {name: meter-readings, kind: meter, format: protobuf, message: MeterReading}
    - {name: meter-readings-json, kind: meter, format: json, message: MeterReading}
    - {name: infra-metrics, kind: infra}
ingest:
  max_message_bytes: 4096
metrics:
  bind: 127.0.0.1:0
)");
  c.kafka.bootstrap_servers = bootstrap;
  c.kafka.group_id = "gridsentinel-it";
  return c;
}

struct Expected {
  std::string meter_id, feature, type;
  int64_t start_ms, end_ms;
};

TEST(PipelineOnKafka, KnownAnomaliesAlertMalformedRecordsDeadLetterOffsetsCommitMetricsScrape) {
  kafka::MockCluster cluster(1);
  for (const char* t : {"meter-readings", "meter-readings-json", "infra-metrics", "gridsentinel-alerts",
                        "gridsentinel-dead-letters"})
    cluster.create_topic(t, kPartitions);
  const std::string bootstrap = cluster.bootstrap_servers();
  const config::Config cfg = test_config(bootstrap);

  // --- Input: 30 meters, 4 days of 15-minute readings, three scheduled anomalies, no random ones.
  sim::SimulatorConfig sc;
  sc.seed = 7;
  sc.num_meters = 30;
  sc.max_ticks = 4 * 96;
  sc.exporter_fraction = 0;
  sc.anomalies_per_meter_day = 0;
  const int64_t day = 86'400'000;
  const int64_t t0 = sc.start_time_ms;
  sc.schedule = {{sim::MeterAnomalyType::kSpike, 2, t0 + 3 * day + 40 * 900'000, 1},
                 {sim::MeterAnomalyType::kVoltageSag, 6, t0 + 3 * day + 10 * 900'000, 2},
                 {sim::MeterAnomalyType::kVoltageSwell, 10, t0 + 2 * day + 60 * 900'000, 2}};
  const std::vector<Expected> expected = {
      {"MTR-000003", "active_power_w", "high_value", t0 + 3 * day + 40 * 900'000,
       t0 + 3 * day + 40 * 900'000},
      {"MTR-000007", "voltage_v", "low_value", t0 + 3 * day + 10 * 900'000, t0 + 3 * day + 11 * 900'000},
      {"MTR-000011", "voltage_v", "high_value", t0 + 2 * day + 60 * 900'000, t0 + 2 * day + 61 * 900'000}};
  sim::FleetSimulator fleet(sc);
  testing::CountingProducer in(bootstrap);
  std::vector<v1::MeterReading> tick;
  std::string buf;
  uint64_t readings = 0;
  while (fleet.next_tick(tick)) {
    for (const auto& r : tick) {
      in.send("meter-readings", r.meter_id(), r.SerializeAsString());
      ++readings;
    }
  }

  // --- Malformed input, one per class. Each expected dead letter: reason -> source topic.
  std::multiset<std::pair<std::string, std::string>> expected_dead;
  auto bad = [&](const std::string& topic, const std::string& key, const std::string& value,
                 const std::string& reason) {
    in.send(topic, key, value);
    expected_dead.emplace(reason, topic);
  };
  v1::MeterReading good;
  good.set_meter_id("MTR-000001");
  good.set_event_time_ms(t0 + 4 * day);
  good.set_voltage_v(230);
  bad("meter-readings", "k1", "\xff\xff\xff\x01not-protobuf", "decode_error");
  v1::InfraMetric infra;
  infra.set_source("host");
  infra.set_metric("cpu");
  infra.set_value(1);
  infra.set_event_time_ms(t0);
  bad("meter-readings", "k2", infra.SerializeAsString(), "wrong_message_type");
  auto r = good;
  r.clear_meter_id();
  bad("meter-readings", "k3", r.SerializeAsString(), "missing_id");
  r = good;
  r.set_voltage_v(std::nan(""));
  bad("meter-readings", "k4", r.SerializeAsString(), "non_finite_value");
  r = good;
  r.set_event_time_ms(4'000'000'000'000);  // year 2096
  bad("meter-readings", "k5", r.SerializeAsString(), "event_time_in_future");
  bad("meter-readings", "k6", std::string(5000, 'x'), "oversized");
  // Nearly as large as a producer may send (librdkafka's default message.max.bytes is 1,000,000): whole, its
  // dead letter would not fit that limit, could never be produced, and held the record's offset back for
  // ever (the loop retried it without end). Cut, it is delivered.
  bad("meter-readings", "k6-large", std::string(999'900, 'y'), "oversized");
  r = good;
  r.set_power_factor(3);
  bad("meter-readings", "k7", r.SerializeAsString(), "invalid_value");
  r = good;
  r.set_event_time_ms(t0 +
                      day);  // three days older than MTR-000001's newest reading, same partition (same key)
  bad("meter-readings", "MTR-000001", r.SerializeAsString(), "late_event");
  bad("meter-readings-json", "k9", "{\"meterId\": ", "json_error");
  auto no_source = infra;
  no_source.clear_source();
  bad("infra-metrics", "k10", no_source.SerializeAsString(), "missing_id");
  // A reading pushed by hand as JSON (what kcat would send) is processed, not dead-lettered.
  in.send("meter-readings-json", "MTR-000999",
          R"({"meterId":"MTR-000999","eventTimeMs":"1704067200000","voltageV":231})");
  ASSERT_TRUE(in.flush());
  const uint64_t total_records = in.sent();

  // --- Run gridsentinel until everything is consumed and acknowledged, then shut down cleanly.
  std::vector<std::string> inputs;
  for (const auto& t : cfg.topics.inputs) inputs.push_back(t.name);
  sinks::Metrics metrics(inputs, pipeline::Processor::detector_names());
  sinks::MetricsServer server("127.0.0.1:0", metrics.registry());
  std::atomic<bool> stop{false};
  int rc = -1;
  auto runner = std::make_unique<pipeline::KafkaRunner>(cfg, bootstrap, metrics);
  std::thread th([&] { rc = runner->run(stop); });
  auto consumed = [&] {
    double n = 0;
    for (const auto& t : inputs) n += metrics.records_consumed(t).Value();
    return n;
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while (consumed() < static_cast<double>(total_records) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_EQ(consumed(), static_cast<double>(total_records));

  // Scrape while running.
  const std::string scrape = testing::http_get(server.port(), "/metrics");
  stop = true;
  th.join();
  runner.reset();
  EXPECT_EQ(rc, 0);

  // --- Alerts: each injected anomaly alerted with the right entity, feature and type, inside its window.
  const auto alert_records = consume_until(
      bootstrap, "gridsentinel-alerts", [](const auto&) { return false; }, std::chrono::seconds(8));
  std::vector<v1::Alert> alerts;
  for (const auto& rec : alert_records) {
    v1::Alert a;
    ASSERT_TRUE(a.ParseFromString(rec.value));
    EXPECT_EQ(rec.key, a.entity_id()) << "alerts are keyed by entity id";
    EXPECT_EQ(a.alert_id().size(), 32u);
    EXPECT_GE(a.score(), 0.5);
    EXPECT_LE(a.score(), 1.0);
    EXPECT_FALSE(a.explanation().empty());
    EXPECT_GT(a.features_size(), 0);
    alerts.push_back(a);
  }
  for (const auto& e : expected) {
    bool found = false;
    for (const auto& a : alerts)
      found |= a.entity_id() == e.meter_id && a.feature() == e.feature && a.anomaly_type() == e.type &&
               a.event_time_ms() >= e.start_ms && a.event_time_ms() <= e.end_ms;
    EXPECT_TRUE(found) << "no " << e.type << " alert on " << e.feature << " for " << e.meter_id;
  }
  std::map<std::string, int> by_detector;
  for (const auto& a : alerts)
    ++by_detector[a.detector() + "/" + a.anomaly_type() +
                  (a.detector() == "ks_drift" ? "/" + a.feature() : "")];
  for (const auto& [k, n] : by_detector) std::cout << "alerts " << k << ": " << n << "\n";
  if (std::getenv("GS_DEBUG_ALERTS"))
    for (const auto& a : alerts)
      std::cout << "alert " << a.entity_id() << " " << a.event_time_ms() << " " << a.detector() << " "
                << a.explanation() << "\n";
  // False alarms on clean meters: per-meter alerts outside the injected windows (fleet drift alerts aside).
  size_t meter_alerts_outside = 0;
  for (const auto& a : alerts) {
    if (a.entity_kind() != v1::ENTITY_KIND_METER) continue;
    bool injected = false;
    for (const auto& e : expected)
      injected |=
          a.entity_id() == e.meter_id && a.event_time_ms() >= e.start_ms && a.event_time_ms() <= e.end_ms;
    meter_alerts_outside += injected ? 0 : 1;
  }
  std::cout << "per-meter alerts outside injected windows: " << meter_alerts_outside << " of " << readings
            << " readings\n";
  EXPECT_LT(meter_alerts_outside, readings / 500) << "false alarms should be rare";

  // --- Dead letters: each malformed record, with its reason, stage, source and original bytes.
  const auto dead = consume_until(
      bootstrap, "gridsentinel-dead-letters", [&](const auto& v) { return v.size() >= expected_dead.size(); },
      std::chrono::seconds(30));
  std::multiset<std::pair<std::string, std::string>> got_dead;
  for (const auto& rec : dead) {
    v1::DeadLetter dl;
    ASSERT_TRUE(dl.ParseFromString(rec.value));
    got_dead.emplace(dl.reason(), dl.source_topic());
    EXPECT_FALSE(dl.stage().empty());
    EXPECT_FALSE(dl.detail().empty());
    EXPECT_GE(dl.source_offset(), 0);
    EXPECT_EQ(rec.key, dl.original_key());
    if (dl.reason() == "late_event") {
      EXPECT_EQ(dl.original_key(), "MTR-000001");
    }
    if (dl.reason() == "oversized" && dl.original_key() == "k6") {
      EXPECT_EQ(dl.original_value(), std::string(5000, 'x'));
      EXPECT_EQ(dl.original_value_bytes(), 5000);
      EXPECT_EQ(dl.original_key_bytes(), 2);
    }
    if (dl.reason() == "oversized" && dl.original_key() == "k6-large") {
      EXPECT_EQ(dl.original_value(), std::string(pipeline::Processor::kMaxDeadLetterValueBytes, 'y'));
      EXPECT_EQ(dl.original_value_bytes(), 999'900);
      EXPECT_NE(dl.detail().find("original cut to the first 786432 of 999900 value bytes"), std::string::npos)
          << dl.detail();
      EXPECT_LT(rec.value.size(), size_t{1'000'000});
    }
  }
  EXPECT_EQ(got_dead, expected_dead);

  // --- Offsets: committed up to the end of every input partition (partitions that got no record have none).
  // Read by a client that does not join the group, retried: once in CI a fetch by a checker that subscribed
  // in the group ran into its 10 s timeout on the loaded machine and read as nothing committed.
  const int64_t committed_total =
      testing::wait_committed(bootstrap, cfg.kafka.group_id, inputs, kPartitions,
                              static_cast<int64_t>(total_records), std::chrono::seconds(30));
  EXPECT_EQ(committed_total, static_cast<int64_t>(total_records));

  // --- Metrics: the counts, in valid exposition format.
  ASSERT_FALSE(scrape.empty());
  EXPECT_NE(scrape.find("gridsentinel_dead_letters_total{reason=\"decode_error\"} 1"), std::string::npos);
  EXPECT_NE(scrape.find("gridsentinel_dead_letters_total{reason=\"missing_id\"} 2"), std::string::npos);
  EXPECT_NE(scrape.find("gridsentinel_records_consumed_total{topic=\"meter-readings\"} " +
                        std::to_string(readings + 9)),  // and the 9 malformed ones
            std::string::npos);
  // Alerts by detector and anomaly type: the z-score detector's alerts counted under their own type.
  EXPECT_TRUE(
      std::regex_search(scrape, std::regex("\ngridsentinel_alerts_total\\{anomaly_type=\"(high|low)_value\","
                                           "detector=\"zscore\",severity=\"\\w+\"\\} [1-9]")))
      << scrape;
  EXPECT_NE(scrape.find("gridsentinel_active_entities{kind=\"meter\"} 31"), std::string::npos);
  EXPECT_EQ(scrape.find("MTR-"), std::string::npos) << "meter ids must never be label values";
  const std::string path = ::testing::TempDir() + "/scrape.txt";
  std::ofstream(path) << scrape;
  std::string out;
  EXPECT_EQ(testing::run_command("promtool check metrics < " + path, &out), 0) << out;
}

}  // namespace
}  // namespace gridsentinel
