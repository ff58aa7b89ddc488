// gridsentinel's compute core on the readings of a topic, replayed from memory: the counterpart of the Python
// peer's core figure (bench/peers/python_peer.py), on the same records, for bench/e2e/run_e2e.sh (e).
//
//   ./build-perf/bench/core_replay_bench BOOTSTRAP TOPIC EXPECTED [GROUP]
//
// Reads EXPECTED records of TOPIC into memory (one flat buffer, in the order the consumer returned them),
// then runs them through one Processor with the default config, every default detector on, on this one
// thread: decode, validate, features, detectors, alerts built and serialized (the runner serializes each one
// it produces); no Kafka in the timed part. Record timestamps are the topic's own. Prints one line of
// key=value: records, core_seconds (wall), core_cpu_s (this thread's CPU), core_rate (records per wall
// second), core_rate_per_cpu_s, alerts, dead_letters, entities. Not a Google Benchmark: it needs a broker.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "ProcessStats.h"
#include "config/Config.h"
#include "kafka/KafkaClients.h"
#include "pipeline/Emitter.h"
#include "pipeline/Processor.h"
#include "sinks/Metrics.h"

namespace {

using namespace gridsentinel;

struct Quiet : kafka::Consumer::Listener {
  void on_assigned(std::vector<kafka::TopicPartition>&) override {}
  void on_revoked(const std::vector<kafka::TopicPartition>&) override {}
  void on_error(std::string_view what, bool fatal) override {
    std::fprintf(stderr, "kafka error%s: %.*s\n", fatal ? " (fatal)" : "", static_cast<int>(what.size()),
                 what.data());
  }
};

// The records, copied out of librdkafka's messages: keys and values back to back in one buffer.
struct StoredRecords {
  struct Entry {
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms;
    size_t key_at, key_len, value_at, value_len;
  };
  std::string bytes;
  std::vector<Entry> entries;
};

bool read_topic(const std::string& bootstrap, const std::string& topic, const std::string& group,
                uint64_t expected, StoredRecords& out) {
  kafka::Properties props = {{"bootstrap.servers", bootstrap},
                             {"group.id", group},
                             {"client.id", "core-replay-bench"},
                             {"auto.offset.reset", "earliest"},
                             {"enable.auto.commit", "false"}};
  Quiet listener;
  kafka::Consumer consumer(props, {topic}, &listener);
  out.entries.reserve(expected);
  std::vector<kafka::Record> records;
  auto last = std::chrono::steady_clock::now();
  while (out.entries.size() < expected) {
    consumer.poll(records, 10'000, 100);
    if (records.empty()) {
      if (std::chrono::steady_clock::now() - last > std::chrono::seconds(30)) return false;
      continue;
    }
    last = std::chrono::steady_clock::now();
    for (const auto& r : records) {
      const size_t key_at = out.bytes.size();
      out.bytes.append(r.key);
      const size_t value_at = out.bytes.size();
      out.bytes.append(r.value);
      out.entries.push_back(
          {r.partition, r.offset, r.timestamp_ms, key_at, r.key.size(), value_at, r.value.size()});
    }
  }
  consumer.close();
  return true;
}

class SerializingEmitter : public pipeline::Emitter {
 public:
  void alert(const v1::Alert& a) override {
    ++alerts;
    a.SerializeToString(&buf_);
  }
  void dead_letter(const v1::DeadLetter& d, std::string_view) override {
    ++dead_letters;
    d.SerializeToString(&buf_);
  }
  void risk(const v1::MeterRisk& r) override { r.SerializeToString(&buf_); }
  uint64_t alerts = 0, dead_letters = 0;

 private:
  std::string buf_;
};

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s BOOTSTRAP TOPIC EXPECTED [GROUP]\n", argv[0]);
    return 2;
  }
  const std::string bootstrap = argv[1], topic = argv[2];
  const uint64_t expected = std::strtoull(argv[3], nullptr, 10);
  const std::string group = argc > 4 ? argv[4] : "core-replay-" + std::to_string(bench::wall_now_ms());
  StoredRecords stored;
  if (!read_topic(bootstrap, topic, group, expected, stored)) {
    std::fprintf(stderr, "stalled at %zu of %llu records\n", stored.entries.size(),
                 static_cast<unsigned long long>(expected));
    return 1;
  }

  const config::Config cfg = config::parse_config("", "(defaults)");
  std::vector<std::string> input_topics;
  for (const auto& t : cfg.topics.inputs) input_topics.push_back(t.name);
  sinks::Metrics metrics(input_topics, pipeline::Processor::detector_names());
  pipeline::Processor proc(cfg, metrics);
  SerializingEmitter out;
  const std::string_view input = cfg.topics.inputs.front().name;  // the meter input the readings were for
  const int64_t now = bench::wall_now_ms();
  constexpr size_t kTurn = 10'000;  // records per turn (between metric flushes), as the runner's poll
  std::vector<kafka::Record> turn;
  turn.reserve(kTurn);
  const auto t0 = std::chrono::steady_clock::now();
  const double cpu0 = thread_cpu_seconds();
  for (size_t at = 0; at < stored.entries.size(); at += kTurn) {
    turn.clear();
    for (size_t k = at; k < std::min(at + kTurn, stored.entries.size()); ++k) {
      const auto& e = stored.entries[k];
      const std::string_view bytes(stored.bytes);
      turn.push_back({input, e.partition, e.offset, bytes.substr(e.key_at, e.key_len),
                      bytes.substr(e.value_at, e.value_len), e.timestamp_ms});
    }
    for (size_t i = 0; i < turn.size(); ++i) {  // as KafkaRunner::run
      if (i + 1 < turn.size()) proc.prefetch(turn[i + 1]);
      proc.process(turn[i], now, out);
    }
    proc.flush_metrics();
  }
  proc.flush_metrics();
  const double cpu = thread_cpu_seconds() - cpu0;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto n = static_cast<double>(stored.entries.size());
  std::printf(
      "records=%zu core_seconds=%.3f core_cpu_s=%.3f core_rate=%.0f core_rate_per_cpu_s=%.0f alerts=%llu "
      "dead_letters=%llu entities=%zu\n",
      stored.entries.size(), secs, cpu, secs > 0 ? n / secs : 0.0, cpu > 0 ? n / cpu : 0.0,
      static_cast<unsigned long long>(out.alerts), static_cast<unsigned long long>(out.dead_letters),
      proc.entities(config::InputKind::kMeter));
  return 0;
}
