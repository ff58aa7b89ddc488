#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "conformance/DetectorConformance.h"
#include "detectors/EpisodeTracker.h"
#include "detectors/ZScoreDetector.h"

namespace gridsentinel::detectors {

using testing::Labelled;

struct ZScoreTraits {
  using Detector = ZScoreDetector;
  using Input = Point;
  static Detector make(uint64_t) {
    return ZScoreDetector(ZScoreConfig{.window_ms = 3'600'000, .buckets = 12});
  }
  static std::vector<Labelled<Input>> fixture(uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> noise(0.0, 1.0);
    std::vector<Labelled<Input>> out;
    for (int i = 0; i < 600; ++i) {
      const bool anomaly = i > 100 && rng() % 25 == 0;
      out.push_back({{i * 60'000LL, 50.0 + noise(rng) + (anomaly ? 8.0 : 0.0)}, anomaly});
    }
    return out;
  }
  static Input with_nan(const Input& like) { return {like.time_ms, std::nan("")}; }
  static constexpr double kMinAuc = 0.9;
};

}  // namespace gridsentinel::detectors

namespace gridsentinel::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(ZScore, DetectorConformance, ::testing::Types<detectors::ZScoreTraits>);
}

namespace gridsentinel::detectors {
namespace {

TEST(ZScoreDetector, ScoresZeroDuringWarmUp) {
  ZScoreDetector d(ZScoreConfig{.min_samples = 10});
  for (int i = 0; i < 9; ++i) {
    EXPECT_EQ(d.score({i * 1000LL, i == 8 ? 1e9 : 1.0}), 0.0);
    d.learn({i * 1000LL, 1.0 + 0.01 * i});
  }
  d.learn({9000, 1.0});
  EXPECT_GT(d.score({10'000, 1e9}), 0.9);
}

TEST(ZScoreDetector, FlatSeriesNeverDividesByZero) {
  ZScoreDetector d(ZScoreConfig{.min_samples = 4, .std_floor_abs = 0.5, .std_floor_rel = 0});
  for (int i = 0; i < 100; ++i) d.learn({i * 1000LL, 7.0});
  EXPECT_EQ(d.score({101'000, 7.0}), 0.0);
  EXPECT_TRUE(std::isfinite(d.score({101'000, 7.1})));
  EXPECT_LT(d.score({101'000, 7.4}), 0.5);   // within the floor: noise, not an anomaly
  EXPECT_GT(d.score({101'000, 10.0}), 0.5);  // 6 floors away
  const auto [lo, hi] = d.expected_range();
  EXPECT_DOUBLE_EQ(lo, 7.0 - 4 * 0.5);
  EXPECT_DOUBLE_EQ(hi, 7.0 + 4 * 0.5);
}

TEST(ZScoreDetector, ScoreIsHalfAtThreshold) {
  ZScoreDetector d(ZScoreConfig{.min_samples = 2, .threshold = 4.0, .std_floor_abs = 0, .std_floor_rel = 0});
  d.learn({0, 9.0});
  d.learn({1, 11.0});  // mean 10, std sqrt(2)
  EXPECT_NEAR(d.score({2, 10.0 + 4.0 * std::sqrt(2.0)}), 0.5, 1e-12);
  EXPECT_LT(d.signed_z(0.0), 0.0);
}

TEST(EpisodeTracker, ReportsOncePerEpisodeThenAgainAfterCooldown) {
  EpisodeTracker e;
  const int64_t cooldown = 60'000;
  EXPECT_TRUE(e.should_report(1, 0, cooldown));
  EXPECT_FALSE(e.should_report(1, 10'000, cooldown));
  EXPECT_FALSE(e.should_report(1, 59'999, cooldown));
  EXPECT_TRUE(e.should_report(2, 59'999, cooldown));  // a different condition is a new episode
  EXPECT_TRUE(e.should_report(1, 60'000, cooldown));
  EXPECT_FALSE(e.should_report(1, 30'000, cooldown));  // out of order, within the cool-down: same episode
  EXPECT_TRUE(e.should_report(1, 200'000, cooldown));
}

TEST(EpisodeTracker, PacksTimeAndTypeIntoOneWordLosslessly) {
  EpisodeTracker e;
  EXPECT_EQ(e.last_report_ms(), std::numeric_limits<int64_t>::min());  // never reported
  EXPECT_EQ(e.last_type(), 0);
  for (const int64_t t : {int64_t{0}, int64_t{-1}, int64_t{1'700'000'000'000}, int64_t{-86'400'000},
                          (int64_t{1} << 55) - 1, -(int64_t{1} << 55) + 1}) {
    for (const uint8_t type : {uint8_t{0}, uint8_t{1}, uint8_t{255}}) {
      e.restore(type, t);
      EXPECT_EQ(e.last_report_ms(), t);
      EXPECT_EQ(e.last_type(), type);
    }
  }
  e.restore(7, std::numeric_limits<int64_t>::min());
  EXPECT_EQ(e.last_report_ms(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(e.last_type(), 7);
  // Times beyond 56 bits are clamped: they still report, and repeats there are one episode.
  EpisodeTracker far;
  EXPECT_TRUE(far.should_report(1, std::numeric_limits<int64_t>::max(), 1000));
  EXPECT_FALSE(far.should_report(1, std::numeric_limits<int64_t>::max() - 10, 1000));
  EXPECT_EQ(far.last_report_ms(), (int64_t{1} << 55) - 1);
}

}  // namespace
}  // namespace gridsentinel::detectors
