// Scale-out and crashes: three `gridsentinel run` processes in one consumer group over an 8-partition topic
// on a mock cluster created here, readings produced while they run, and one instance killed with SIGKILL at
// random moments and started again. Partitions move with their state (the changelog), so the alerts topic
// must end up holding exactly the per-entity and missing-readings alerts of one uninterrupted in-memory run:
// every anomaly and silence alerted at least once, redeliveries only as exact duplicates (same id, same
// content; for a silence, but for how long the meter had been silent when it was found), and no meter
// alerting anew for an anomaly it had already reported (that would be an id the uninterrupted run does not
// have).
//
// GS_KILL_ROUNDS (default 3) sets the number of kills; the issue's run is GS_KILL_ROUNDS=10. Figures printed.
#include <gtest/gtest.h>

#include <csignal>
#include <iostream>
#include <map>
#include <random>
#include <set>

#include "TestSupport.h"

namespace gridsentinel {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kPartitions = 8;
constexpr int kInstances = 3;

std::string write_config(const std::string& group, int stream_threads) {
  const std::string path = ::testing::TempDir() + "/scale_out_" + group + ".yaml";
  std::ofstream(path) << "kafka:\n  group_id: " << group << "\n  stream_threads: " << stream_threads << R"(
  consumer_properties: {session.timeout.ms: "6000", heartbeat.interval.ms: "500"}
topics:
  inputs: [{name: meter-readings, kind: meter, format: protobuf, message: MeterReading}]
state:
  checkpoint_interval: 1s
metrics: {bind: "127.0.0.1:0"}
)";
  return path;
}

struct Instance {
  pid_t pid = -1;
  std::string log;
  void start(const std::string& config, const std::string& bootstrap, const std::string& log_path) {
    log = log_path;
    pid =
        testing::spawn_process({GS_BINARY, "run", "--config", config, "--bootstrap-servers", bootstrap}, log);
  }
  void kill9() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      testing::wait_exit(pid, std::chrono::seconds(5));
      pid = -1;
    }
  }
  int term() {
    if (pid <= 0) return 0;
    ::kill(pid, SIGTERM);
    const int rc = testing::wait_exit(pid, std::chrono::seconds(20));
    if (rc == -1) ::kill(pid, SIGKILL);
    pid = -1;
    return rc;
  }
  ~Instance() {
    if (pid > 0) ::kill(pid, SIGKILL);
  }
};

