// Isolation forest throughput (src/detectors/iforest). The performance target: batch scoring >= 1M points/s
// on one core with 100 trees of 256 samples over 8 features. Build Release, then e.g.
//   build-rel/bench/iforest_bench --benchmark_min_time=1
// Items are points: items_per_second is points/s; the time per iteration of the streaming benchmarks is the
// cost of one update.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "detectors/iforest/IsolationForest.h"
#include "detectors/iforest/RecentScores.h"
#include "detectors/iforest/StreamingIsolationForest.h"

namespace {

using gridsentinel::detectors::IsolationForest;
using gridsentinel::detectors::StreamingIsolationForest;
using RowMatrix = IsolationForest::RowMatrix;

constexpr int kDim = 8;

RowMatrix gaussian(Eigen::Index rows, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  RowMatrix X(rows, kDim);
  for (Eigen::Index i = 0; i < X.size(); ++i) X.data()[i] = normal(gen);
  return X;
}

const IsolationForest& fitted_forest() {
  static const IsolationForest forest = [] {
    IsolationForest f({.n_trees = 100, .max_samples = 256, .seed = 1});
    f.fit(gaussian(100000, 1));
    return f;
  }();
  return forest;
}

// score_samples over a block of points: the batch path (tree-major, 8 points in lockstep).
void BM_BatchScoreSamples(benchmark::State& state) {
  const IsolationForest& forest = fitted_forest();
  const RowMatrix X = gaussian(state.range(0), 2);
  Eigen::VectorXd out(X.rows());
  for (auto _ : state) {
    forest.score_samples(X, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * X.rows());
}
BENCHMARK(BM_BatchScoreSamples)->Arg(1 << 10)->Arg(1 << 16);

// One point at a time (8 trees in lockstep): what a per-record caller gets.
void BM_BatchForestScoreOnePoint(benchmark::State& state) {
  const IsolationForest& forest = fitted_forest();
  const RowMatrix X = gaussian(4096, 3);
  Eigen::Index i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(forest.score({X.data() + i * kDim, kDim}));
    i = (i + 1) & 4095;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BatchForestScoreOnePoint);

void BM_BatchForestAttribution(benchmark::State& state) {
  const IsolationForest& forest = fitted_forest();
  const RowMatrix X = gaussian(4096, 4);
  std::vector<double> share(kDim);
  Eigen::Index i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(forest.score_with_attribution({X.data() + i * kDim, kDim}, share));
    i = (i + 1) & 4095;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BatchForestAttribution);

void BM_BatchFit(benchmark::State& state) {
  const RowMatrix X = gaussian(100000, 5);
  for (auto _ : state) {
    IsolationForest f({.n_trees = 100, .max_samples = 256, .seed = 7});
    f.fit(X);
    benchmark::DoNotOptimize(f.forest().node_count(0));
  }
}
BENCHMARK(BM_BatchFit)->Unit(benchmark::kMillisecond);

StreamingIsolationForest warmed_streaming_forest(const RowMatrix& X) {
  StreamingIsolationForest d({.dim = kDim, .seed = 1});
  for (Eigen::Index i = 0; i < 4096; ++i) d.learn(std::span<const double>(X.data() + i * kDim, kDim));
  return d;
}

// score() alone on a warmed-up streaming forest (window 2048, 100 trees of 256).
void BM_StreamingScore(benchmark::State& state) {
  const RowMatrix X = gaussian(8192, 6);
  const StreamingIsolationForest d = warmed_streaming_forest(X);
  Eigen::Index i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(d.score(std::span<const double>(X.data() + i * kDim, kDim)));
    i = (i + 1) & 8191;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StreamingScore);

// One prequential step, score_then_learn(): the score, the window and standardiser update, the score ring,
// and the amortised regrowth of one tree every window / n_trees = 20 points.
void BM_StreamingUpdate(benchmark::State& state) {
  const RowMatrix X = gaussian(1 << 16, 7);
  StreamingIsolationForest d = warmed_streaming_forest(X);
  Eigen::Index i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(d.score_then_learn(std::span<const double>(X.data() + i * kDim, kDim)));
    i = (i + 1) & ((1 << 16) - 1);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StreamingUpdate);

// The alert threshold's bookkeeping alone: one push into a full ring of `range(0)` recent scores, answering
// quantiles up to range(1) / 10000 (the meter forest's contamination is 5; 10000 keeps every score sorted).
void BM_RecentScoresPush(benchmark::State& state) {
  gridsentinel::detectors::RecentScores ring(static_cast<uint32_t>(state.range(0)),
                                             static_cast<double>(state.range(1)) / 10000.0);
  std::mt19937_64 gen(9);
  std::uniform_real_distribution<double> unit(0.3, 0.8);
  std::vector<double> scores(1 << 16);
  for (double& s : scores) s = unit(gen);
  for (int i = 0; i < state.range(0); ++i) ring.push(scores[static_cast<size_t>(i)]);
  size_t i = 0;
  for (auto _ : state) {
    ring.push(scores[i]);
    i = (i + 1) & ((1 << 16) - 1);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RecentScoresPush)->Args({2048, 5})->Args({2048, 20})->Args({2048, 10000});

// refresh(): all 100 trees regrown from the window, as after a drift.
void BM_StreamingRefresh(benchmark::State& state) {
  const RowMatrix X = gaussian(8192, 8);
  StreamingIsolationForest d = warmed_streaming_forest(X);
  for (auto _ : state) d.refresh();
}
BENCHMARK(BM_StreamingRefresh)->Unit(benchmark::kMicrosecond);

// One tree grown from 256 points of 6 features (the meter forest's shape), with the AVX-512 kernels
// (range(0) = 1) or the portable loops (0): the cost a streaming forest pays every window / n_trees points.
void BM_GrowTree(benchmark::State& state) {
  using gridsentinel::detectors::FlatForest;
  constexpr uint32_t kSamples = 256, kFeatures = 6;
  std::mt19937_64 gen(5);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> sample(size_t{kSamples} * kFeatures);
  for (double& v : sample) v = normal(gen);
  const std::vector<double> tolerance(kFeatures, FlatForest::kSklearnConstantTolerance);
  FlatForest forest;
  forest.reset(16, kSamples, kFeatures);
  forest.set_simd(state.range(0) != 0);
  if (state.range(0) != 0 && !forest.simd()) state.SkipWithError("no AVX-512 on this machine");
  gridsentinel::detectors::Xoshiro256 rng(3);
  uint32_t t = 0;
  for (auto _ : state) {
    forest.grow(t, sample.data(), kSamples, tolerance.data(), rng);
    benchmark::DoNotOptimize(forest.node_count(t));
    t = (t + 1) % 16;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_GrowTree)->ArgName("simd")->Arg(0)->Arg(1)->Arg(0)->Arg(1);

}  // namespace

BENCHMARK_MAIN();
