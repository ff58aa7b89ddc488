// Stream threads: one process running `kafka.stream_threads: 2` (pipeline/StreamThreads.h) over an
// 8-partition topic on a mock cluster created here. The two threads are two members of the group, so the
// alerts topic must hold exactly the per-entity alerts of one uninterrupted in-memory run (redeliveries
// around the second thread's join only as exact duplicates), every offset must be committed, and the
// process-level metrics and health must add the threads up: partitions, entities, records.
#include <gtest/gtest.h>

#include <iostream>
#include <map>
#include <set>

#include "TestSupport.h"
#include "pipeline/StreamThreads.h"

namespace gridsentinel {
namespace {

constexpr int kPartitions = 8;

double metric_value(const std::string& scrape, const std::string& series) {
  const auto at = scrape.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(scrape.substr(at + series.size() + 2));
}

TEST(StreamThreads, TwoThreadsShareThePartitionsLoseNothingAndAddUpInMetrics) {
  kafka::MockCluster cluster(1);
  const std::string group = "gs-threads";
  for (const std::string t : {"meter-readings", "gs-threads-meter-readings-changelog", "gridsentinel-alerts",
                              "gridsentinel-dead-letters", "gridsentinel-meter-risk"})
    cluster.create_topic(t, kPartitions);
  const std::string bootstrap = cluster.bootstrap_servers();
  const config::Config cfg = config::parse_config(R"(
kafka:
  group_id: gs-threads
  stream_threads: 2
  consumer_properties: {session.timeout.ms: "6000", heartbeat.interval.ms: "500"}
topics:
  inputs: [{name: meter-readings, kind: meter, format: protobuf, message: MeterReading}]
state:
  checkpoint_interval: 1s
)",
                                                  "(test)");
  ASSERT_EQ(cfg.kafka.stream_threads, 2u);
  const auto per_thread = pipeline::stream_thread_config(cfg, 2);
  EXPECT_EQ(per_thread.limits.max_entities, (cfg.limits.max_entities + 1) / 2);

  // 150 meters x 4 days of 15-minute readings with random anomalies, in event-time order.
  const auto records = testing::simulated_readings(150, 4 * 96, 0.3, 31);
  const auto expected = testing::expected_alert_ids(cfg, records);
  ASSERT_GT(expected.size(), 20u);

  sinks::Metrics metrics({"meter-readings"}, pipeline::Processor::detector_names());
  sinks::HealthState health;
  sinks::MetricsServer server("127.0.0.1:0", metrics.registry(), &health);
  std::atomic<bool> stop{false};
  int rc = -1;
  std::thread process([&] { rc = pipeline::run_stream_threads(cfg, bootstrap, metrics, &health, stop); });

  // Produced while both threads join, so that records flow through the rebalance.
  testing::CountingProducer in(bootstrap);
  for (const auto& r : records) in.send(r.topic, r.key, r.value);
  ASSERT_TRUE(in.flush());
  const auto n = static_cast<int64_t>(records.size());
  const int64_t committed = testing::wait_committed(bootstrap, group, {"meter-readings"}, kPartitions, n,
                                                    std::chrono::seconds(120));
  EXPECT_EQ(committed, n);

  // The process's view: every partition assigned across the two threads, every meter tracked once. A
  // rebalance may still be settling (the mock broker holds one open for up to the session timeout when a
  // thread's join missed the first generation): the sums must hold once it has.
  const auto settled = [&] {
    const std::string m = testing::http_get(server.port(), "/metrics");
    return health.assigned_partitions.load() == kPartitions &&
           metric_value(m, "gridsentinel_active_entities{kind=\"meter\"}") == 150 &&
           metric_value(m, "gridsentinel_inflight_records") == 0;
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!settled() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  int status = 0;
  EXPECT_EQ(testing::http_get(server.port(), "/readyz", &status), "ok\n");
  EXPECT_EQ(health.loops.load(), 2);
  EXPECT_GT(health.loop_heartbeat_ms[0].load(), 0);
  EXPECT_GT(health.loop_heartbeat_ms[1].load(), 0);
  EXPECT_EQ(health.assigned_partitions.load(), kPartitions);
  const std::string scrape = testing::http_get(server.port(), "/metrics");
  EXPECT_EQ(metric_value(scrape, "gridsentinel_assigned_partitions"), kPartitions);
  EXPECT_EQ(metric_value(scrape, "gridsentinel_active_entities{kind=\"meter\"}"), 150);
  EXPECT_GE(metric_value(scrape, "gridsentinel_records_consumed_total{topic=\"meter-readings\"}"),
            static_cast<double>(n));
  EXPECT_EQ(metric_value(scrape, "gridsentinel_inflight_records"), 0);

  stop = true;
  process.join();
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(health.assigned_partitions.load(), 0);

  std::map<std::string, std::string> content_by_id;
  size_t duplicates = 0, mismatched = 0;
  std::set<std::string> got;
  for (auto a : testing::read_alerts(
           bootstrap, "gridsentinel-alerts", [](const std::vector<v1::Alert>&) { return false; },
           std::chrono::seconds(6))) {
    if (!testing::per_entity_alert(a)) continue;
    a.clear_detection_time_ms();
    const auto [it, fresh] = content_by_id.try_emplace(a.alert_id(), a.SerializeAsString());
    if (!fresh) {
      ++duplicates;
      if (it->second != a.SerializeAsString()) ++mismatched;
    }
    got.insert(a.alert_id());
  }
  std::cout << "stream threads: " << n << " readings, 2 threads; per-entity alerts " << expected.size()
            << " expected, " << got.size() << " published (" << duplicates << " redelivered duplicates)\n";
  EXPECT_EQ(got, expected);
  EXPECT_EQ(mismatched, 0u);
}

}  // namespace
}  // namespace gridsentinel
