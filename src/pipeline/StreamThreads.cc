#include "pipeline/StreamThreads.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <exception>
#include <thread>

#include "pipeline/KafkaRunner.h"

namespace gridsentinel::pipeline {

config::Config stream_thread_config(const config::Config& cfg, uint32_t threads) {
  config::Config c = cfg;
  const auto share = [threads](uint32_t total) { return (total + threads - 1) / threads; };
  c.limits.max_entities = share(cfg.limits.max_entities);
  c.limits.max_inflight_records = std::max<uint32_t>(100, share(cfg.limits.max_inflight_records));
  return c;
}

int run_stream_threads(const config::Config& cfg, const std::string& bootstrap, sinks::Metrics& metrics,
                       sinks::HealthState* health, const std::atomic<bool>& stop) {
  const uint32_t n = cfg.kafka.stream_threads;
  if (health) health->loops = static_cast<int>(n);
  if (n <= 1) {
    KafkaRunner runner(cfg, bootstrap, metrics, health, 0);
    return runner.run(stop);
  }
  const config::Config thread_cfg = stream_thread_config(cfg, n);
  // The runners watch their own flag: set on `stop`, or when any of them ends (a failed start, a fatal
  // error). A process never runs on with part of its threads gone: once all have left the group, it hands
  // their partitions to other members, and the orchestrator restarts the process on its exit code.
  std::atomic<bool> stop_all{false};
  std::atomic<uint32_t> running{n};
  std::atomic<int> first_failure{0};  // the exit code of the thread that failed first (the cause)
  std::vector<int> rc(n, 0);
  std::vector<std::exception_ptr> failure(n);
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      try {
        // Built on its own thread: the runner's memory (entity state, its pools' blocks) lives and dies
        // here.
        KafkaRunner runner(thread_cfg, bootstrap, metrics, health, static_cast<int>(i));
        rc[i] = runner.run(stop_all);
      } catch (...) {
        failure[i] = std::current_exception();
        rc[i] = 1;
      }
      if (rc[i] != 0) {
        spdlog::error("stream thread {} ended with exit code {}", i, rc[i]);
        int none = 0;
        first_failure.compare_exchange_strong(none, rc[i]);
      }
      stop_all.store(true);
      running.fetch_sub(1);
    });
  }
  // A thread that begins to stop on an error says so in the health state before its commit and close (which
  // wait for the broker): the others begin their own stop then, not after.
  const auto failing = [health] { return health != nullptr && health->failure_code.load() != 0; };
  while (running.load() == n && !stop.load() && !failing())
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  stop_all.store(true);
  for (auto& t : threads) t.join();
  for (const auto& f : failure)
    if (f) std::rethrow_exception(f);
  // The cause is the thread that began to stop on an error first (the health state says which, before its
  // close), else the first to end with a non-zero code.
  if (health != nullptr && health->failure_code.load() != 0) return health->failure_code.load();
  return first_failure.load();
}

}  // namespace gridsentinel::pipeline
