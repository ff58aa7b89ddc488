// The silence tracker under a fleet on one aligned schedule (every meter reads at :00, :15, :30, :45), as the
// pipeline drives it: a reading per meter per round, a drain every 1,000 readings against the fleet's
// watermark (the round's time minus 5 minutes of lateness).
//
//   ./build-perf/bench/silence_bench
//
// Arguments: meters, and the heap entries a drain may take off (0 = no bound, as the pipeline had it before;
// it now allows max(1024, 3 per reading since its last drain), Processor::check_missing: 3000 here, a drain
// every 1,000 readings). Every meter's lazy heap entry comes due at the same moment, every third round; with
// no bound one drain re-queues them all. Counters: max_drain_us is the longest single drain (the stall the
// records behind it wait for), drain_ns_per_reading the drains' total time per reading (what the bound must
// not raise).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <vector>

#include "detectors/rules/SilenceTracker.h"

namespace gridsentinel {
namespace {

constexpr int64_t kStart = 1'546'300'800'000;  // 2019-01-01 00:00 UTC
constexpr uint32_t kInterval = 900'000;        // 15 minutes

void BM_SilenceAlignedFleet(benchmark::State& state) {
  const auto meters = static_cast<uint32_t>(state.range(0));
  const size_t budget =
      state.range(1) == 0 ? std::numeric_limits<size_t>::max() : static_cast<size_t>(state.range(1));
  detectors::SilenceTracker tracker(detectors::SilenceTrackerConfig{.max_meters = meters});
  std::vector<detectors::MissingReport> out;
  int64_t round = 0;
  double max_drain_ns = 0, drain_ns = 0;
  uint64_t readings = 0, since_drain = 0;
  for (auto _ : state) {  // one iteration = one round of the whole fleet
    const int64_t t = kStart + round * int64_t{kInterval};
    for (uint32_t m = 0; m < meters; ++m) {
      tracker.on_reading(m, t, kInterval);
      ++readings;
      if (++since_drain < 1000) continue;
      since_drain = 0;
      out.clear();
      const auto t0 = std::chrono::steady_clock::now();
      tracker.drain_missing(t - 300'000, out, 10'000, budget);
      const double ns =
          std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
      drain_ns += ns;
      max_drain_ns = std::max(max_drain_ns, ns);
      if (!out.empty()) state.SkipWithError("a meter that reads every round was reported missing");
    }
    ++round;
  }
  state.SetItemsProcessed(static_cast<int64_t>(readings));
  state.counters["max_drain_us"] = max_drain_ns / 1000.0;
  state.counters["drain_ns_per_reading"] = drain_ns / static_cast<double>(readings);
  state.counters["heap_entries"] = static_cast<double>(tracker.queued_entries());
}
BENCHMARK(BM_SilenceAlignedFleet)
    ->ArgsProduct({{100'000, 1'000'000}, {0, 3000}})
    ->Iterations(12)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace gridsentinel

BENCHMARK_MAIN();
