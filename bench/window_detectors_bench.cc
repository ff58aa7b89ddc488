// Per-point cost of the rolling-quantile detectors (score + learn, as the pipeline calls them), their
// windows, and the order-statistics structure RollingQuantiles was chosen against.
//
//   cmake -S . -B build-iqr-rel -G Ninja -DCMAKE_BUILD_TYPE=Release
//   cmake --build build-iqr-rel -j2 --target window_detectors_bench
//   ./build-iqr-rel/bench/window_detectors_bench
//
// Counters: bytes_per_entity is the detector's (or window's) memory_bytes() at the end of the run.
#include <benchmark/benchmark.h>

#include <ext/pb_ds/assoc_container.hpp>
#include <ext/pb_ds/tree_policy.hpp>
#include <random>
#include <utility>
#include <vector>

#include "detectors/IqrDetector.h"
#include "detectors/SpikeDetector.h"
#include "features/KllSketch.h"
#include "features/RollingQuantiles.h"
#include "features/SlidingQuantileSketch.h"

namespace gridsentinel {
namespace {

// A pre-drawn stream (noise around a level, 1% spikes), so the benchmarks time the detectors, not the
// generator.
std::vector<double> stream_values() {
  std::mt19937_64 rng(1);
  std::normal_distribution<double> noise(1000.0, 20.0);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<double> out(1 << 16);
  for (auto& v : out) v = noise(rng) + (unit(rng) < 0.01 ? 400.0 : 0.0);
  return out;
}

template <class Detector>
void run_prequential(benchmark::State& state, Detector& d, int64_t step_ms) {
  const auto values = stream_values();
  size_t i = 0;
  int64_t t = 0;
  for (; i < 4 * 4096; ++i, t += step_ms) d.learn({t, values[i & 0xffff]});  // warm: windows full
  double sum = 0;
  for (auto _ : state) {
    const detectors::Point p{t, values[i++ & 0xffff]};
    sum += d.score(p);
    d.learn(p);
    t += step_ms;
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
  state.counters["bytes_per_entity"] = static_cast<double>(d.memory_bytes());
}

// Exact window of N points (5-minute meter readings, window by count).
void BM_IqrExact(benchmark::State& state) {
  detectors::IqrDetector d(
      detectors::IqrConfig{.window_ms = 0, .max_points = static_cast<uint32_t>(state.range(0))});
  run_prequential(state, d, 300'000);
}
BENCHMARK(BM_IqrExact)->Arg(96)->Arg(288)->Arg(1024)->Arg(4096);

// Bucketed window (the default): the default meter shape, 3 days in 24 buckets, 288 points, 15-minute
// readings.
void BM_IqrBucketed(benchmark::State& state) {
  detectors::IqrDetector d(
      detectors::IqrConfig{.window_ms = 3 * 86'400'000LL, .max_points = 288, .buckets = 24});
  run_prequential(state, d, 900'000);
}
BENCHMARK(BM_IqrBucketed);

// Sketched week-long window, 24 buckets, k = 200; arg = seconds between points (10 s: 2,520 points a bucket).
void BM_IqrSketch(benchmark::State& state) {
  detectors::IqrDetector d(detectors::IqrConfig{.window_ms = 7 * 86'400'000LL, .sketch_buckets = 24}, 1);
  const int64_t step_ms = state.range(0) * 1000;
  const auto values = stream_values();
  int64_t t = 0;
  for (size_t i = 0; t < 8 * 86'400'000LL; ++i, t += step_ms)
    d.learn({t, values[i & 0xffff]});  // all buckets full
  run_prequential(state, d, step_ms);
}
BENCHMARK(BM_IqrSketch)->Arg(10)->Arg(60);

void BM_Spike(benchmark::State& state) {
  detectors::SpikeDetector d(detectors::SpikeConfig{.window_points = static_cast<uint32_t>(state.range(0))});
  run_prequential(state, d, 30'000);
}
BENCHMARK(BM_Spike)->Arg(31)->Arg(101);

// One rotation of a full week-long sketch: merge 24 buckets of 2,520 points and read the quartiles.
void BM_SketchRotationMerge(benchmark::State& state) {
  features::SlidingQuantileSketch s(7 * 86'400'000LL, 24, 200, 1);
  const auto values = stream_values();
  size_t i = 0;
  for (int64_t t = 0; t < 8 * 86'400'000LL; t += 10'000) s.add(t, values[i++ & 0xffff]);
  for (auto _ : state) {
    const auto view = s.merged().sorted_view();
    benchmark::DoNotOptimize(view.quantile(0.25) + view.quantile(0.5) + view.quantile(0.75));
  }
  state.counters["bytes_per_entity"] = static_cast<double>(s.memory_bytes());
}
BENCHMARK(BM_SketchRotationMerge)->Unit(benchmark::kMicrosecond);

void BM_KllUpdate(benchmark::State& state) {
  features::KllSketch s(200, 1);
  const auto values = stream_values();
  size_t i = 0;
  for (auto _ : state) s.update(values[i++ & 0xffff]);
  benchmark::DoNotOptimize(s.count());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_KllUpdate);

// --- The choice behind RollingQuantiles: a sorted vector against an O(log N) order-statistics tree. ---
// Both keep a window of N points in arrival order and read three quantiles after every insert.

void BM_OrderStatisticsSortedVector(benchmark::State& state) {
  const auto n = static_cast<uint32_t>(state.range(0));
  features::RollingQuantiles w(n, 0);
  const auto values = stream_values();
  size_t i = 0;
  int64_t t = 0;
  for (; i < n; ++i) w.add(t++, values[i & 0xffff]);
  double sum = 0;
  for (auto _ : state) {
    w.add(t++, values[i++ & 0xffff]);
    const auto q = w.quartiles();
    sum += q.q1 + q.median + q.q3;
  }
  benchmark::DoNotOptimize(sum);
}
BENCHMARK(BM_OrderStatisticsSortedVector)->RangeMultiplier(4)->Range(16, 4096);

void BM_OrderStatisticsTree(benchmark::State& state) {
  // GCC's policy-based red-black tree with subtree sizes; (value, sequence) keys make it a multiset.
  using Tree = __gnu_pbds::tree<std::pair<double, uint64_t>, __gnu_pbds::null_type, std::less<>,
                                __gnu_pbds::rb_tree_tag, __gnu_pbds::tree_order_statistics_node_update>;
  const auto n = static_cast<size_t>(state.range(0));
  const auto values = stream_values();
  std::vector<std::pair<double, uint64_t>> ring(n);
  Tree tree;
  uint64_t seq = 0;
  for (auto& slot : ring) {
    slot = {values[seq & 0xffff], seq};
    tree.insert(slot);
    ++seq;
  }
  size_t head = 0;
  double sum = 0;
  for (auto _ : state) {
    tree.erase(ring[head]);
    ring[head] = {values[seq & 0xffff], seq};
    ++seq;
    tree.insert(ring[head]);
    head = head + 1 == n ? 0 : head + 1;
    sum += tree.find_by_order(n / 4)->first + tree.find_by_order(n / 2)->first +
           tree.find_by_order(3 * n / 4)->first;
  }
  benchmark::DoNotOptimize(sum);
}
BENCHMARK(BM_OrderStatisticsTree)->RangeMultiplier(4)->Range(16, 4096);

}  // namespace
}  // namespace gridsentinel

BENCHMARK_MAIN();
