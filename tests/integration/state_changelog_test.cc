// State in Kafka: per-entity state checkpointed to the changelog topic and restored on assignment, on the
// real Kafka protocol (librdkafka's mock cluster).
//
// The oracle is the same records through one Processor in memory, never restarted: a restart that restores
// exactly gives the same per-entity alerts (ids included) as no restart at all. A cold restart would not: its
// detectors would be back in warm-up (missing alerts) and its episodes forgotten (new alerts for anomalies
// already reported).
#include <gtest/gtest.h>

#include <algorithm>
#include <initializer_list>
#include <map>
#include <set>

#include "TestSupport.h"
#include "common/StateCodec.h"

namespace gridsentinel {
namespace {

using testing::InputRecord;

constexpr int kPartitions = 4;

config::Config state_config(const std::string& bootstrap, const std::string& group) {
  config::Config c = config::parse_config(R"(
topics:
  inputs:
    - {name: meter-readings, kind: meter, format: protobuf, message: MeterReading}
state:
  checkpoint_interval: 200ms
kafka:
  consumer_properties: {session.timeout.ms: "6000", heartbeat.interval.ms: "500"}
metrics:
  bind: 127.0.0.1:0
)");
  c.kafka.bootstrap_servers = bootstrap;
  c.kafka.group_id = group;
  return c;
}

std::set<std::string> per_entity_ids(const std::vector<v1::Alert>& alerts) {
  std::set<std::string> ids;
  for (const auto& a : alerts)
    if (testing::per_entity_alert(a)) ids.insert(a.alert_id());
  return ids;
}

// Record i of `records` on partition 0 at offset i, as the consumer would hand it to the Processor.
kafka::Record record_at(const std::vector<InputRecord>& records, size_t i) {
  kafka::Record r;
  r.topic = records[i].topic;
  r.partition = 0;
  r.offset = static_cast<int64_t>(i);
  r.key = records[i].key;
  r.value = records[i].value;
  return r;
}

int64_t wall_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The per-entity alerts of `outs` together are exactly `expected` (an uninterrupted run's): none missing,
// none raised again as a new episode.
void expect_uninterrupted_run_alerts(const std::set<std::string>& expected,
                                     std::initializer_list<const testing::CollectingEmitter*> outs) {
  std::set<std::string> got;
  for (const auto* out : outs)
    for (const auto& alert : out->alerts)
      if (testing::per_entity_alert(alert)) got.insert(alert.alert_id());
  std::vector<std::string> missing, extra;
  std::set_difference(expected.begin(), expected.end(), got.begin(), got.end(), std::back_inserter(missing));
  std::set_difference(got.begin(), got.end(), expected.begin(), expected.end(), std::back_inserter(extra));
  EXPECT_TRUE(missing.empty()) << missing.size() << " alerts of the uninterrupted run are missing";
  EXPECT_TRUE(extra.empty()) << extra.size() << " alerts an uninterrupted run would not raise";
}

void produce(const std::string& bootstrap, const std::vector<InputRecord>& records, size_t from, size_t to) {
  testing::CountingProducer in(bootstrap);
  for (size_t i = from; i < to; ++i) in.send(records[i].topic, records[i].key, records[i].value);
  ASSERT_TRUE(in.flush());
}

TEST(StateChangelog, RestartRestoresEveryEntityAndGivesTheAlertsOfAnUninterruptedRun) {
  kafka::MockCluster cluster(1);
  const std::string group = "gs-state";
  for (const std::string t : {"meter-readings", "gs-state-meter-readings-changelog", "gridsentinel-alerts",
                              "gridsentinel-dead-letters", "gridsentinel-meter-risk"})
    cluster.create_topic(t, kPartitions);
  const std::string bootstrap = cluster.bootstrap_servers();
  const config::Config cfg = state_config(bootstrap, group);

  // 40 meters, 4 days of 15-minute readings with random anomalies (some span the restart).
  const auto records = testing::simulated_readings(40, 4 * 96, 0.5, 11);
  const size_t split = records.size() * 3 / 4;
  const auto expected = testing::expected_alert_ids(cfg, records);
  ASSERT_GT(expected.size(), 10u);

  // First instance: the first three days, then a graceful stop (checkpoint, commit, leave).
  produce(bootstrap, records, 0, split);
  {
    testing::RunnerThread first(cfg, bootstrap);
    ASSERT_TRUE(first.wait_consumed(static_cast<double>(split), std::chrono::seconds(90)));
    EXPECT_EQ(first.stop(), 0);
    const auto& st = first.metrics().state();
    EXPECT_GE(st.checkpoints_ok->Value(), 1);
    EXPECT_EQ(st.checkpoints_failed->Value(), 0);
    EXPECT_GE(st.checkpointed_entities->Value(), 40);
  }

  // Second instance, new process state: restores all 40 meters before consuming the last day.
  produce(bootstrap, records, split, records.size());
  testing::RunnerThread second(cfg, bootstrap);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (second.metrics().state().restored_ok->Value() < 40 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(second.metrics().state().restored_ok->Value(), 40);
  EXPECT_EQ(second.metrics().state().restored_refused->Value(), 0);
  EXPECT_GT(second.metrics().state().restore_records->Value(), 40);
  // It resumes at the checkpointed position: nothing of the first three days is consumed again.
  ASSERT_TRUE(second.wait_consumed(static_cast<double>(records.size() - split), std::chrono::seconds(90)));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(second.consumed(), static_cast<double>(records.size() - split));
  EXPECT_EQ(second.stop(), 0);

  const auto alerts = testing::read_alerts(
      bootstrap, "gridsentinel-alerts",
      [&](const std::vector<v1::Alert>& got) { return per_entity_ids(got).size() >= expected.size(); },
      std::chrono::seconds(30));
  const auto got = per_entity_ids(alerts);
  std::vector<std::string> missing, extra;
  std::set_difference(expected.begin(), expected.end(), got.begin(), got.end(), std::back_inserter(missing));
  std::set_difference(got.begin(), got.end(), expected.begin(), expected.end(), std::back_inserter(extra));
  EXPECT_TRUE(missing.empty()) << missing.size() << " alerts of the uninterrupted run are missing";
  EXPECT_TRUE(extra.empty()) << extra.size() << " alerts an uninterrupted run would not raise";
}

// A changelog with fewer partitions than the input: checkpoints of the partitions beyond it could never be
// written, and with the changelog on only checkpointed positions are committed, so this thread's offsets
// would never move. The runner stops at its first assignment with its own exit code, having processed
// nothing (as Kafka Streams refuses a changelog whose partition count differs).
TEST(StateChangelog, AChangelogWithFewerPartitionsThanTheInputStopsTheRunner) {
  kafka::MockCluster cluster(1);
  const std::string group = "gs-small";
  for (const std::string t :
       {"meter-readings", "gridsentinel-alerts", "gridsentinel-dead-letters", "gridsentinel-meter-risk"})
    cluster.create_topic(t, kPartitions);
  cluster.create_topic("gs-small-meter-readings-changelog", kPartitions - 1);
  const std::string bootstrap = cluster.bootstrap_servers();
  const auto records = testing::simulated_readings(12, 4, 0, 5);
  produce(bootstrap, records, 0, records.size());
  const config::Config cfg = state_config(bootstrap, group);  // the runner keeps a reference to it
  testing::RunnerThread runner(cfg, bootstrap);
  ASSERT_TRUE(runner.wait_ended(std::chrono::seconds(60)));
  EXPECT_EQ(runner.stop(), pipeline::KafkaRunner::kExitChangelogTooSmall);
  EXPECT_EQ(runner.consumed(), 0.0);
}

TEST(StateChangelog, LatestValuePerKeyWinsAndMalformedStateStartsCold) {
  kafka::MockCluster cluster(1);
  const std::string group = "gs-state2";
  for (const std::string t : {"meter-readings", "gs-state2-meter-readings-changelog", "gridsentinel-alerts",
                              "gridsentinel-dead-letters", "gridsentinel-meter-risk"})
    cluster.create_topic(t, kPartitions);
  const std::string bootstrap = cluster.bootstrap_servers();
  const config::Config cfg = state_config(bootstrap, group);
  const auto records = testing::simulated_readings(12, 2 * 96, 0, 5);
  produce(bootstrap, records, 0, records.size());
  {
    testing::RunnerThread first(cfg, bootstrap);
    ASSERT_TRUE(first.wait_consumed(static_cast<double>(records.size()), std::chrono::seconds(60)));
    EXPECT_EQ(first.stop(), 0);
  }
  // Appended after the real checkpoints, to one partition each: garbage for one meter (it must start cold,
  // counted as refused), a tombstone for another (deleted: it is not restored at all), and on the input's
  // partition 0 a position record as versions before the watermark wrote it (the offset alone), 10 records
  // before that partition's end: it is still a restore point (an upgrade keeps its changelog).
  std::map<std::string, int32_t> partition_of;
  testing::consume_until(
      bootstrap, "gs-state2-meter-readings-changelog",
      [&](const std::vector<testing::OwnedRecord>& recs) {
        for (const auto& r : recs)
          if (r.key.rfind("m:", 0) == 0) partition_of[r.key] = r.partition;
        return partition_of.size() >= 12;
      },
      std::chrono::seconds(20));
  ASSERT_EQ(partition_of.size(), 12u);
  testing::CountingProducer p(bootstrap);
  kafka::Producer raw({{"bootstrap.servers", bootstrap}}, &p);
  auto it = partition_of.begin();
  const std::string garbage = "not a state";
  const std::string_view garbage_view = garbage;
  ASSERT_EQ(raw.produce_to("gs-state2-meter-readings-changelog", it->second, it->first, &garbage_view, 0),
            kafka::Producer::Status::kOk);
  ++it;
  ASSERT_EQ(raw.produce_to("gs-state2-meter-readings-changelog", it->second, it->first, nullptr, 0),
            kafka::Producer::Status::kOk);
  int64_t end0 = 0;
  testing::consume_until(
      bootstrap, "meter-readings",
      [&](const std::vector<testing::OwnedRecord>& recs) {
        for (const auto& r : recs)
          if (r.partition == 0) end0 = std::max(end0, r.offset + 1);
        return recs.size() >= records.size();
      },
      std::chrono::seconds(20));
  ASSERT_GT(end0, 10);
  StateWriter old_position;
  old_position.put<int64_t>(end0 - 10);
  const std::string_view old_position_view = old_position.bytes();
  ASSERT_EQ(raw.produce_to("gs-state2-meter-readings-changelog", 0, "_pos", &old_position_view, 0),
            kafka::Producer::Status::kOk);
  ASSERT_TRUE(raw.flush(10'000));

  testing::RunnerThread second(cfg, bootstrap);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (second.metrics().state().restored_ok->Value() + second.metrics().state().restored_refused->Value() <
             11 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(second.metrics().state().restored_ok->Value(), 10);
  EXPECT_EQ(second.metrics().state().restored_refused->Value(), 1);
  // Partition 0 resumed at the old-format position: its last 10 records consumed again (and skipped, as the
  // restored meters already hold them); every other partition at its end.
  EXPECT_TRUE(second.wait_consumed(10, std::chrono::seconds(30)));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(second.consumed(), 10);
  EXPECT_EQ(second.stop(), 0);
}

// An instance killed after writing some entities of a checkpoint but before its position record leaves state
// newer than the position the next owner resumes at. Replaying from that position must not apply the newer
// entities' records twice (learned twice, episodes reopened): the restored state knows the last offset it
// applied and skips what it already contains. In memory, deterministic: no Kafka needed for the logic.
TEST(StateChangelog, EntitiesNewerThanTheResumePositionDoNotApplyTheirRecordsTwice) {
  const config::Config cfg = state_config("unused:9092", "gs-partial");
  const auto records = testing::simulated_readings(40, 4 * 96, 0.5, 17);
  const auto expected = testing::expected_alert_ids(cfg, records);
  ASSERT_GT(expected.size(), 10u);
  const size_t position = records.size() / 2;  // the last complete checkpoint's position
  const size_t killed_at = position + records.size() / 8;
  const uint64_t home = pipeline::Processor::home_of(0, 0);
  const auto rec_at = [&](size_t i) { return record_at(records, i); };
  const int64_t now = wall_now_ms();

  std::vector<std::string> inputs{"meter-readings"};
  std::map<std::string, std::string> log;  // the changelog as restore sees it: latest value per key
  testing::CollectingEmitter out_a, out_b;
  size_t partial = 0;
  {
    sinks::Metrics metrics(inputs, pipeline::Processor::detector_names());
    pipeline::Processor a(cfg, metrics);
    for (size_t i = 0; i < position; ++i) a.process(rec_at(i), now, out_a);
    a.checkpoint({&home, 1}, true,
                 [&](uint64_t, std::string_view k, const std::string_view* v) { log[std::string(k)] = *v; });
    for (size_t i = position; i < killed_at; ++i) a.process(rec_at(i), now, out_a);
    // Killed while writing its next checkpoint: every other changed entity reached the log, no position.
    size_t n = 0;
    a.checkpoint({&home, 1}, false, [&](uint64_t, std::string_view k, const std::string_view* v) {
      if (n++ % 2 == 0) log[std::string(k)] = *v, ++partial;
    });
  }
  ASSERT_GT(partial, 5u);
  sinks::Metrics metrics(inputs, pipeline::Processor::detector_names());
  pipeline::Processor b(cfg, metrics);
  for (const auto& [k, v] : log) ASSERT_TRUE(b.restore(home, k, v)) << k;
  for (size_t i = position; i < records.size(); ++i) b.process(rec_at(i), now, out_b);
  EXPECT_TRUE(out_a.dead_letters.empty() && out_b.dead_letters.empty());
  EXPECT_GT(metrics.state().replayed_readings->Value(), 0);

  expect_uninterrupted_run_alerts(expected, {&out_a, &out_b});
}

// A periodic checkpoint writes its entities in slices over later loop turns (KafkaRunner), while records go
// on being processed; its position is the one taken when it began. Restoring from that position must give
// exactly the alerts of an uninterrupted run: entities written before their later records were processed
// replay them, entities written after skip what they already contain. In memory, deterministic.
TEST(StateChangelog, ACheckpointWrittenInSlicesBetweenRecordsIsARestorePoint) {
  const config::Config cfg = state_config("unused:9092", "gs-sliced");
  const auto records = testing::simulated_readings(300, 3 * 96, 0.5, 23);
  const auto expected = testing::expected_alert_ids(cfg, records);
  ASSERT_GT(expected.size(), 10u);
  const uint64_t home = pipeline::Processor::home_of(0, 0);
  const auto rec_at = [&](size_t i) { return record_at(records, i); };
  const int64_t now = wall_now_ms();
  std::vector<std::string> inputs{"meter-readings"};
  std::map<std::string, std::string> log;
  const auto to_log = [&](uint64_t h, std::string_view k, const std::string_view* v) {
    EXPECT_EQ(h, home);
    log[std::string(k)] = *v;
  };
  testing::CollectingEmitter out_a, out_b;
  const size_t first = records.size() / 3;     // the previous cycle's position: everything written
  const size_t position = records.size() / 2;  // the sliced cycle begins here
  size_t i = 0, slices = 0, between = 0;
  std::set<std::string> in_cycle;  // entities the sliced cycle wrote
  {
    sinks::Metrics metrics(inputs, pipeline::Processor::detector_names());
    pipeline::Processor a(cfg, metrics);
    for (; i < first; ++i) a.process(rec_at(i), now, out_a);
    a.checkpoint({&home, 1}, false, to_log);
    for (; i < position; ++i) a.process(rec_at(i), now, out_a);
    // The cycle: a slice per "turn" (a deadline already passed: 32 entities a slice), 50 records between.
    pipeline::Processor::CheckpointCursor cursor;
    while (!cursor.done()) {
      a.checkpoint_slice({&home, 1}, cursor, std::chrono::steady_clock::now(),
                         [&](uint64_t h, std::string_view k, const std::string_view* v) {
                           in_cycle.insert(std::string(k));
                           to_log(h, k, v);
                         });
      ++slices;
      for (size_t k = 0; k < 50 && i < records.size(); ++k, ++i, ++between) a.process(rec_at(i), now, out_a);
    }
    // The next cycle would now write this one's position; the instance is killed a little later.
    for (size_t k = 0; k < 500 && i < records.size(); ++k, ++i) a.process(rec_at(i), now, out_a);
  }
  EXPECT_GE(slices, 300u / 32);
  ASSERT_GT(between, 200u);
  EXPECT_EQ(log.size(), 300u);
  EXPECT_EQ(in_cycle.size(), 300u);  // every meter changed between the two cycles: the sliced one wrote each
  sinks::Metrics metrics(inputs, pipeline::Processor::detector_names());
  pipeline::Processor b(cfg, metrics);
  for (const auto& [k, v] : log) ASSERT_TRUE(b.restore(home, k, v)) << k;
  for (size_t j = position; j < records.size(); ++j) b.process(rec_at(j), now, out_b);
  EXPECT_TRUE(out_a.dead_letters.empty() && out_b.dead_letters.empty());
  EXPECT_GT(metrics.state().replayed_readings->Value(), 0);  // entities written after records past `position`

  expect_uninterrupted_run_alerts(expected, {&out_a, &out_b});
}

// Meters that stop reporting are evicted after features.meter.entity_ttl and deleted from the changelog: the
// last record of each one's key is a tombstone, so a restart restores only the meters that still report.
// Four waves of six meters that report once, 24 evictions against at most 12 tombstones waiting
// (limits.max_entities 12): eviction keeps up only if the runner confirms each checkpoint's tombstones.
TEST(StateChangelog, IdleMetersAreDeletedFromTheChangelogByTombstones) {
  kafka::MockCluster cluster(1);
  const std::string group = "gs-evict";
  for (const std::string t : {"meter-readings", "gs-evict-meter-readings-changelog", "gridsentinel-alerts",
                              "gridsentinel-dead-letters", "gridsentinel-meter-risk"})
    cluster.create_topic(t, kPartitions);
  const std::string bootstrap = cluster.bootstrap_servers();
  config::Config cfg = state_config(bootstrap, group);
  cfg.limits.max_entities = 12;
  cfg.meter.entity_ttl_ms = 2 * 86'400'000LL;
  constexpr int64_t kT0 = 1'704'067'200'000, kDay = 86'400'000, kFive = 300'000;
  constexpr int kWaves = 4, kPerWave = 6, kReporters = 4;
  testing::CountingProducer in(bootstrap);
  const auto send = [&](const std::string& meter, int64_t t) {
    v1::MeterReading r;
    r.set_meter_id(meter);
    r.set_event_time_ms(t);
    r.set_voltage_v(230.0);
    r.set_active_power_w(400.0 + static_cast<double>((t / kFive) % 7));
    in.send_to("meter-readings", 0, meter, r.SerializeAsString());
  };
  testing::RunnerThread runner(cfg, bootstrap);
  auto& evicted = runner.metrics().entities_evicted("meter");
  for (int w = 0; w < kWaves; ++w) {
    // The wave's meters report once; four meters go on every five minutes for four days.
    const int64_t from = kT0 + w * 4 * kDay;
    for (int m = 0; m < kPerWave; ++m) send("wave" + std::to_string(w) + "-" + std::to_string(m), from);
    for (int64_t t = from; t < from + 4 * kDay; t += kFive)
      for (int m = 0; m < kReporters; ++m) send("reporter-" + std::to_string(m), t);
    ASSERT_TRUE(in.flush());
    // The wave's meters are idle past the ttl about 2.2 days in (the partition's clock lags by a quarter of
    // its last 1,024 readings' span, 5.3 h here): ~2,000 readings follow, a sweep every 1,024 records.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (evicted.Value() < (w + 1) * kPerWave && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_EQ(evicted.Value(), (w + 1) * kPerWave) << "wave " << w;
    // Two more checkpoints complete: the one that wrote the wave's tombstones is confirmed by the next.
    const double ok = runner.metrics().state().checkpoints_ok->Value();
    while (runner.metrics().state().checkpoints_ok->Value() < ok + 3 &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_GE(runner.metrics().state().checkpoints_ok->Value(), ok + 3) << "wave " << w;
    EXPECT_EQ(runner.metrics().state().tombstones_pending->Value(), 0) << "wave " << w;
  }
  EXPECT_EQ(runner.metrics().active_entities("meter").Value(), kReporters);
  EXPECT_EQ(runner.stop(), 0);

  std::map<std::string, std::string> last;  // key -> its last value ("" = a tombstone)
  testing::consume_until(
      bootstrap, "gs-evict-meter-readings-changelog",
      [&](const std::vector<testing::OwnedRecord>& recs) {
        last.clear();
        for (const auto& r : recs) last[r.key] = r.value;
        size_t gone = 0;
        for (const auto& [k, v] : last) gone += k.rfind("m:wave", 0) == 0 && v.empty() ? 1 : 0;
        return gone == kWaves * kPerWave;
      },
      std::chrono::seconds(20));
  for (int w = 0; w < kWaves; ++w)
    for (int m = 0; m < kPerWave; ++m) {
      const std::string key = "m:wave" + std::to_string(w) + "-" + std::to_string(m);
      ASSERT_EQ(last.count(key), 1u) << key << " was never written";
      EXPECT_TRUE(last[key].empty()) << key << " was not deleted";
    }
  for (int m = 0; m < kReporters; ++m) EXPECT_FALSE(last["m:reporter-" + std::to_string(m)].empty());

  testing::RunnerThread second(cfg, bootstrap);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (second.metrics().state().restored_ok->Value() < kReporters &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(second.metrics().state().restored_ok->Value(), kReporters);
  EXPECT_EQ(second.metrics().active_entities("meter").Value(), kReporters);
  EXPECT_EQ(second.stop(), 0);
}

// A partition restored on a new owner holds the fleet's event time back from the start, as it did on its
// previous owner, until it delivers again. Before its checkpointed watermark was restored with it, a
// restored partition that had not delivered yet did not count: the partitions read ahead of it made every
// one of its meters look silent (after one rebalance at 100k meters: 32,811 false missing_readings alerts).
// Here partition 0 delivers a whole day before partition 1 delivers anything; then both go on and one meter
// really falls silent. The alerts, missing_readings included, must be exactly those of one uninterrupted
// in-memory run over the same partitions in the same order.
TEST(StateChangelog, ARestoredPartitionHoldsTheFleetsEventTimeBackUntilItDelivers) {
  kafka::MockCluster cluster(1);
  const std::string group = "gs-progress";
  for (const std::string t : {"meter-readings", "gs-progress-meter-readings-changelog", "gridsentinel-alerts",
                              "gridsentinel-dead-letters", "gridsentinel-meter-risk"})
    cluster.create_topic(t, 2);
  const std::string bootstrap = cluster.bootstrap_servers();
  const config::Config cfg = state_config(bootstrap, group);

  // 40 meters, 3 days; meters alternate between partitions 0 and 1 in order of first appearance.
  constexpr size_t kMeters = 40, kPerDay = 96 * kMeters;
  const auto records = testing::simulated_readings(kMeters, 3 * 96, 0.5, 31);
  std::map<std::string, int32_t> partition_of;
  for (const auto& r : records)
    partition_of.try_emplace(r.key, static_cast<int32_t>(partition_of.size() % 2));
  ASSERT_EQ(partition_of.size(), kMeters);
  const std::string silent = records[0].key;  // on partition 0: sends nothing on the third day
  // Phases: day 1 (both partitions; the first instance), day 2 of partition 0, day 2 of partition 1 with
  // day 3.
  std::vector<std::vector<size_t>> phases(3);
  for (size_t i = 0; i < records.size(); ++i) {
    if (i < kPerDay) {
      phases[0].push_back(i);
    } else if (i < 2 * kPerDay && partition_of[records[i].key] == 0) {
      phases[1].push_back(i);
    } else if (i < 2 * kPerDay || records[i].key != silent) {
      phases[2].push_back(i);
    }
  }
  const auto counted = [](const v1::Alert& a) {
    return a.detector() != "iforest" && a.detector() != "ks_drift";
  };

  // The oracle: one Processor over the records in phase order, each on its partition at its offset there.
  std::set<std::string> expected;
  size_t expected_missing = 0;
  {
    sinks::Metrics metrics({"meter-readings"}, pipeline::Processor::detector_names());
    pipeline::Processor p(cfg, metrics);
    testing::CollectingEmitter out;
    int64_t offsets[2] = {0, 0};
    for (const auto& phase : phases)
      for (const size_t i : phase) {
        kafka::Record r = record_at(records, i);
        r.partition = partition_of[records[i].key];
        r.offset = offsets[r.partition]++;
        p.process(r, wall_now_ms(), out);
      }
    for (const auto& a : out.alerts)
      if (counted(a)) {
        expected.insert(a.alert_id());
        if (a.anomaly_type() == "missing_readings") {
          ++expected_missing;
          EXPECT_EQ(a.entity_id(), silent);
        }
      }
  }
  ASSERT_EQ(expected_missing, 1u);  // the silent meter, once; nobody else

  const auto produce_phase = [&](const std::vector<size_t>& phase) {
    testing::CountingProducer in(bootstrap);
    for (const size_t i : phase)
      in.send_to(records[i].topic, partition_of[records[i].key], records[i].key, records[i].value);
    ASSERT_TRUE(in.flush());
  };
  produce_phase(phases[0]);
  {
    testing::RunnerThread first(cfg, bootstrap);
    ASSERT_TRUE(first.wait_consumed(static_cast<double>(phases[0].size()), std::chrono::seconds(90)));
    EXPECT_EQ(first.stop(), 0);
  }
  produce_phase(phases[1]);
  {
    testing::RunnerThread second(cfg, bootstrap);
    ASSERT_TRUE(second.wait_consumed(static_cast<double>(phases[1].size()), std::chrono::seconds(90)));
    produce_phase(phases[2]);
    ASSERT_TRUE(second.wait_consumed(static_cast<double>(phases[1].size() + phases[2].size()),
                                     std::chrono::seconds(90)));
    EXPECT_EQ(second.metrics().state().restored_ok->Value(), static_cast<double>(kMeters));
    EXPECT_EQ(second.stop(), 0);
  }
  std::set<std::string> got;
  std::vector<std::string> extra_missing;
  for (const auto& a : testing::read_alerts(
           bootstrap, "gridsentinel-alerts",
           [&](const std::vector<v1::Alert>& all) {
             return static_cast<size_t>(std::count_if(all.begin(), all.end(), counted)) >= expected.size();
           },
           std::chrono::seconds(30))) {
    if (!counted(a)) continue;
    got.insert(a.alert_id());
    if (a.anomaly_type() == "missing_readings" && a.entity_id() != silent)
      extra_missing.push_back(a.entity_id());
  }
  EXPECT_TRUE(extra_missing.empty()) << extra_missing.size()
                                     << " meters reported missing that never were, e.g. "
                                     << (extra_missing.empty() ? "" : extra_missing.front());
  std::vector<std::string> missing, extra;
  std::set_difference(expected.begin(), expected.end(), got.begin(), got.end(), std::back_inserter(missing));
  std::set_difference(got.begin(), got.end(), expected.begin(), expected.end(), std::back_inserter(extra));
  EXPECT_TRUE(missing.empty()) << missing.size() << " alerts of the uninterrupted run are missing";
  EXPECT_TRUE(extra.empty()) << extra.size() << " alerts an uninterrupted run would not raise";
}

}  // namespace
}  // namespace gridsentinel
