// BacktestScorer: the score of row t depends on rows <= t only (appending rows never changes earlier scores),
// scores lie in [0, 1], and a gross outlier in a quiet series scores high.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "backtest/BacktestScorer.h"

namespace gridsentinel::backtest {
namespace {

struct Series {
  std::vector<int64_t> t;
  std::vector<double> v;
};

Series make_series(size_t n, uint64_t seed) {
  Series s;
  uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
  int64_t time = 1'400'000'000'000;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const double noise = static_cast<double>(x % 10'000) / 10'000.0 - 0.5;
    double v = 50.0 + 10.0 * std::sin(static_cast<double>(i) * 2.0 * M_PI / 288.0) + 2.0 * noise;
    if (i % 997 == 500) v += 80.0;  // spikes
    if (i > 2500) v += 30.0;        // a level shift
    // Mostly 5-minute steps, with irregular ones, a duplicate stamp and a step backwards.
    time += (i % 131 == 7)    ? 7 * 60 * 1000
            : (i % 401 == 3)  ? 0
            : (i % 523 == 11) ? -60 * 1000
                              : 5 * 60 * 1000;
    s.t.push_back(time);
    s.v.push_back(v);
  }
  return s;
}

TEST(BacktestScorer, AppendingFutureRowsNeverChangesEarlierScores) {
  const Series s = make_series(4000, 7);
  const std::vector<double> full = backtest_score_series(s.t, s.v);
  ASSERT_EQ(full.size(), s.t.size());
  for (size_t prefix : {1u, 15u, 16u, 17u, 300u, 1001u, 2501u, 3999u}) {
    const std::vector<double> part =
        backtest_score_series(std::span(s.t).first(prefix), std::span(s.v).first(prefix));
    ASSERT_EQ(part.size(), prefix);
    for (size_t i = 0; i < prefix; ++i) ASSERT_EQ(part[i], full[i]) << "prefix " << prefix << " row " << i;
  }
  // Changing the future (a different tail) changes nothing before it either.
  Series changed = s;
  for (size_t i = 3000; i < changed.v.size(); ++i) changed.v[i] = -changed.v[i];
  const std::vector<double> other = backtest_score_series(changed.t, changed.v);
  for (size_t i = 0; i < 3000; ++i) ASSERT_EQ(other[i], full[i]) << "row " << i;
}

TEST(BacktestScorer, ScoresAreInUnitIntervalAndOutliersScoreHigh) {
  const Series s = make_series(3000, 11);
  const std::vector<double> scores = backtest_score_series(s.t, s.v);
  for (double x : scores) {
    ASSERT_TRUE(std::isfinite(x));
    ASSERT_GE(x, 0.0);
    ASSERT_LE(x, 1.0);
  }
  EXPECT_GE(scores[1497], 0.5);  // the spikes at i % 997 == 500
  EXPECT_GE(scores[2494], 0.5);
}

TEST(BacktestScorer, AnEpisodeFiresOnceWhileItsScoreKeepsClimbing) {
  // A noisy sine, then a level that drifts away (0.5 per row, noise +-1) for 100 rows and snaps back: the
  // score crosses 0.5 early in the drift, climbs, and jumps again when the level snaps back. With the
  // episode floor the output fires once; without it (floor > 1) the climb and the snap-back fire again.
  Series s;
  uint64_t x = 12345;
  for (size_t i = 0; i < 2000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const double noise = static_cast<double>(x % 10'000) / 10'000.0 - 0.5;
    double v = 50.0 + 10.0 * std::sin(static_cast<double>(i) * 2.0 * M_PI / 288.0) + 2.0 * noise;
    if (i >= 1500 && i < 1600) v += 0.5 * static_cast<double>(i - 1499);
    s.t.push_back(1'400'000'000'000 + static_cast<int64_t>(i) * 300'000);
    s.v.push_back(v);
  }
  const auto fired = [&](const BacktestScorerConfig& cfg, size_t* first) {
    const std::vector<double> scores = backtest_score_series(s.t, s.v, cfg);
    size_t n = 0;
    for (size_t i = 1400; i < 1700; ++i) {
      if (scores[i] >= 0.5 && n++ == 0) *first = i;
    }
    return n;
  };
  size_t first = 0;
  EXPECT_EQ(fired(BacktestScorerConfig{}, &first), 1u);
  EXPECT_GE(first, 1500u);
  EXPECT_LE(first, 1510u);
  BacktestScorerConfig no_floor;
  no_floor.episode_floor = 1.1;
  EXPECT_GT(fired(no_floor, &first), 1u);
}

TEST(BacktestScorer, ThePreviousCombinationIsStillAvailable) {
  BacktestScorerConfig cfg;
  cfg.combine = 1;
  cfg.episode_steps = 600;
  cfg.output_pivot = 0.99;
  cfg.episode_floor = 1.1;
  const Series s = make_series(3000, 11);
  const std::vector<double> scores = backtest_score_series(s.t, s.v, cfg);
  for (double x : scores) {
    ASSERT_GE(x, 0.0);
    ASSERT_LE(x, 1.0);
  }
  EXPECT_GE(scores[1497], 0.5);
}

TEST(BacktestScorer, RejectsInvalidCombinations) {
  BacktestScorerConfig cfg;
  cfg.combine = 3;
  EXPECT_THROW(BacktestScorer{cfg}, std::invalid_argument);
  cfg.combine = 2;
  cfg.knn_dims.clear();
  EXPECT_THROW(BacktestScorer{cfg}, std::invalid_argument);
  cfg.knn_dims = {10};
  cfg.knn_train = 12;  // < dim + k + 2
  EXPECT_THROW(BacktestScorer{cfg}, std::invalid_argument);
}

TEST(BacktestScorer, NonFiniteValuesScoreZeroAndAreNotLearned) {
  const Series s = make_series(1500, 3);
  BacktestScorer a, b;
  for (size_t i = 0; i < s.t.size(); ++i) {
    if (i % 100 == 50) {
      EXPECT_EQ(a.step(s.t[i], std::nan("")), 0.0);
    }
    ASSERT_EQ(a.step(s.t[i], s.v[i]), b.step(s.t[i], s.v[i])) << "row " << i;
  }
}

}  // namespace
}  // namespace gridsentinel::backtest
