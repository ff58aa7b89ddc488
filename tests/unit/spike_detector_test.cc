// SpikeDetector: the conformance suite, robust z against a brute-force median/MAD, and spike vs level shift.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <random>
#include <vector>

#include "conformance/DetectorConformance.h"
#include "detectors/SpikeDetector.h"

namespace gridsentinel::detectors {
namespace {

using testing::Labelled;

struct SpikeTraits {
  using Detector = SpikeDetector;
  using Input = Point;
  static Detector make(uint64_t) { return SpikeDetector(SpikeConfig{}); }
  // Infra metric every 30 s around 100 with sigma 2, and single-point spikes of 8-15 sigma on about 2% of
  // points.
  static std::vector<Labelled<Input>> fixture(uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> noise(0.0, 2.0);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    std::vector<Labelled<Input>> out;
    for (int i = 0; i < 1200; ++i) {
      const bool anomaly = i > 40 && unit(rng) < 0.02;
      double v = 100.0 + noise(rng);
      if (anomaly) v += (unit(rng) < 0.5 ? -1 : 1) * 2.0 * (8.0 + 7.0 * unit(rng));
      out.push_back({{i * 30'000LL, v}, anomaly});
    }
    return out;
  }
  static Input with_nan(const Input& like) { return {like.time_ms, std::nan("")}; }
  static constexpr double kMinAuc = 0.95;
};

}  // namespace
}  // namespace gridsentinel::detectors

namespace gridsentinel::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(Spike, DetectorConformance, ::testing::Types<detectors::SpikeTraits>);
}

namespace gridsentinel::detectors {
namespace {

// Feeds `n` noisy points around `level` from time `t`, one a second; returns the next time.
int64_t feed(SpikeDetector& d, std::mt19937_64& rng, int64_t t, int n, double level, double sigma = 1.0) {
  std::normal_distribution<double> noise(0.0, sigma);
  for (int i = 0; i < n; ++i, t += 1000) d.learn({t, level + noise(rng)});
  return t;
}

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

TEST(SpikeDetector, RobustZMatchesBruteForceMedianAndMad) {
  const SpikeConfig cfg{.window_points = 20, .min_samples = 5, .scale_floor_abs = 1e-6, .scale_floor_rel = 0};
  SpikeDetector d(cfg);
  std::mt19937_64 rng(1);
  std::student_t_distribution<double> heavy(2.0);
  std::vector<double> history;
  for (int i = 0; i < 500; ++i) {
    const double v =
        i % 40 < 8 ? 3.0 : std::round(heavy(rng) * 10) / 10;  // heavy tails, ties, flat stretches
    if (history.size() >= 5) {
      const std::vector<double> window(history.end() - std::min<std::ptrdiff_t>(20, std::ssize(history)),
                                       history.end());
      const double m = median_of(window);
      std::vector<double> dev;
      for (double x : window) dev.push_back(std::abs(x - m));
      const double scale = std::max(1.4826 * median_of(dev), 1e-6);
      // The window keeps floats: median within 2^-23 M and MAD within 2^-22 M of the exact ones, M the
      // window's largest magnitude (MedianWindow.h).
      double biggest = 0;
      for (double x : window) biggest = std::max(biggest, std::abs(x));
      const double dm = 0x1p-23 * biggest, ds = 1.4826 * 0x1p-22 * biggest;
      const double z = std::abs(v - m) / scale;
      ASSERT_NEAR(d.scale(), scale, ds + 1e-12) << i;
      ASSERT_NEAR(d.robust_z(v), z, (dm + z * ds) / std::max(scale - ds, 1e-6) + 1e-9 * (1 + z)) << i;
    } else {
      ASSERT_EQ(d.score({i, v}), 0.0);
    }
    d.learn({i, v});
    history.push_back(v);
  }
}

TEST(SpikeDetector, SingleSpikeIsFlaggedAtOnceAndClassifiedSpike) {
  SpikeDetector d(SpikeConfig{.confirm_points = 5});
  std::mt19937_64 rng(2);
  int64_t t = feed(d, rng, 0, 60, 100.0);
  const Point spike{t, 130.0};  // 30 sigma
  const double at_spike = d.score(spike);
  EXPECT_GT(at_spike, 0.8);  // the alert can fire now
  d.learn(spike);
  EXPECT_EQ(d.pending_since_ms(), spike.time_ms);
  EXPECT_FALSE(d.resolved().has_value());
  t += 1000;
  for (int i = 0; i < 4; ++i) {
    t = feed(d, rng, t, 1, 100.0);
    EXPECT_FALSE(d.resolved().has_value()) << "decided before confirm_points later points";
  }
  t = feed(d, rng, t, 1, 100.0);
  ASSERT_TRUE(d.resolved().has_value());
  const SpikeVerdict v = *d.resolved();
  EXPECT_EQ(v.kind, SpikeKind::kSpike);
  EXPECT_EQ(v.time_ms, spike.time_ms);
  EXPECT_EQ(v.value, 130.0);
  EXPECT_EQ(v.score, at_spike);
  EXPECT_NEAR(v.baseline, 100.0, 0.5);
  EXPECT_NEAR(v.level_after, 100.0, 3.0);
  EXPECT_EQ(v.away_points, 1u);
  EXPECT_FALSE(d.pending_since_ms().has_value());
  feed(d, rng, t, 1, 100.0);
  EXPECT_FALSE(d.resolved().has_value());  // reported once
}

TEST(SpikeDetector, WithLevelPointsASpikeAfterAFallingStretchIsJudgedAgainstItsNeighbours) {
  // A daily load falling from an evening peak (1200) to night (300): the 31-point median is still high, so
  // 4x the night level barely stands out from it; against the previous reading it is a clear spike.
  const auto run = [](uint32_t level_points) {
    SpikeDetector d(SpikeConfig{.threshold = 3.0,
                                .scale_floor_abs = 50.0,
                                .scale_floor_rel = 0.75,
                                .confirm_points = 2,
                                .return_fraction = 0.3,
                                .level_points = level_points});
    int64_t t = 0;
    for (int i = 0; i < 20; ++i, t += 900'000) d.learn({t, 1200.0 + (i % 3) * 10.0});
    for (int i = 0; i < 12; ++i, t += 900'000) d.learn({t, 300.0 + (i % 3) * 10.0});
    const double z = d.robust_z(1500.0, t);
    d.learn({t, 1500.0});
    d.learn({t + 900'000, 310.0});
    d.learn({t + 1'800'000, 300.0});
    return std::pair{z, d.resolved()};
  };
  const auto [z_window, v_window] = run(0);
  EXPECT_LT(z_window, 3.0);
  EXPECT_FALSE(v_window.has_value());
  const auto [z_local, v_local] = run(1);
  EXPECT_GT(z_local, 3.0);
  ASSERT_TRUE(v_local.has_value());
  EXPECT_EQ(v_local->kind, SpikeKind::kSpike);
  EXPECT_NEAR(v_local->baseline, 300.0, 20.0);
}

TEST(SpikeDetector, DailyStepProfileRaisesTheScaleWhereTheSeriesNormallyMovesAndSurvivesRestore) {
  // Hour 10 of every day swings by 400 between readings; other hours by 10. After a few days a jump of 500 at
  // 10:00 is ordinary, at 02:00 it is not.
  const SpikeConfig cfg{.threshold = 3.0,
                        .scale_floor_abs = 50.0,
                        .scale_floor_rel = 0.0,
                        .confirm_points = 2,
                        .level_points = 1,
                        .daily_step_buckets = 24,
                        .daily_step_factor = 2.0};
  SpikeDetector d(cfg);
  const int64_t step = 900'000;
  int64_t t = 0;
  for (int i = 0; i < 5 * 96; ++i, t += step) {
    const bool swinging = (i % 96) / 4 == 10;
    d.learn({t, 1000.0 + (swinging ? (i % 2) * 400.0 : (i % 2) * 10.0)});
  }
  const int64_t day = 86'400'000, at10 = 5 * day + 10 * 3'600'000, at02 = 5 * day + 2 * 3'600'000;
  EXPECT_LT(d.scale_at(at02), 60.0);
  EXPECT_GT(d.scale_at(at10), 300.0);  // converging on 2 x the ~400 steps (4 per day, weight 0.1)
  SpikeDetector r(cfg);
  ASSERT_TRUE(r.restore(d.save()));
  EXPECT_EQ(r.scale_at(at10), d.scale_at(at10));
  EXPECT_EQ(r.save(), d.save());
}

TEST(SpikeDetector, SpikeThatReturnsWithinConfirmPointsIsASpike) {
  SpikeDetector d(SpikeConfig{.confirm_points = 6});
  std::mt19937_64 rng(3);
  int64_t t = feed(d, rng, 0, 60, 100.0);
  t = feed(d, rng, t, 3, 160.0);  // three points up, then back
  t = feed(d, rng, t, 4, 100.0);
  ASSERT_TRUE(d.resolved().has_value());
  EXPECT_EQ(d.resolved()->kind, SpikeKind::kSpike);
  EXPECT_EQ(d.resolved()->away_points, 3u);
}

// A spike on top of a rising load lands on a level above the old one but far below the spike: a level shift
// by return_z alone, a spike once return_fraction accepts "fell back by most of the jump". A lasting step
// stays a level shift either way.
TEST(SpikeDetector, ReturnFractionJudgesASpikeOnARisingLevelBySizeOfTheFallBack) {
  for (const double fraction : {0.0, 0.3}) {
    SCOPED_TRACE(fraction);
    const SpikeConfig cfg{.confirm_points = 2, .return_fraction = fraction};
    SpikeDetector spike(cfg), step(cfg);
    std::mt19937_64 rng(5);
    int64_t t = feed(spike, rng, 0, 60, 100.0);
    feed(step, rng, 0, 60, 100.0);
    spike.learn({t, 300.0});  // the spike: +200 (about 40 of its scales)
    step.learn({t, 300.0});
    t += 1000;
    t = feed(spike, rng, t, 2, 130.0);  // the load rose meanwhile: 30 above the old level, 15% of the jump
    feed(step, rng, t, 2, 295.0);       // a step: it stays up
    ASSERT_TRUE(spike.resolved().has_value());
    ASSERT_TRUE(step.resolved().has_value());
    EXPECT_EQ(spike.resolved()->kind, fraction > 0 ? SpikeKind::kSpike : SpikeKind::kLevelShift);
    EXPECT_EQ(step.resolved()->kind, SpikeKind::kLevelShift);
  }
}

TEST(SpikeDetector, StepIsALevelShiftAndStopsBeingFlaggedOnceTheWindowAdapts) {
  SpikeDetector d(SpikeConfig{.window_points = 31, .confirm_points = 5});
  std::mt19937_64 rng(4);
  std::normal_distribution<double> noise(0.0, 1.0);
  int64_t t = feed(d, rng, 0, 60, 100.0);
  std::vector<SpikeVerdict> verdicts;
  int flagged = 0, last_flagged = -1;
  for (int i = 0; i < 80; ++i, t += 1000) {  // the level steps to 120 and stays; learning continues
    const Point p{t, 120.0 + noise(rng)};
    if (d.score(p) >= 0.5) {
      ++flagged;
      last_flagged = i;
    }
    d.learn(p);
    if (d.resolved()) verdicts.push_back(*d.resolved());
  }
  ASSERT_EQ(verdicts.size(), 1u) << "one verdict for the episode";
  EXPECT_EQ(verdicts[0].kind, SpikeKind::kLevelShift);
  EXPECT_NEAR(verdicts[0].level_after, 120.0, 2.0);
  EXPECT_EQ(verdicts[0].away_points, 6u);
  EXPECT_GE(flagged, 10);       // flagged while the old level holds the median
  EXPECT_LE(last_flagged, 20);  // normal once half the window (16 points) is at the new level
}

TEST(SpikeDetector, FlatSeriesNeverDividesByZero) {
  SpikeDetector d(SpikeConfig{.scale_floor_abs = 0.1, .scale_floor_rel = 0});
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(d.score({i * 1000LL, 42.0}), 0.0);
    d.learn({i * 1000LL, 42.0});
  }
  EXPECT_DOUBLE_EQ(d.scale(), 0.1);            // MAD 0: the floor
  EXPECT_LT(d.score({100'000, 42.3}), 0.5);    // 3 floors: a wiggle
  EXPECT_GT(d.score({100'000, 43.0}), 0.5);    // 10 floors
  EXPECT_GT(d.score({100'000, 1e308}), 0.99);  // the distance overflows to inf: still a score, not NaN
  EXPECT_GT(d.score({100'000, -1e308}), 0.99);
  EXPECT_FALSE(d.pending_since_ms().has_value());
}

TEST(SpikeDetector, ScoresZeroAndOpensNoCandidateDuringWarmUp) {
  SpikeDetector d(SpikeConfig{.min_samples = 10});
  for (int i = 0; i < 9; ++i) {
    EXPECT_EQ(d.score({i * 1000LL, i == 5 ? 1e6 : 1.0}), 0.0);
    d.learn({i * 1000LL, i == 5 ? 1e6 : 1.0 + 0.01 * i});
  }
  EXPECT_FALSE(d.pending_since_ms().has_value());
  d.learn({9000, 1.0});
  EXPECT_TRUE(d.warmed_up());
  EXPECT_GT(d.score({10'000, 1e6}), 0.99);
}

TEST(SpikeDetector, NanAndLatePointsDoNotCountAsConfirmation) {
  SpikeDetector d(SpikeConfig{.confirm_points = 2});
  std::mt19937_64 rng(5);
  int64_t t = feed(d, rng, 0, 40, 100.0);
  d.learn({t, 150.0});
  ASSERT_TRUE(d.pending_since_ms().has_value());
  d.learn({t + 1000, std::nan("")});
  d.learn({t - 5000, 100.0});  // older than the candidate: learned, but it says nothing about what came after
  EXPECT_TRUE(d.pending_since_ms().has_value());
  d.learn({t + 2000, 100.0});
  EXPECT_FALSE(d.resolved().has_value());
  d.learn({t + 3000, 100.0});
  ASSERT_TRUE(d.resolved().has_value());
  EXPECT_EQ(d.resolved()->kind, SpikeKind::kSpike);
}

TEST(SpikeDetector, SaveRestoreCarriesAPendingCandidateToTheSameVerdict) {
  SpikeDetector a(SpikeConfig{.confirm_points = 5});
  std::mt19937_64 rng(6);
  int64_t t = feed(a, rng, 0, 50, 100.0);
  a.learn({t, 140.0});
  t = feed(a, rng, t + 1000, 2, 140.0);
  ASSERT_TRUE(a.pending_since_ms().has_value());

  SpikeDetector b(SpikeConfig{.confirm_points = 5});
  ASSERT_TRUE(b.restore(a.save()));
  EXPECT_EQ(b.save(), a.save());
  std::mt19937_64 rng_a(7), rng_b(7);
  feed(a, rng_a, t, 3, 140.0);
  feed(b, rng_b, t, 3, 140.0);
  ASSERT_TRUE(a.resolved().has_value());
  ASSERT_TRUE(b.resolved().has_value());
  EXPECT_EQ(b.resolved()->kind, SpikeKind::kLevelShift);
  EXPECT_EQ(a.resolved()->level_after, b.resolved()->level_after);
  EXPECT_EQ(a.resolved()->away_points, b.resolved()->away_points);

  SpikeDetector other(SpikeConfig{.window_points = 21});
  EXPECT_FALSE(other.restore(a.save()));
}

}  // namespace
}  // namespace gridsentinel::detectors
