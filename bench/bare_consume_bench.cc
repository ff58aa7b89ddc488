// The bare consume rate: gridsentinel's own kafka::Consumer (same properties as KafkaRunner's consumer),
// doing nothing but poll, in a fresh consumer group, until `expected` records have arrived. The ceiling that
// `gridsentinel run` is compared against in bench/e2e/run_e2e.sh.
//
//   ./build-bench/bench/bare_consume_bench BOOTSTRAP TOPIC EXPECTED [GROUP]
//
// Also prints poll_lag_ms p50/p99/p999/max: record CreateTime -> polled (meaningful when the topic is
// produced live; BARE_PROPS adds consumer properties, BARE_LAG_SKIP_S skips the first seconds). Prints one
// line of key=value: records, seconds (first record -> last), rate (records/s over that span), cpu_s (process
// CPU over the same span), rate_per_cpu_s, assign_wait_s (subscribe -> first record). Not a Google Benchmark
// (it needs a broker); it has its own main.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "ProcessStats.h"
#include "common/HeapTuning.h"
#include "kafka/KafkaClients.h"
#include "pipeline/KafkaRunner.h"

namespace {

using namespace gridsentinel;
using bench::cpu_seconds;

struct Quiet : kafka::Consumer::Listener {
  void on_assigned(std::vector<kafka::TopicPartition>& p) override {
    std::fprintf(stderr, "assigned %zu partitions\n", p.size());
  }
  void on_revoked(const std::vector<kafka::TopicPartition>&) override {}
  void on_error(std::string_view what, bool fatal) override {
    std::fprintf(stderr, "kafka error%s: %.*s\n", fatal ? " (fatal)" : "", static_cast<int>(what.size()),
                 what.data());
  }
};

}  // namespace

int main(int argc, char** argv) {
  gridsentinel::keep_fetch_buffers_in_heap();  // as gridsentinel itself does
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s BOOTSTRAP TOPIC EXPECTED [GROUP]\n", argv[0]);
    return 2;
  }
  const std::string bootstrap = argv[1], topic = argv[2];
  const uint64_t expected = std::strtoull(argv[3], nullptr, 10);
  const std::string group =
      argc > 4
          ? argv[4]
          : "bare-consume-" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  // The consumer properties KafkaRunner sets (src/pipeline/KafkaRunner.cc), minus offset storing, with its
  // prefetch defaults.
  kafka::Properties props = {{"bootstrap.servers", bootstrap},
                             {"group.id", group},
                             {"client.id", "bare-consume-bench"},
                             {"auto.offset.reset", "earliest"},
                             {"enable.auto.commit", "false"}};
  for (const auto& [key, value] : pipeline::consumer_prefetch_defaults()) props.emplace(key, value);
  // BARE_PROPS="k=v,k=v": extra consumer properties (e.g. fetch.wait.max.ms=1 for the latency floor).
  if (const char* extra = std::getenv("BARE_PROPS")) {
    std::string s = extra;
    for (size_t at = 0; at < s.size();) {
      const size_t end = std::min(s.find(',', at), s.size());
      const std::string kv = s.substr(at, end - at);
      if (const size_t eq = kv.find('='); eq != std::string::npos)
        props[kv.substr(0, eq)] = kv.substr(eq + 1);
      at = end + 1;
    }
  }
  Quiet listener;
  using clock = std::chrono::steady_clock;
  const auto t_sub = clock::now();
  kafka::Consumer consumer(props, {topic}, &listener);
  std::vector<kafka::Record> records;
  uint64_t n = 0, bytes = 0;
  // Record timestamp (CreateTime) -> polled, in ms: the latency floor of the Kafka path when the topic is
  // produced live (bench/e2e/run_e2e.sh (d)); meaningless for a pre-produced topic.
  constexpr size_t kMaxLags = 10'000'000;
  std::vector<int64_t> lags;
  // BARE_LAG_SKIP_S: lags of records polled in the first seconds after the first record are left out (a live
  // producer's start-up: its first records wait for its connection).
  const char* skip_env = std::getenv("BARE_LAG_SKIP_S");
  const auto lag_skip = std::chrono::duration<double>(skip_env ? std::strtod(skip_env, nullptr) : 0.0);
  clock::time_point t_first{}, t_last = clock::now();
  double cpu_first = 0;
  while (n < expected) {
    consumer.poll(records, 10'000, 100);
    if (records.empty()) {
      if (n > 0 && clock::now() - t_last > std::chrono::seconds(20)) {
        std::fprintf(stderr, "stalled at %llu of %llu records\n", static_cast<unsigned long long>(n),
                     static_cast<unsigned long long>(expected));
        break;
      }
      continue;
    }
    if (n == 0) {
      t_first = clock::now();
      cpu_first = cpu_seconds();
    }
    const int64_t wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
    const bool warm = n > 0 && clock::now() - t_first >= lag_skip;
    for (const auto& r : records) {
      bytes += r.value.size();
      if (warm && r.timestamp_ms > 0 && lags.size() < kMaxLags) lags.push_back(wall_ms - r.timestamp_ms);
    }
    n += records.size();
    t_last = clock::now();
  }
  const double secs = std::chrono::duration<double>(t_last - t_first).count();
  const double cpu = cpu_seconds() - cpu_first;
  std::printf(
      "records=%llu bytes=%llu seconds=%.3f rate=%.0f cpu_s=%.3f rate_per_cpu_s=%.0f assign_wait_s=%.2f\n",
      static_cast<unsigned long long>(n), static_cast<unsigned long long>(bytes), secs,
      secs > 0 ? static_cast<double>(n) / secs : 0.0, cpu, cpu > 0 ? static_cast<double>(n) / cpu : 0.0,
      std::chrono::duration<double>(t_first - t_sub).count());
  if (skip_env && !lags.empty()) {  // latency mode only: on a pre-produced topic the lag means nothing
    std::sort(lags.begin(), lags.end());
    const auto q = [&](double f) {
      return lags[std::min(lags.size() - 1, static_cast<size_t>(f * lags.size()))];
    };
    std::printf("poll_lag_ms p50=%lld p99=%lld p999=%lld max=%lld\n", static_cast<long long>(q(0.5)),
                static_cast<long long>(q(0.99)), static_cast<long long>(q(0.999)),
                static_cast<long long>(lags.back()));
  }
  consumer.close();
  return n >= expected ? 0 : 1;
}