void kill_and_restart_instances(int stream_threads) {
  const int rounds = std::getenv("GS_KILL_ROUNDS") ? std::atoi(std::getenv("GS_KILL_ROUNDS")) : 3;
  kafka::MockCluster cluster(1);
  const std::string group = "gs-scale-" + std::to_string(stream_threads);
  for (const std::string& t :
       std::vector<std::string>{"meter-readings", group + "-meter-readings-changelog", "gridsentinel-alerts",
                                "gridsentinel-dead-letters", "gridsentinel-meter-risk"})
    cluster.create_topic(t, kPartitions);
  const std::string bootstrap = cluster.bootstrap_servers();
  const std::string config_path = write_config(group, stream_threads);
  config::Config cfg = config::load_config_file(config_path);

  // 200 meters x 6 days of 15-minute readings with random anomalies, in event-time order.
  const auto records = testing::simulated_readings(200, 6 * 96, 0.3, 23);
  std::map<std::string, v1::Alert> expected_alerts;
  const auto expected = testing::expected_alert_ids(cfg, records, nullptr, &expected_alerts,
                                                    testing::per_entity_or_silence_alert);
  ASSERT_GT(expected.size(), 50u);

  std::array<Instance, kInstances> gs;
  for (int i = 0; i < kInstances; ++i)
    gs[i].start(config_path, bootstrap,
                ::testing::TempDir() + "/scale_out_" + group + "_" + std::to_string(i) + ".log");

  // Produce at a steady pace over the run, so that kills land while records are flowing.
  const auto t0 = Clock::now();
  const double run_s = 8.0 + 6.0 * rounds;
  std::atomic<size_t> produced{0};
  std::thread producer([&] {
    testing::CountingProducer in(bootstrap);
    for (size_t i = 0; i < records.size(); ++i) {
      const double due = run_s * 0.8 * static_cast<double>(i) / static_cast<double>(records.size());
      while (testing::seconds_since(t0) < due) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      in.send(records[i].topic, records[i].key, records[i].value);
      produced = i + 1;
    }
    EXPECT_TRUE(in.flush());
  });

  std::mt19937 rng(static_cast<uint32_t>(std::chrono::system_clock::now().time_since_epoch().count()));
  std::vector<std::string> kills;
  for (int round = 0; round < rounds; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(3000 + rng() % 4000));
    const int victim = static_cast<int>(rng() % kInstances);
    kills.push_back(std::to_string(victim) + "@" + std::to_string(testing::seconds_since(t0)).substr(0, 5) +
                    "s/" + std::to_string(produced.load()));
    gs[victim].kill9();
    gs[victim].start(config_path, bootstrap,
                     ::testing::TempDir() + "/scale_out_" + group + "_" + std::to_string(victim) + "_" +
                         std::to_string(round) + ".log");
  }
  producer.join();

  // Everything consumed and committed, then a clean stop of all three.
  const int64_t committed =
      testing::wait_committed(bootstrap, group, {"meter-readings"}, kPartitions,
                              static_cast<int64_t>(records.size()), std::chrono::seconds(180));
  const double drained_s = testing::seconds_since(t0);
  for (auto& g : gs) EXPECT_EQ(g.term(), 0);
  // Every reading's offset committed: a partition that resumed at its checkpointed position and received
  // nothing after must not keep the group's older offset (it once did: 54,484 of 114,843 committed).
  EXPECT_EQ(committed, static_cast<int64_t>(records.size()));

  std::map<std::string, std::string> content_by_id;  // alert id -> the alert without detection time
  size_t total = 0, duplicates = 0, mismatched = 0;
  const auto alerts = testing::read_alerts(
      bootstrap, "gridsentinel-alerts", [&](const std::vector<v1::Alert>&) { return false; },
      std::chrono::seconds(8));
  std::set<std::string> got;
  for (auto a : alerts) {
    if (!testing::per_entity_or_silence_alert(a)) continue;
    ++total;
    a.clear_detection_time_ms();
    if (a.anomaly_type() == "missing_readings") {  // how long the meter had been silent when it was found
      a.clear_observed_value();
      a.clear_explanation();
      a.clear_features();
    }
    const std::string content = a.SerializeAsString();
    const auto [it, fresh] = content_by_id.try_emplace(a.alert_id(), content);
    if (!fresh) {
      ++duplicates;
      if (it->second != content) {
        ++mismatched;
        v1::Alert first;
        first.ParseFromString(it->second);
        std::cout << "differing duplicate:\n  " << first.ShortDebugString() << "\n  " << a.ShortDebugString()
                  << "\n";
      }
    }
    got.insert(a.alert_id());
  }
  std::vector<std::string> missing, extra;
  std::set_difference(expected.begin(), expected.end(), got.begin(), got.end(), std::back_inserter(missing));
  std::set_difference(got.begin(), got.end(), expected.begin(), expected.end(), std::back_inserter(extra));
  std::cout << "scale-out: " << records.size() << " readings, " << kInstances << " instances of "
            << stream_threads << " stream thread(s), " << rounds << " kills (instance@time/produced:";
  for (const auto& k : kills) std::cout << " " << k;
  std::cout << "), drained in " << drained_s
            << " s; per-entity and missing-readings alerts: " << expected.size() << " expected, "
            << got.size() << " distinct published, " << total << " messages (" << duplicates
            << " redelivered duplicates, " << mismatched << " with differing content), " << missing.size()
            << " missing, " << extra.size() << " re-alerts; committed offsets " << committed << " of "
            << records.size() << "\n";
  EXPECT_TRUE(missing.empty()) << missing.size() << " alerts lost";
  EXPECT_TRUE(extra.empty()) << extra.size() << " alerts an uninterrupted run would not raise (re-alerts)";
  for (const auto& id : missing) {  // what was missed, to diagnose a failure
    const auto& a = expected_alerts.at(id);
    std::cout << "missing: " << a.entity_id() << " " << a.detector() << "/" << a.anomaly_type() << " at "
              << a.event_time_ms() << ": " << a.explanation() << "\n";
  }
  for (const auto& a : alerts)  // what a re-alert was, to diagnose a failure
    if (std::find(extra.begin(), extra.end(), a.alert_id()) != extra.end())
      std::cout << "re-alert: " << a.entity_id() << " " << a.detector() << "/" << a.anomaly_type() << " at "
                << a.event_time_ms() << ": " << a.explanation() << "\n";
  EXPECT_EQ(mismatched, 0u);
}

TEST(ScaleOut, ThreeInstancesOneKilledRepeatedlyLoseNothingAndNeverRealert) {
  kill_and_restart_instances(1);
}

// The same with every instance running two stream threads: six group members over eight partitions, a kill
// takes two of them down at once.
TEST(ScaleOut, ThreeInstancesOfTwoStreamThreadsOneKilledRepeatedlyLoseNothingAndNeverRealert) {
  kill_and_restart_instances(2);
}

}  // namespace
}  // namespace gridsentinel
