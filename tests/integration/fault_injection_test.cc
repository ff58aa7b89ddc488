// Faults on the real Kafka protocol (librdkafka's mock cluster, created here so that faults can be injected):
// broker down mid-run, request errors on produce / fetch / offset commit, a slow broker, a producer queue too
// small for the load, fatal producer and consumer errors, and the entity limit. Each test runs gridsentinel's
// KafkaRunner as `gridsentinel run` does and checks the delivery guarantee: every alert an in-memory replay
// of the same input gives is on the alerts topic, every malformed record is dead-lettered, every input offset
// is eventually committed.
//
// GS_FAULT_BROKER_DOWN_S (default 10) sets the outage of BrokerDownMidRun; the issue's variant is 30:
//   GS_FAULT_BROKER_DOWN_S=30 build-faults/tests/integration_tests
//   --gtest_filter='FaultInjection.BrokerDown*'
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>
#include <thread>
#include <tuple>

#include "TestSupport.h"
#include "config/Config.h"
#include "gridsentinel/v1/alert.pb.h"
#include "kafka/KafkaClients.h"

namespace gridsentinel {
namespace {

using Clock = std::chrono::steady_clock;
using testing::InputRecord;
using testing::seconds_since;

constexpr int kPartitions = 4;
const char* const kInput = "meter-readings";

// Kafka API keys and error codes used below (Kafka protocol).
constexpr int16_t kProduce = 0, kFetch = 1, kOffsetCommit = 8;
constexpr int kNotLeader = 6, kRequestTimedOut = 7, kCoordinatorNotAvailable = 15, kNotCoordinator = 16,
              kNotEnoughReplicas = 19, kLeaderNotAvailable = 5, kOutOfOrderSequenceNumber = 45;

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

std::unique_ptr<kafka::MockCluster> make_cluster() {
  auto c = std::make_unique<kafka::MockCluster>(1);
  for (const char* t : {kInput, "gridsentinel-alerts", "gridsentinel-dead-letters", "meter-risk"})
    c->create_topic(t, kPartitions);
  return c;
}

// One meter input topic; the fleet-level detectors off so that every alert is a function of its entity's
// readings (comparable with the in-memory replay whatever the faults do to the interleaving). The state
// changelog is off: these tests are about the delivery path of outputs and offsets (checkpointing has its
// own).
config::Config fault_config(const std::string& group) {
  config::Config c = config::parse_config(R"(
topics:
  inputs: [{name: meter-readings, kind: meter, format: protobuf, message: MeterReading}]
detectors:
  iforest: {meter: {enabled: false}, infra: {enabled: false}}
  drift: {meter: {enabled: false}}
metrics: {bind: ""}
state: {changelog: false}
)");
  c.kafka.group_id = group;
  return c;
}

// For the tests that inject Produce errors: see testing::kOneRequestInFlight (the mock broker's idempotence
// gap).
void one_request_in_flight(config::Config& c) {
  c.kafka.producer_properties.insert(testing::kOneRequestInFlight.begin(),
                                     testing::kOneRequestInFlight.end());
}

// For the tests where a first instance ends without leaving the group (a fatal error): the next instance gets
// the partitions once the first one's session expires. With the default session timeout (45 s) it waited 42 s
// for its assignment on the mock.
void short_session(config::Config& c) {
  c.kafka.consumer_properties["session.timeout.ms"] = "6000";
}

// The state changelog on, checkpointing every 2 s, its topic created on `cluster`.
void with_changelog(config::Config& c, kafka::MockCluster& cluster) {
  c.state.changelog = true;
  c.state.checkpoint_interval_ms = 2'000;
  cluster.create_topic(c.state.changelog_for(c.kafka.group_id, kInput), kPartitions);
}

// Simulated readings with random anomalies and one undecodable record every `bad_every` records.
std::vector<InputRecord> workload(uint32_t meters, uint64_t ticks, uint64_t seed, size_t bad_every) {
  auto good = testing::simulated_readings(meters, ticks, 0.3, seed, kInput);
  std::vector<InputRecord> out;
  for (size_t i = 0; i < good.size(); ++i) {
    out.push_back(std::move(good[i]));
    if (bad_every && i % bad_every == bad_every / 2)
      out.push_back({kInput, "BAD-" + std::to_string(i), "\xff\xff\xff\x01not-protobuf"});
  }
  return out;
}

// What every test checks at the end: all expected alerts present, every malformed record dead-lettered (once
// or more), the group's offsets at the end of the input.
struct Outcome {
  size_t expected_alerts = 0, missing_alerts = 0, alert_records = 0, duplicate_alerts = 0;
  size_t dead_letters_unique = 0;
  int64_t committed = 0;
  uint64_t alerts_acked = 0;         // alerts the runner saw acknowledged (every alert, not only per-entity)
  std::vector<std::string> missing;  // the missing ones, described (entity, detector, type, event time)
};

Outcome check_outputs(const std::string& bootstrap, const config::Config& cfg,
                      const std::vector<InputRecord>& input, const std::set<std::string>& expected,
                      size_t expected_dead, uint64_t alerts_acked) {
  Outcome o;
  o.expected_alerts = expected.size();
  o.alerts_acked = alerts_acked;
  o.committed = testing::wait_committed(bootstrap, cfg.kafka.group_id, {kInput}, kPartitions,
                                        static_cast<int64_t>(input.size()), std::chrono::seconds(30));
  std::set<std::string> seen;
  const auto alerts = testing::read_alerts(
      bootstrap, cfg.topics.alerts,
      [&](const std::vector<v1::Alert>& got) {
        seen.clear();
        for (const auto& a : got) seen.insert(a.alert_id());
        for (const auto& id : expected)
          if (!seen.count(id)) return false;
        return true;
      },
      std::chrono::seconds(30));
  o.alert_records = alerts.size();
  std::set<std::string> ids;
  for (const auto& a : alerts)
    if (!ids.insert(a.alert_id()).second) ++o.duplicate_alerts;
  for (const auto& id : expected) o.missing_alerts += ids.count(id) ? 0 : 1;
  if (o.missing_alerts > 0) {  // what is missing, to tell a lost output from a different detection
    std::map<std::string, v1::Alert> by_id;
    testing::expected_alert_ids(cfg, input, nullptr, &by_id);
    for (const auto& [id, a] : by_id)
      if (!ids.count(id))
        o.missing.push_back(a.entity_id() + " " + a.detector() + "/" + a.anomaly_type() + " at " +
                            std::to_string(a.event_time_ms()));
  }
  std::set<std::pair<int, int64_t>> dead;
  testing::consume_until(
      bootstrap, cfg.topics.dead_letter,
      [&](const std::vector<testing::OwnedRecord>& recs) {
        dead.clear();
        for (const auto& r : recs) {
          v1::DeadLetter dl;
          if (dl.ParseFromString(r.value)) dead.emplace(dl.source_partition(), dl.source_offset());
        }
        return dead.size() >= expected_dead;
      },
      std::chrono::seconds(30));
  o.dead_letters_unique = dead.size();
  return o;
}

void expect_nothing_lost(const Outcome& o, const std::vector<InputRecord>& input, size_t expected_dead) {
  EXPECT_EQ(o.missing_alerts, 0u) << "of " << o.expected_alerts << " expected alerts";
  for (const auto& m : o.missing) std::cout << "missing alert: " << m << "\n";
  EXPECT_EQ(o.dead_letters_unique, expected_dead);
  EXPECT_EQ(o.committed, static_cast<int64_t>(input.size())) << "every input offset committed";
  std::cout << "alerts expected " << o.expected_alerts << ", missing " << o.missing_alerts
            << ", alert records " << o.alert_records << " (" << o.duplicate_alerts
            << " redelivered duplicates; " << o.alerts_acked
            << " acknowledged to gridsentinel); dead letters " << o.dead_letters_unique << "/"
            << expected_dead << "; committed " << o.committed << "/" << input.size() << "\n";
}

void send_range(testing::CountingProducer& in, const std::vector<InputRecord>& input, size_t from,
                size_t to) {
  for (size_t i = from; i < to; ++i) in.send(input[i].topic, input[i].key, input[i].value);
}

// The premise of the tests that inject Produce errors (see kOneRequestInFlight): with one request in flight
// the mock broker keeps every message it acknowledged, whenever the injected errors stop. Rounds of 500
// distinct messages in batches of 10, two NOT_ENOUGH_REPLICAS per round. librdkafka's default (5 in flight
// with idempotence) is run first, 40 rounds (a loss came about once in 10 rounds), and printed, not
// asserted: whether it loses depends on timing. One in flight: 10 rounds (a round takes ~1 s there).
TEST(FaultInjection, InjectedProduceErrorsLoseNothingOnTheMockWithOneRequestInFlight) {
  struct Result {
    uint64_t sent = 0, acked = 0;
    bool all_reported = false;
    std::set<std::string> written;  // distinct values on the topic
  };
  const auto run = [](const kafka::Properties& in_flight, const std::string& topic, int rounds,
                      std::chrono::seconds wait) {
    auto cluster = std::make_unique<kafka::MockCluster>(1);
    cluster->create_topic(topic, 1);
    kafka::Properties props = {{"linger.ms", "0"}, {"batch.num.messages", "10"}};
    props.insert(in_flight.begin(), in_flight.end());
    testing::CountingProducer out(cluster->bootstrap_servers(), props);
    Result r;
    r.all_reported = true;
    for (int round = 0; round < rounds; ++round) {
      cluster->push_request_errors(kProduce, {kNotEnoughReplicas, kNotEnoughReplicas});
      for (int i = 0; i < 500; ++i) out.send_to(topic, 0, "k", std::to_string(round * 500 + i));
      r.all_reported = out.flush() && r.all_reported;
    }
    r.sent = out.sent();
    r.acked = out.delivered();
    testing::consume_until(
        cluster->bootstrap_servers(), topic,
        [&](const std::vector<testing::OwnedRecord>& recs) {
          r.written.clear();
          for (const auto& rec : recs) r.written.insert(rec.value);
          return r.written.size() >= r.acked;
        },
        wait);
    return r;
  };
  const Result five = run({}, "five-in-flight", 40, std::chrono::seconds(10));
  std::cout << "FIGURES 5 requests in flight: " << five.acked << " of " << five.sent << " acknowledged, "
            << five.written.size() << " on the topic\n";
  const Result one = run(testing::kOneRequestInFlight, "one-in-flight", 10, std::chrono::seconds(30));
  std::cout << "FIGURES 1 request in flight: " << one.acked << " of " << one.sent << " acknowledged, "
            << one.written.size() << " on the topic\n";
  EXPECT_TRUE(one.all_reported) << "every message reported delivered";
  EXPECT_EQ(one.acked, 5000u);
  EXPECT_EQ(one.written.size(), one.acked) << "an acknowledged message missing from the log";
  int missing = 0;
  for (int i = 0; i < 5000; ++i) missing += one.written.count(std::to_string(i)) ? 0 : 1;
  EXPECT_EQ(missing, 0) << "of the values 0..4999";
}

TEST(FaultInjection, BrokerDownMidRunLosesNothingAndResumes) {
  const int down_s = env_int("GS_FAULT_BROKER_DOWN_S", 10);
  auto cluster = make_cluster();
  const std::string bootstrap = cluster->bootstrap_servers();
  auto cfg = fault_config("gs-fault-down");
  // GS_FAULT_RECONNECT_BACKOFF_MAX_MS: librdkafka's reconnect.backoff.max.ms for gridsentinel's clients
  // (default 10 s in librdkafka: after a long outage the first reconnect attempt can come up to 10 s after
  // the return).
  if (const int b = env_int("GS_FAULT_RECONNECT_BACKOFF_MAX_MS", 0); b > 0)
    cfg.kafka.properties["reconnect.backoff.max.ms"] = std::to_string(b);
  const auto input = workload(40, 4 * 96, 11, 1500);
  size_t expected_dead = 0;
  const auto expected = testing::expected_alert_ids(cfg, input, &expected_dead);
  ASSERT_GE(expected.size(), 20u);
  const size_t n1 = input.size() / 3, n2 = 2 * input.size() / 3, n_during = n2 + (input.size() - n2) / 2;

  testing::CountingProducer in(bootstrap);
  testing::RunnerThread gs(cfg, bootstrap);
  // Before: processed normally.
  send_range(in, input, 0, n1);
  ASSERT_TRUE(in.flush());
  ASSERT_TRUE(gs.wait_consumed(static_cast<double>(n1), std::chrono::seconds(60)));
  // The broker goes down right after a burst, while gridsentinel consumes it and produces its outputs.
  send_range(in, input, n1, n2);
  ASSERT_TRUE(in.flush());
  cluster->set_broker_down(1);
  const auto t_down = Clock::now();
  // During: readings keep coming (the producers queue them meanwhile).
  size_t sent = n2;
  while (seconds_since(t_down) < down_s) {
    const double part = std::min(1.0, seconds_since(t_down) / down_s);
    const size_t due = n2 + static_cast<size_t>(static_cast<double>(n_during - n2) * part);
    send_range(in, input, sent, due);
    sent = due;
    in.poll(100);
  }
  send_range(in, input, sent, n_during);
  sent = n_during;
  const double consumed_at_up = gs.consumed();
  const uint64_t acked_at_up = gs.alerts_acked();
  const uint64_t delivered_at_up = in.delivered();
  std::cout << "broker down " << seconds_since(t_down) << " s; consumed " << consumed_at_up << " of "
            << input.size() << " meanwhile\n";
  cluster->set_broker_up(1);
  const auto t_up = Clock::now();
  // After: the rest.
  double input_resumed = -1, consume_resumed = -1, alerts_resumed = -1, caught_up = -1;
  while (seconds_since(t_up) < 120) {
    if (sent < input.size()) {
      const size_t next = std::min(input.size(), sent + 500);
      send_range(in, input, sent, next);
      sent = next;
    }
    in.poll(10);
    if (input_resumed < 0 && in.delivered() > delivered_at_up) input_resumed = seconds_since(t_up);
    if (consume_resumed < 0 && gs.consumed() > consumed_at_up) consume_resumed = seconds_since(t_up);
    if (alerts_resumed < 0 && gs.alerts_acked() > acked_at_up) alerts_resumed = seconds_since(t_up);
    if (gs.consumed() >= static_cast<double>(input.size())) {
      caught_up = seconds_since(t_up);
      break;
    }
  }
  ASSERT_TRUE(in.flush());
  ASSERT_GE(caught_up, 0) << "gridsentinel did not catch up within 120 s of the broker's return";
  const int64_t committed =
      testing::wait_committed(bootstrap, cfg.kafka.group_id, {kInput}, kPartitions,
                              static_cast<int64_t>(input.size()), std::chrono::seconds(60));
  const double all_committed = seconds_since(t_up);
  std::cout << "FIGURES broker down " << down_s
            << " s: after the broker's return, input producer delivering at " << input_resumed
            << " s, gridsentinel consuming at " << consume_resumed << " s, its alerts acknowledged at "
            << alerts_resumed << " s, backlog of " << input.size() - static_cast<size_t>(consumed_at_up)
            << " records consumed at " << caught_up << " s, all offsets committed at " << all_committed
            << " s (" << committed << "/" << input.size() << ")\n";
  EXPECT_GE(consume_resumed, 0);
  // The issue asks for <= 5 s; reconnect backoff and the group's coordinator lookup make the figure vary
  // with the machine's load, so the bound asserted here is generous and the figure is printed.
  EXPECT_LE(consume_resumed, 10.0);  // measured 0.1-1.7 s; generous for loaded CI machines
  EXPECT_EQ(gs.stop(), 0);
  expect_nothing_lost(check_outputs(bootstrap, cfg, input, expected, expected_dead, gs.alerts_acked()), input,
                      expected_dead);
}

TEST(FaultInjection, RequestErrorsOnProduceFetchCommitAndASlowBrokerLoseNothing) {
  auto cluster = make_cluster();
  const std::string bootstrap = cluster->bootstrap_servers();
  auto cfg = fault_config("gs-fault-errors");
  one_request_in_flight(cfg);  // Produce errors are injected below
  const auto input = workload(30, 4 * 96, 12, 1000);
  size_t expected_dead = 0;
  const auto expected = testing::expected_alert_ids(cfg, input, &expected_dead);
  ASSERT_GE(expected.size(), 10u);
  const size_t quarter = input.size() / 4;

  testing::CountingProducer in(bootstrap, testing::kOneRequestInFlight);
  testing::RunnerThread gs(cfg, bootstrap);
  send_range(in, input, 0, quarter);
  ASSERT_TRUE(in.flush());
  ASSERT_TRUE(gs.wait_consumed(static_cast<double>(quarter), std::chrono::seconds(60)));

  // Produce errors (retriable: the idempotent producer retries them; the test's own producer too).
  const auto t1 = Clock::now();
  cluster->push_request_errors(
      kProduce, {kNotLeader, kRequestTimedOut, kNotEnoughReplicas, kLeaderNotAvailable, kRequestTimedOut,
                 kNotEnoughReplicas, kNotLeader, kRequestTimedOut});
  send_range(in, input, quarter, 2 * quarter);
  ASSERT_TRUE(in.flush());
  ASSERT_TRUE(gs.wait_consumed(static_cast<double>(2 * quarter), std::chrono::seconds(60)));
  std::cout << "FIGURES produce errors: quarter consumed " << seconds_since(t1) << " s after injection\n";

  // Fetch and offset-commit errors.
  const auto t2 = Clock::now();
  cluster->push_request_errors(kFetch,
                               {kNotLeader, kRequestTimedOut, kNotLeader, kRequestTimedOut, kNotLeader});
  cluster->push_request_errors(kOffsetCommit, {kCoordinatorNotAvailable, kNotCoordinator, kRequestTimedOut,
                                               kCoordinatorNotAvailable, kRequestTimedOut});
  send_range(in, input, 2 * quarter, 3 * quarter);
  ASSERT_TRUE(in.flush());
  ASSERT_TRUE(gs.wait_consumed(static_cast<double>(3 * quarter), std::chrono::seconds(90)));
  std::cout << "FIGURES fetch/commit errors: quarter consumed " << seconds_since(t2)
            << " s after injection\n";

  // A slow broker: 250 ms round trip on every request.
  const auto t3 = Clock::now();
  cluster->set_broker_rtt(1, 250);
  send_range(in, input, 3 * quarter, input.size());
  ASSERT_TRUE(in.flush());
  ASSERT_TRUE(gs.wait_consumed(static_cast<double>(input.size()), std::chrono::seconds(120)));
  std::cout << "FIGURES rtt 250 ms: last quarter consumed " << seconds_since(t3) << " s after\n";
  const int64_t committed =
      testing::wait_committed(bootstrap, cfg.kafka.group_id, {kInput}, kPartitions,
                              static_cast<int64_t>(input.size()), std::chrono::seconds(60));
  std::cout << "FIGURES rtt 250 ms: all committed " << seconds_since(t3) << " s after (" << committed
            << ")\n";
  cluster->set_broker_rtt(1, 0);
  const std::string scrape = gs.scrape();
  std::cout << "commits failed: "
            << testing::metric_value(scrape, "gridsentinel_offset_commits_total{result=\"failed\"}")
            << ", delivery failures: "
            << testing::metric_value(scrape, "gridsentinel_producer_errors_total{kind=\"delivery_failed\"}")
            << "\n";
  EXPECT_EQ(gs.stop(), 0);
  expect_nothing_lost(check_outputs(bootstrap, cfg, input, expected, expected_dead, gs.alerts_acked()), input,
                      expected_dead);
}

TEST(FaultInjection, TinyProducerQueueAppliesBackpressureAndLosesNothing) {
  auto cluster = make_cluster();
  const std::string bootstrap = cluster->bootstrap_servers();
  auto cfg = fault_config("gs-fault-queue");
  cfg.kafka.producer_properties["queue.buffering.max.messages"] = "4";
  // Many alerts and dead letters per second: one undecodable record every 20.
  const auto input = workload(30, 3 * 96, 13, 20);
  size_t expected_dead = 0;
  const auto expected = testing::expected_alert_ids(cfg, input, &expected_dead);
  ASSERT_GE(expected_dead, 400u);

  testing::CountingProducer in(bootstrap);
  send_range(in, input, 0, input.size());
  ASSERT_TRUE(in.flush());
  testing::RunnerThread gs(cfg, bootstrap);
  const auto t0 = Clock::now();
  ASSERT_TRUE(gs.wait_consumed(static_cast<double>(input.size()), std::chrono::seconds(120)));
  const int64_t committed =
      testing::wait_committed(bootstrap, cfg.kafka.group_id, {kInput}, kPartitions,
                              static_cast<int64_t>(input.size()), std::chrono::seconds(60));
  const std::string scrape = gs.scrape();
  const double queue_full =
      testing::metric_value(scrape, "gridsentinel_producer_errors_total{kind=\"queue_full\"}");
  std::cout << "FIGURES queue.buffering.max.messages=4: " << input.size() << " records, " << expected_dead
            << " dead letters, all committed in " << seconds_since(t0) << " s (" << committed
            << "); queue-full waits " << queue_full << "\n";
  EXPECT_GT(queue_full, 0) << "the tiny queue must have filled (backpressure path exercised)";
  EXPECT_EQ(gs.stop(), 0);
  expect_nothing_lost(check_outputs(bootstrap, cfg, input, expected, expected_dead, gs.alerts_acked()), input,
                      expected_dead);
}

// An output topic the broker will not take writes for longer than max.poll.interval.ms: the loop waits for
// acknowledgements (backpressure) and must keep polling its consumer meanwhile, or librdkafka leaves the
// group and every member rebalances. The partitions are paused for the wait and resumed after it; nothing is
// lost.
// With the state changelog on, the periodic checkpoints must not wait long in the loop either.
void produce_outage_longer_than_max_poll_interval(bool changelog) {
  auto cluster = make_cluster();
  const std::string bootstrap = cluster->bootstrap_servers();
  auto cfg = fault_config(changelog ? "gs-fault-poll-wait-changelog" : "gs-fault-poll-wait");
  if (changelog) with_changelog(cfg, *cluster);  // 2 s: cycles come due early in the outage
  cfg.limits.max_inflight_records = 100;
  one_request_in_flight(cfg);  // without it the mock broker drops outputs when the injected errors stop
  cfg.kafka.consumer_properties["session.timeout.ms"] = "6000";
  cfg.kafka.consumer_properties["max.poll.interval.ms"] = "7000";
  // A dead letter every 20 records: records with outputs from the start. More records than one poll takes
  // (10,000), so that some are left for the pause to hold back.
  const auto input = workload(30, 5 * 96, 14, 20);
  size_t expected_dead = 0;
  const auto expected = testing::expected_alert_ids(cfg, input, &expected_dead);

  testing::CountingProducer in(bootstrap);
  send_range(in, input, 0, input.size());
  ASSERT_TRUE(in.flush());
  // Every Produce request fails with a retriable error until cleared: the idempotent producer retries (its
  // outputs never time out: message.timeout.ms 0), so outputs stay unacknowledged and their records in
  // flight.
  cluster->push_request_errors(kProduce, std::vector<int>(20'000, kNotEnoughReplicas));
  // Not ready after 5 s paused (60 s by default), so that the test sees it.
  testing::RunnerThread gs(cfg, bootstrap, 5'000);
  const auto paused = [&] { return testing::metric_value(gs.scrape(), "gridsentinel_paused_partitions"); };
  const auto t0 = Clock::now();
  while (paused() < kPartitions && Clock::now() - t0 < std::chrono::seconds(60))
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_EQ(paused(), kPartitions) << "backpressure lasting over a second pauses the assignment";
  const double consumed_at_pause = gs.consumed();
  // Well past max.poll.interval.ms.
  std::this_thread::sleep_for(std::chrono::seconds(14));
  const std::string during = gs.scrape();
  EXPECT_EQ(testing::metric_value(during, "gridsentinel_paused_partitions"), kPartitions);
  const double consumed_during = gs.consumed();
  EXPECT_EQ(consumed_during, consumed_at_pause) << "paused partitions hand out nothing, though polled";
  int status = 0;
  const std::string ready = gs.probe("/readyz", &status);
  EXPECT_EQ(status, 503) << "paused for over 5 s: not ready";
  EXPECT_NE(ready.find("partitions paused for"), std::string::npos) << ready;
  gs.probe("/healthz", &status);
  EXPECT_EQ(status, 200) << "still live: a restart cannot make the broker take the outputs";
  EXPECT_LT(consumed_during, static_cast<double>(input.size()));
  // With the changelog: no checkpoint is confirmed while the outputs wait (the state would cover records
  // whose outputs may be lost), so the thread's checkpoint time stays at its start and ages.
  const std::string kCheckpointTime = "gridsentinel_state_last_checkpoint_timestamp_seconds{thread=\"0\"}";
  const std::string kCheckpointsOk = "gridsentinel_state_checkpoints_total{result=\"ok\"}";
  const double checkpoint_time_during = testing::metric_value(during, kCheckpointTime);
  if (changelog) {
    EXPECT_EQ(testing::metric_value(during, kCheckpointsOk), 0);
    EXPECT_GT(checkpoint_time_during, 0) << "exported from the start";
  } else {
    EXPECT_EQ(checkpoint_time_during, -1) << "no series without the changelog";
  }
  cluster->clear_request_errors(kProduce);

  const auto t1 = Clock::now();
  ASSERT_TRUE(gs.wait_consumed(static_cast<double>(input.size()), std::chrono::seconds(120)));
  const int64_t committed =
      testing::wait_committed(bootstrap, cfg.kafka.group_id, {kInput}, kPartitions,
                              static_cast<int64_t>(input.size()), std::chrono::seconds(60));
  const std::string after = gs.scrape();
  std::cout << "FIGURES produce outage of " << seconds_since(t0) - seconds_since(t1)
            << " s: " << consumed_during << " of " << input.size()
            << " records consumed during it, the rest and all "
            << "committed (" << committed << ") " << seconds_since(t1) << " s after; rebalances: assigned "
            << testing::metric_value(after, "gridsentinel_rebalances_total{event=\"assigned\"}")
            << ", revoked "
            << testing::metric_value(after, "gridsentinel_rebalances_total{event=\"revoked\"}") << "\n";
  EXPECT_EQ(testing::metric_value(after, "gridsentinel_rebalances_total{event=\"revoked\"}"), 0)
      << "the member stayed in the group through the outage";
  EXPECT_EQ(testing::metric_value(after, "gridsentinel_rebalances_total{event=\"assigned\"}"), 1);
  EXPECT_EQ(testing::metric_value(after, "gridsentinel_paused_partitions"), 0) << "resumed after the outage";
  EXPECT_EQ(gs.probe("/readyz", &status), "ok\n");
  EXPECT_EQ(status, 200) << "ready again once resumed";
  if (changelog) {  // checkpoints are confirmed again
    const auto t2 = Clock::now();
    while (testing::metric_value(gs.scrape(), kCheckpointsOk) < 1 &&
           Clock::now() - t2 < std::chrono::seconds(30))
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const std::string later = gs.scrape();
    EXPECT_GE(testing::metric_value(later, kCheckpointsOk), 1);
    EXPECT_GT(testing::metric_value(later, kCheckpointTime), checkpoint_time_during);
  }
  EXPECT_EQ(gs.stop(), 0);
  expect_nothing_lost(check_outputs(bootstrap, cfg, input, expected, expected_dead, gs.alerts_acked()), input,
                      expected_dead);
}

TEST(FaultInjection, AProduceOutageLongerThanMaxPollIntervalKeepsTheGroupAndLosesNothing) {
  produce_outage_longer_than_max_poll_interval(false);
}

TEST(FaultInjection, AProduceOutageLongerThanMaxPollIntervalKeepsTheGroupWithTheChangelogOn) {
  produce_outage_longer_than_max_poll_interval(true);
}

// After an instance ended on a fatal error having committed `committed_by_first` records: the next instance
// (`cfg`) consumes the rest, commits everything, and every expected output is on the topics.
void next_instance_loses_nothing(const std::string& bootstrap, const config::Config& cfg,
                                 const std::vector<InputRecord>& input, const std::set<std::string>& expected,
                                 size_t expected_dead, int64_t committed_by_first) {
  const auto t1 = Clock::now();
  testing::RunnerThread next(cfg, bootstrap);
  ASSERT_TRUE(
      next.wait_consumed(static_cast<double>(input.size() - committed_by_first), std::chrono::seconds(90)));
  const int64_t committed =
      testing::wait_committed(bootstrap, cfg.kafka.group_id, {kInput}, kPartitions,
                              static_cast<int64_t>(input.size()), std::chrono::seconds(60));
  std::cout << "FIGURES the next instance: " << committed_by_first << " records committed before it, "
            << next.consumed() << " consumed by it, " << committed << " committed in all "
            << seconds_since(t1) << " s after it started\n";
  EXPECT_EQ(next.stop(), 0);
  expect_nothing_lost(check_outputs(bootstrap, cfg, input, expected, expected_dead, next.alerts_acked()),
                      input, expected_dead);
}

// A fatal error of the idempotent producer: librdkafka raises one when the request at the head of a
// partition's queue is answered OUT_OF_ORDER_SEQUENCE_NUMBER (a sequence desynchronization with the broker),
// fails the queued messages and refuses every produce() after. The runner ends at once with kExitKafkaFatal
// instead of retrying into a producer that will never deliver, having committed nothing whose outputs were
// not acknowledged; a new instance (new clients, as a restarted process) processes the rest, and nothing is
// lost. With the changelog on, the first instance commits nothing (no checkpoint is confirmed while its
// outputs wait), so the next one processes every record from the state checkpointed (none): the alerts of an
// uninterrupted run. With it off, records whose outputs were all acknowledged (none, or dead letters
// delivered before the error) are committed, and the next instance starts cold after them.
void fatal_producer_error(bool changelog) {
  auto cluster = make_cluster();
  const std::string bootstrap = cluster->bootstrap_servers();
  auto cfg = fault_config(changelog ? "gs-fault-fatal-cl" : "gs-fault-fatal");
  if (changelog) with_changelog(cfg, *cluster);  // 2 s: the next instance's offsets committed sooner
  one_request_in_flight(cfg);                    // a Produce error is injected
  short_session(cfg);
  const auto input = workload(30, 4 * 96, 15, 200);
  size_t expected_dead = 0;
  const auto expected = testing::expected_alert_ids(cfg, input, &expected_dead);
  ASSERT_GE(expected.size(), 10u);
  testing::CountingProducer in(bootstrap);
  send_range(in, input, 0, input.size());
  ASSERT_TRUE(in.flush());
  cluster->push_request_errors(kProduce, {kOutOfOrderSequenceNumber});  // gridsentinel's first Produce
  int64_t committed_by_first = 0;
  {
    testing::RunnerThread gs(cfg, bootstrap);
    const auto t0 = Clock::now();
    ASSERT_TRUE(gs.wait_ended(std::chrono::seconds(60))) << "still retrying into a fatally failed producer";
    std::cout << "FIGURES fatal producer error: the runner ended " << seconds_since(t0)
              << " s after its start, " << gs.consumed() << " of " << input.size() << " records consumed, "
              << gs.alerts_acked() << " alerts acknowledged\n";
    EXPECT_EQ(gs.stop(), pipeline::KafkaRunner::kExitKafkaFatal);
    committed_by_first = testing::committed_total(bootstrap, cfg.kafka.group_id, {kInput}, kPartitions);
    // With the changelog, offsets are committed only with a confirmed checkpoint; without it, a record with
    // no output is committable at once, so a prefix of each partition may be.
    if (changelog) {
      EXPECT_EQ(committed_by_first, 0) << "no checkpoint is confirmed while outputs wait";
    }
  }
  if (changelog || committed_by_first == 0) {
    next_instance_loses_nothing(bootstrap, cfg, input, expected, expected_dead, committed_by_first);
    return;
  }
  // Without the changelog the next instance starts cold at the committed offsets: the expected alerts are
  // those of the committed prefix (each must be on the topic: a committed record's output) and those of the
  // rest replayed from a cold start (a few fewer than an uninterrupted run gives).
  std::map<std::pair<std::string, int>, int64_t> committed;
  ASSERT_EQ(testing::committed_total(bootstrap, cfg.kafka.group_id, {kInput}, kPartitions, &committed),
            committed_by_first);
  auto on_broker = testing::consume_until(
      bootstrap, kInput, [&](const auto& v) { return v.size() >= input.size(); }, std::chrono::seconds(60));
  ASSERT_EQ(on_broker.size(), input.size());
  std::stable_sort(on_broker.begin(), on_broker.end(), [](const auto& a, const auto& b) {
    return std::tie(a.partition, a.offset) < std::tie(b.partition, b.offset);
  });
  std::vector<InputRecord> prefix, rest;
  for (const auto& r : on_broker)
    (r.offset < committed[{kInput, r.partition}] ? prefix : rest).push_back({r.topic, r.key, r.value});
  size_t dead_prefix = 0, dead_rest = 0;
  auto split_expected = testing::expected_alert_ids(cfg, prefix, &dead_prefix);
  std::cout << "committed prefix " << prefix.size() << " records: " << split_expected.size() << " alerts, "
            << dead_prefix << " dead letters in a replay\n";
  const auto of_rest = testing::expected_alert_ids(cfg, rest, &dead_rest);
  split_expected.insert(of_rest.begin(), of_rest.end());
  ASSERT_GE(split_expected.size(), 10u);
  next_instance_loses_nothing(bootstrap, cfg, input, split_expected, dead_prefix + dead_rest,
                              committed_by_first);
}

TEST(FaultInjection, AFatalProducerErrorEndsTheRunnerAndTheNextInstanceLosesNothing) {
  fatal_producer_error(true);
}

TEST(FaultInjection, AFatalProducerErrorWithTheChangelogOffEndsTheRunnerAndTheNextInstanceLosesNothing) {
  fatal_producer_error(false);
}

// The changelog producer's fatal error: input too short to warm any detector up, so nothing goes to the
// output topics and gridsentinel's first Produce request is a checkpoint's. The runner ends with
// kExitKafkaFatal as for the output producer's (the output producer never failed: no output error counted),
// and the next instance commits every record.
TEST(FaultInjection, AFatalChangelogProducerErrorEndsTheRunnerAndTheNextInstanceLosesNothing) {
  auto cluster = make_cluster();
  const std::string bootstrap = cluster->bootstrap_servers();
  auto cfg = fault_config("gs-fault-fatal-changelog");
  with_changelog(cfg, *cluster);
  short_session(cfg);
  const auto input = testing::simulated_readings(30, 8, 0.0, 18, kInput);
  size_t expected_dead = 0;
  const auto expected = testing::expected_alert_ids(cfg, input, &expected_dead);
  ASSERT_TRUE(expected.empty() && expected_dead == 0) << "the premise: no output, so no output Produce";
  testing::CountingProducer in(bootstrap);
  send_range(in, input, 0, input.size());
  ASSERT_TRUE(in.flush());
  cluster->push_request_errors(kProduce, {kOutOfOrderSequenceNumber});  // the first checkpoint's Produce
  int64_t committed_by_first = 0;
  {
    testing::RunnerThread gs(cfg, bootstrap);
    const auto t0 = Clock::now();
    ASSERT_TRUE(gs.wait_ended(std::chrono::seconds(60)))
        << "still checkpointing into a fatally failed producer";
    std::cout << "FIGURES fatal changelog producer error: the runner ended " << seconds_since(t0)
              << " s after its start, " << gs.consumed() << " of " << input.size() << " records consumed\n";
    EXPECT_EQ(gs.stop(), pipeline::KafkaRunner::kExitKafkaFatal);
    for (const char* kind : {"delivery_failed", "produce_failed", "queue_full"})
      EXPECT_EQ(gs.metrics().producer_errors(kind).Value(), 0) << kind << ": the output producer failed";
    committed_by_first = testing::committed_total(bootstrap, cfg.kafka.group_id, {kInput}, kPartitions);
    EXPECT_EQ(committed_by_first, 0) << "no checkpoint is confirmed";
  }
  next_instance_loses_nothing(bootstrap, cfg, input, expected, expected_dead, committed_by_first);
}

// The consumer's fatal error: a static group member (group.instance.id) that the coordinator reports fenced
// (FENCED_INSTANCE_ID: another instance took its identity) can neither commit nor leave the group, and never
// recovers. The runner ends with kExitKafkaFatal instead of polling a consumer that hands out nothing; the
// partitions go to the next member once the fenced one's session expires, and it loses nothing.
TEST(FaultInjection, AFencedStaticMemberEndsTheRunnerAndTheNextInstanceLosesNothing) {
  constexpr int16_t kHeartbeat = 12;
  constexpr int kFencedInstanceId = 82;
  auto cluster = make_cluster();
  const std::string bootstrap = cluster->bootstrap_servers();
  auto cfg = fault_config("gs-fault-fenced");
  with_changelog(cfg, *cluster);
  short_session(cfg);
  auto fenced_cfg = cfg;
  fenced_cfg.kafka.consumer_properties["group.instance.id"] = "gs-static-a";
  const auto input = workload(30, 4 * 96, 16, 200);
  size_t expected_dead = 0;
  const auto expected = testing::expected_alert_ids(cfg, input, &expected_dead);
  ASSERT_GE(expected.size(), 10u);
  testing::CountingProducer in(bootstrap);
  send_range(in, input, 0, input.size());
  ASSERT_TRUE(in.flush());
  int64_t committed_by_first = 0;
  {
    testing::RunnerThread gs(fenced_cfg, bootstrap);
    ASSERT_TRUE(gs.wait_consumed(1, std::chrono::seconds(60)));
    const double commits_ok_before = gs.metrics().commits(true).Value();
    const auto t0 = Clock::now();
    cluster->push_request_errors(kHeartbeat, {kFencedInstanceId, kFencedInstanceId, kFencedInstanceId});
    ASSERT_TRUE(gs.wait_ended(std::chrono::seconds(60))) << "still polling a fenced consumer";
    std::cout << "FIGURES fenced static member: the runner ended " << seconds_since(t0)
              << " s after the error was set up, " << gs.consumed() << " of " << input.size()
              << " records consumed; its final commit: " << gs.metrics().commits(false).Value() << " failed, "
              << gs.metrics().commits(true).Value() - commits_ok_before << " succeeded\n";
    EXPECT_EQ(gs.stop(), pipeline::KafkaRunner::kExitKafkaFatal);
    // The final commit of a fenced member fails (its offsets are no longer its own to commit); the mock
    // broker does not track static members, so this is librdkafka refusing it.
    EXPECT_EQ(gs.metrics().commits(true).Value(), commits_ok_before);
    cluster->clear_request_errors(kHeartbeat);
    committed_by_first = testing::committed_total(bootstrap, cfg.kafka.group_id, {kInput}, kPartitions);
  }
  next_instance_loses_nothing(bootstrap, cfg, input, expected, expected_dead, committed_by_first);
}

TEST(FaultInjection, EntityLimitDeadLettersNewEntitiesAndCountsThem) {
  auto cluster = make_cluster();
  const std::string bootstrap = cluster->bootstrap_servers();
  auto cfg = fault_config("gs-fault-entities");
  cfg.limits.max_entities = 10;
  // 15 meters, 2 ticks: the first tick tracks 10 and refuses 5; the second refuses the same 5 again.
  const auto input = testing::simulated_readings(15, 2, 0, 14, kInput);
  testing::CountingProducer in(bootstrap);
  send_range(in, input, 0, input.size());
  ASSERT_TRUE(in.flush());
  testing::RunnerThread gs(cfg, bootstrap);
  ASSERT_TRUE(gs.wait_consumed(static_cast<double>(input.size()), std::chrono::seconds(60)));
  EXPECT_EQ(testing::wait_committed(bootstrap, cfg.kafka.group_id, {kInput}, kPartitions,
                                    static_cast<int64_t>(input.size()), std::chrono::seconds(30)),
            static_cast<int64_t>(input.size()));
  const std::string scrape = gs.scrape();
  EXPECT_EQ(testing::metric_value(scrape, "gridsentinel_dead_letters_total{reason=\"entity_limit\"}"), 10);
  EXPECT_EQ(testing::metric_value(scrape, "gridsentinel_active_entities{kind=\"meter\"}"), 10);
  EXPECT_EQ(gs.stop(), 0);
  std::map<std::string, int> refused;  // meter id -> dead letters
  testing::consume_until(
      bootstrap, cfg.topics.dead_letter,
      [&](const std::vector<testing::OwnedRecord>& recs) {
        refused.clear();
        for (const auto& r : recs) {
          v1::DeadLetter dl;
          EXPECT_TRUE(dl.ParseFromString(r.value));
          EXPECT_EQ(dl.reason(), "entity_limit");
          EXPECT_NE(dl.detail().find("limits.max_entities"), std::string::npos) << dl.detail();
          ++refused[dl.original_key()];
        }
        return recs.size() >= 10;
      },
      std::chrono::seconds(30));
  EXPECT_EQ(refused.size(), 5u);
  for (const auto& [meter, n] : refused) EXPECT_EQ(n, 2) << meter;
}

}  // namespace
}  // namespace gridsentinel
