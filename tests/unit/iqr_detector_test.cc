// IqrDetector: the conformance suite in its three window modes, and Tukey's fences against a brute-force
// computation (exactly for the exact window, within the 16-bit codes' stated bound for the bucketed one).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "conformance/DetectorConformance.h"
#include "detectors/IqrDetector.h"
#include "features/BucketedQuantiles.h"

namespace gridsentinel::detectors {
namespace {

using testing::Labelled;

// A meter's power around 1 kW with Gaussian noise, and 6-12 sigma excursions (either way) on about 3% of
// points.
std::vector<Labelled<Point>> noisy_level_with_excursions(uint64_t seed, int points, int64_t step_ms,
                                                         int quiet) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, 20.0);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<Labelled<Point>> out;
  for (int i = 0; i < points; ++i) {
    const bool anomaly = i > quiet && unit(rng) < 0.03;
    double v = 1000.0 + noise(rng);
    if (anomaly) v += (unit(rng) < 0.5 ? -1 : 1) * 20.0 * (6.0 + 6.0 * unit(rng));
    out.push_back({{i * step_ms, v}, anomaly});
  }
  return out;
}

struct IqrExactTraits {
  using Detector = IqrDetector;
  using Input = Point;
  static Detector make(uint64_t seed) {
    return IqrDetector(IqrConfig{.max_points = 288, .buckets = 0}, seed);
  }
  static std::vector<Labelled<Input>> fixture(uint64_t seed) {
    return noisy_level_with_excursions(seed, 1500, 300'000, 50);  // 5-minute meter readings
  }
  static Input with_nan(const Input& like) { return {like.time_ms, std::nan("")}; }
  static constexpr double kMinAuc = 0.95;
};

// The default meter shape: a day in 24 one-hour buckets, 5-minute readings (12 a bucket).
struct IqrBucketedTraits {
  using Detector = IqrDetector;
  using Input = Point;
  static Detector make(uint64_t seed) {
    return IqrDetector(IqrConfig{.window_ms = 86'400'000LL, .max_points = 288, .buckets = 24}, seed);
  }
  static std::vector<Labelled<Input>> fixture(uint64_t seed) {
    return noisy_level_with_excursions(seed, 1500, 300'000, 50);
  }
  static Input with_nan(const Input& like) { return {like.time_ms, std::nan("")}; }
  static constexpr double kMinAuc = 0.95;
};

struct IqrSketchTraits {
  using Detector = IqrDetector;
  using Input = Point;
  static Detector make(uint64_t seed) {
    return IqrDetector(IqrConfig{.window_ms = 6 * 3'600'000LL, .sketch_buckets = 12, .min_samples = 32},
                       seed);
  }
  static std::vector<Labelled<Input>> fixture(uint64_t seed) {
    return noisy_level_with_excursions(seed, 3000, 60'000, 60);  // a minute apart, 30 a bucket
  }
  static Input with_nan(const Input& like) { return {like.time_ms, std::nan("")}; }
  static constexpr double kMinAuc = 0.95;
};

}  // namespace
}  // namespace gridsentinel::detectors

namespace gridsentinel::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(IqrExact, DetectorConformance, ::testing::Types<detectors::IqrExactTraits>);
INSTANTIATE_TYPED_TEST_SUITE_P(IqrBucketed, DetectorConformance,
                               ::testing::Types<detectors::IqrBucketedTraits>);
INSTANTIATE_TYPED_TEST_SUITE_P(IqrSketch, DetectorConformance, ::testing::Types<detectors::IqrSketchTraits>);
}  // namespace gridsentinel::testing

namespace gridsentinel::detectors {
namespace {

double type7(const std::vector<double>& sorted, double q) {
  const double h = static_cast<double>(sorted.size() - 1) * q;
  const auto lo = static_cast<size_t>(h);
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

TEST(IqrDetector, FencesMatchBruteForceOverTheExactWindow) {
  const IqrConfig cfg{.window_ms = 0,
                      .max_points = 40,
                      .min_samples = 5,
                      .k = 1.5,
                      .iqr_floor_abs = 0.2,
                      .iqr_floor_rel = 0.01};
  IqrDetector d(cfg);
  std::mt19937_64 rng(1);
  std::lognormal_distribution<double> skewed(2.0, 0.8);
  std::vector<double> history;
  for (int i = 0; i < 400; ++i) {
    const double v = i % 50 < 10 ? 12.0 : std::round(skewed(rng) * 4) / 4;  // flat stretches and ties
    const double s = d.score({i, v});
    d.learn({i, v});
    history.push_back(v);
    std::vector<double> window(history.end() - std::min<std::ptrdiff_t>(40, std::ssize(history)),
                               history.end());
    std::sort(window.begin(), window.end());
    if (window.size() < 5) {
      ASSERT_FALSE(d.fences().has_value());
      ASSERT_EQ(s, 0.0);
      continue;
    }
    const double q1 = type7(window, 0.25), median = type7(window, 0.5), q3 = type7(window, 0.75);
    const double iqr = std::max({q3 - q1, 0.2, 0.01 * std::abs(median)});
    const auto f = d.fences();
    ASSERT_TRUE(f.has_value()) << i;
    ASSERT_DOUBLE_EQ(f->quartiles.q1, q1) << i;
    ASSERT_DOUBLE_EQ(f->quartiles.median, median) << i;
    ASSERT_DOUBLE_EQ(f->quartiles.q3, q3) << i;
    ASSERT_DOUBLE_EQ(f->iqr, iqr) << i;
    ASSERT_DOUBLE_EQ(f->lower, q1 - 1.5 * iqr) << i;
    ASSERT_DOUBLE_EQ(f->upper, q3 + 1.5 * iqr) << i;
    for (double probe : {q1 - 4 * iqr, q1 - iqr, median, q3 + 0.7 * iqr, q3 + 1.5 * iqr, q3 + 9 * iqr}) {
      const double dist = probe > q3 ? (probe - q3) / iqr : probe < q1 ? (q1 - probe) / iqr : 0.0;
      ASSERT_NEAR(d.score({i + 1, probe}), squash(dist, 0.0, 1.5), 1e-12) << i;
    }
  }
}

TEST(IqrDetector, ScoreIsHalfAtTheFenceAndRisesBeyondIt) {
  IqrDetector d(
      IqrConfig{.window_ms = 0, .max_points = 5, .min_samples = 5, .iqr_floor_abs = 0, .iqr_floor_rel = 0});
  for (int i = 0; i < 5; ++i) d.learn({i, static_cast<double>(i)});  // 0..4: Q1 1, Q3 3, IQR 2
  const auto f = d.fences();
  ASSERT_TRUE(f.has_value());
  EXPECT_DOUBLE_EQ(f->lower, -2.0);
  EXPECT_DOUBLE_EQ(f->upper, 6.0);
  EXPECT_EQ(d.score({5, 2.0}), 0.0);
  EXPECT_NEAR(d.score({5, 6.0}), 0.5, 1e-12);
  EXPECT_NEAR(d.score({5, -2.0}), 0.5, 1e-12);
  EXPECT_LT(d.score({5, 5.9}), 0.5);
  EXPECT_NEAR(d.score({5, 9.0}), 2.0 / 3.0, 1e-12);  // 2k IQRs out
  EXPECT_GT(d.score({5, 1e6}), 0.99);
}

TEST(IqrDetector, FlatSeriesNeverDividesByZeroAndIgnoresTinyWiggles) {
  for (const double level : {230.0, 0.0}) {
    IqrDetector d(IqrConfig{
        .max_points = 64, .buckets = 0, .min_samples = 8, .iqr_floor_abs = 0.01, .iqr_floor_rel = 0.01});
    for (int i = 0; i < 200; ++i) {
      const Point p{i * 1000LL, level};
      ASSERT_EQ(d.score(p), 0.0);
      d.learn(p);
    }
    const double floor = std::max(0.01, 0.01 * level);
    EXPECT_DOUBLE_EQ(d.fences()->iqr, floor);
    EXPECT_LT(d.score({200'000, level + 1.4 * floor}), 0.5);  // inside the floored fence
    EXPECT_GE(d.score({200'000, level + 1.6 * floor}), 0.5);
    EXPECT_GT(d.score({200'000, 1e308}), 0.99);
    EXPECT_GT(d.score({200'000, -1e308}), 0.99);
  }
}

TEST(IqrDetector, ScoresZeroUntilMinSamples) {
  IqrDetector d(IqrConfig{.buckets = 0, .min_samples = 10});
  for (int i = 0; i < 9; ++i) {
    EXPECT_FALSE(d.warmed_up());
    EXPECT_EQ(d.score({i * 1000LL, 1e9}), 0.0);
    d.learn({i * 1000LL, 1.0 + 0.1 * i});
  }
  d.learn({9000, 1.0});
  EXPECT_TRUE(d.warmed_up());
  EXPECT_GT(d.score({10'000, 1e9}), 0.99);
}

TEST(IqrDetector, StepIsFlaggedThenAdoptedOnceTheWindowHoldsTheNewLevel) {
  IqrDetector d(IqrConfig{.max_points = 48, .buckets = 0, .min_samples = 16});
  std::mt19937_64 rng(3);
  std::normal_distribution<double> noise(0.0, 1.0);
  for (int i = 0; i < 100; ++i) d.learn({i * 1000LL, 100 + noise(rng)});
  int flagged_in_a_row = 0, last_flagged = -1;
  for (int i = 0; i < 100; ++i) {  // the level steps to 120 and stays; learning continues
    const Point p{(100 + i) * 1000LL, 120 + noise(rng)};
    if (d.score(p) >= 0.5) {
      last_flagged = i;
      if (last_flagged == flagged_in_a_row) ++flagged_in_a_row;
    }
    d.learn(p);
  }
  EXPECT_GE(flagged_in_a_row,
            12);                // the step is an outlier until a quarter of the window is at the new level
  EXPECT_LT(last_flagged, 48);  // and normal once the window has turned over
}

TEST(IqrDetector, OutOfOrderPointsWithinTheWindowGiveTheSameFences) {
  const IqrConfig cfg{.window_ms = 3'600'000, .max_points = 500, .buckets = 0, .min_samples = 8};
  std::mt19937_64 rng(5);
  std::normal_distribution<double> noise(50.0, 5.0);
  std::vector<Point> points;
  for (int i = 0; i < 60; ++i) points.push_back({i * 30'000LL, noise(rng)});  // 30 minutes of data
  IqrDetector in_order(cfg), shuffled(cfg);
  for (const auto& p : points) in_order.learn(p);
  std::shuffle(points.begin(), points.end(), rng);
  for (const auto& p : points) shuffled.learn(p);
  EXPECT_EQ(in_order.fences()->quartiles.median, shuffled.fences()->quartiles.median);
  EXPECT_EQ(in_order.fences()->lower, shuffled.fences()->lower);
  EXPECT_EQ(in_order.fences()->upper, shuffled.fences()->upper);
}

TEST(IqrDetector, NanIsNeitherScoredNorLearned) {
  IqrDetector d(IqrConfig{.buckets = 0, .min_samples = 2});
  d.learn({0, 1.0});
  d.learn({1, std::nan("")});
  d.learn({2, std::numeric_limits<double>::infinity()});
  EXPECT_FALSE(d.warmed_up());
  d.learn({3, 2.0});
  EXPECT_EQ(d.score({4, std::nan("")}), 0.0);
}

TEST(IqrDetector, SketchModeFencesMatchExactWhileTheReferenceIsSmall) {
  // Below k points the sketch is exact: quartiles are the reference's inverted-CDF order statistics.
  IqrDetector d(IqrConfig{.window_ms = 4 * 60'000, .sketch_buckets = 4, .min_samples = 10});
  ASSERT_TRUE(d.sketched());
  std::mt19937_64 rng(9);
  std::normal_distribution<double> noise(10.0, 2.0);
  std::vector<Point> seen;
  for (int i = 0; i < 200; ++i) {
    const Point p{i * 5'000LL, noise(rng)};  // 12 points a bucket
    d.learn(p);
    seen.push_back(p);
    const int64_t head = p.time_ms / 60'000;
    std::vector<double> ref;
    for (const auto& q : seen)
      if (q.time_ms / 60'000 >= head - 4 && q.time_ms / 60'000 < head) ref.push_back(q.value);
    if (ref.size() < 10) {
      ASSERT_FALSE(d.fences().has_value());
      continue;
    }
    std::sort(ref.begin(), ref.end());
    const auto inverted_cdf = [&](double q) {
      return ref[static_cast<size_t>(std::ceil(q * static_cast<double>(ref.size()))) - 1];
    };
    const auto f = d.fences();
    ASSERT_TRUE(f.has_value());
    ASSERT_EQ(f->quartiles.count, ref.size());
    ASSERT_EQ(f->quartiles.q1, inverted_cdf(0.25)) << i;
    ASSERT_EQ(f->quartiles.median, inverted_cdf(0.5)) << i;
    ASSERT_EQ(f->quartiles.q3, inverted_cdf(0.75)) << i;
  }
}

TEST(IqrDetector, SketchModeFlagsAnOutlierAgainstAWeekOfInfraMetrics) {
  IqrDetector d(IqrConfig{.window_ms = 7 * 86'400'000LL, .sketch_buckets = 24, .min_samples = 1000}, 7);
  std::mt19937_64 rng(11);
  std::normal_distribution<double> noise(40.0, 4.0);  // CPU %, every 30 s
  int64_t t = 0;
  for (; t < 8 * 86'400'000LL; t += 30'000) d.learn({t, noise(rng)});
  const auto f = d.fences();
  ASSERT_TRUE(f.has_value());
  EXPECT_NEAR(f->quartiles.median, 40.0, 0.2);
  // A normal's IQR is 1.349 sigma; each quartile may be off by the rank error over the density there (0.17).
  EXPECT_NEAR(f->quartiles.q3 - f->quartiles.q1, 4.0 * 1.349, 0.35);
  EXPECT_LT(d.score({t, 48.0}), 0.5);
  EXPECT_GT(d.score({t, 80.0}), 0.5);
}

TEST(IqrDetector, RestoreRefusesTheOtherWindowMode) {
  IqrDetector exact(IqrConfig{.buckets = 0}), sketched(IqrConfig{.sketch_buckets = 24}),
      bucketed(IqrConfig{});
  ASSERT_TRUE(bucketed.bucketed());
  exact.learn({0, 1.0});
  bucketed.learn({0, 1.0});
  EXPECT_FALSE(sketched.restore(exact.save()));
  EXPECT_FALSE(exact.restore(sketched.save()));
  EXPECT_FALSE(bucketed.restore(exact.save()));
  EXPECT_FALSE(exact.restore(bucketed.save()));
  EXPECT_FALSE(sketched.restore(bucketed.save()));
  EXPECT_TRUE(exact.restore(exact.save()));
  EXPECT_TRUE(bucketed.restore(bucketed.save()));
}

// The bucketed window (the default), type 7 within 2^-11 of the order statistics interpolated (plus 2^-24 of
// the largest magnitude), ranks exact. Phase 1, filling (fewer than max_points held): every point held, the
// head bucket's included, after every point. Phase 2, full: the B complete buckets before the head (their
// most recent max_points), right after each rotation.
TEST(IqrDetector, BucketedFencesMatchBruteForceWithinTheCodeBound) {
  for (const uint32_t max_points : {500u, 300u}) {  // 500: never full (7 x 60 points held); 300: full
    const IqrConfig cfg{
        .window_ms = 6 * 3'600'000LL, .max_points = max_points, .buckets = 6, .min_samples = 8};
    IqrDetector d(cfg);
    ASSERT_TRUE(d.bucketed());
    std::mt19937_64 rng(21);
    std::lognormal_distribution<double> load(6.0, 0.9);  // household watts: skewed, 50 W .. 5 kW
    std::vector<Point> seen;
    int checked = 0;
    int64_t newest = 0;
    for (int i = 0; i < 3000; ++i) {
      Point p{i * 60'000LL, std::round(load(rng) * 10) / 10};
      if (max_points == 500 && i % 7 == 3 && i > 20) p.time_ms -= 20 * 60'000;  // some arrive 20 minutes late
      if (i % 500 == 0) p.value = -p.value;                                     // a few exports
      d.learn(p);
      seen.push_back(p);
      const int64_t head_before = newest / 3'600'000;
      newest = std::max(newest, p.time_ms);
      const int64_t head = newest / 3'600'000;
      const bool filling = max_points == 500;
      if (!filling && (head == head_before || i < 600)) continue;  // full: compare right after a rotation
      std::vector<double> ref;
      double biggest = 0;
      for (const auto& q : seen) {
        biggest = std::max(biggest, std::abs(q.value));
        const int64_t b = q.time_ms / 3'600'000;
        if (b >= head - 6 && (filling ? b <= head : b < head)) ref.push_back(q.value);
      }
      if (!filling && ref.size() > max_points)
        ref.erase(ref.begin(), ref.end() - max_points);  // in time order
      if (ref.size() < 8) {
        ASSERT_FALSE(d.fences().has_value());
        continue;
      }
      std::sort(ref.begin(), ref.end());
      const auto f = d.fences();
      ASSERT_TRUE(f.has_value()) << i;
      ASSERT_EQ(f->quartiles.count, ref.size()) << i;
      const std::array<std::pair<double, double>, 3> got_q{
          {{f->quartiles.q1, 0.25}, {f->quartiles.median, 0.5}, {f->quartiles.q3, 0.75}}};
      for (const auto& [got, q] : got_q) {
        const double h = static_cast<double>(ref.size() - 1) * q;
        const auto lo = static_cast<size_t>(h);
        const size_t hi = std::min(lo + 1, ref.size() - 1);
        const double want = ref[lo] + (h - static_cast<double>(lo)) * (ref[hi] - ref[lo]);
        const double bound = 0x1p-10 * std::max(std::abs(ref[lo]), std::abs(ref[hi])) + 0x1p-24 * biggest;
        ASSERT_NEAR(got, want, bound) << "point " << i << " q " << q << " max_points " << max_points;
      }
      ++checked;
    }
    EXPECT_GE(checked, 40);
  }
}

TEST(IqrDetector, BucketedWindowKeepsTheMostRecentMaxPointsAndRefusesOlderThanTheReference) {
  // 4 one-minute buckets, at most 10 points.
  IqrDetector d(IqrConfig{.window_ms = 240'000,
                          .max_points = 10,
                          .buckets = 4,
                          .min_samples = 1,
                          .iqr_floor_abs = 0,
                          .iqr_floor_rel = 0});
  for (int i = 0; i < 20; ++i) d.learn({i * 12'000LL, static_cast<double>(i)});  // 5 a minute, 0..19 in 4 min
  d.learn({240'000, 100.0});  // opens minute 4: the reference is minutes 0..3, its 10 most recent points
  auto f = d.fences();
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->quartiles.count, 10u);  // 10..19; then 100, the head's first point, made room by dropping 10
  EXPECT_DOUBLE_EQ(f->quartiles.median, 14.5);
  const std::string before = d.save();
  d.learn({-60'001, 5.0});  // before the reference: refused, nothing changes
  EXPECT_EQ(d.save(), before);
}

TEST(IqrDetector, BucketedOutOfOrderPointsGiveTheSameFencesAfterTheNextRotation) {
  const IqrConfig cfg{.window_ms = 3'600'000, .max_points = 500, .buckets = 12, .min_samples = 8};
  std::mt19937_64 rng(5);
  std::normal_distribution<double> noise(50.0, 5.0);
  std::vector<Point> points;
  for (int i = 0; i < 100; ++i) points.push_back({i * 30'000LL, noise(rng)});  // 50 minutes of data
  IqrDetector in_order(cfg), shuffled(cfg);
  for (const auto& p : points) in_order.learn(p);
  std::shuffle(points.begin(), points.end(), rng);
  for (const auto& p : points) shuffled.learn(p);
  for (auto* d : {&in_order, &shuffled}) d->learn({3'300'000, 50.0});  // a rotation folds the late points in
  ASSERT_TRUE(in_order.fences().has_value());
  EXPECT_EQ(in_order.fences()->quartiles.count, shuffled.fences()->quartiles.count);
  EXPECT_EQ(in_order.fences()->quartiles.median, shuffled.fences()->quartiles.median);
  EXPECT_EQ(in_order.fences()->lower, shuffled.fences()->lower);
  EXPECT_EQ(in_order.fences()->upper, shuffled.fences()->upper);
}

// While the ring fills, the quartiles are selected when read rather than on every add: reading them after
// every point or only now and then must give the same figures and the same saved state, through re-anchoring
// (values from 0.01 to 10^5), late and refused points, the add that fills the ring, rotations and a gap.
TEST(IqrDetector, BucketedQuartilesReadLazilyEqualThoseReadAfterEveryPoint) {
  std::mt19937_64 rng(17);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  int pending_saves = 0;
  for (int round = 0; round < 20; ++round) {
    const uint32_t max_points = 20 + static_cast<uint32_t>(unit(rng) * 80);
    features::BucketedQuantiles every(600'000, 6, max_points), lazy(600'000, 6, max_points);
    int64_t t = 0;
    for (int i = 0; i < 1500; ++i) {
      t += unit(rng) < 0.002 ? 900'000 : static_cast<int64_t>(unit(rng) * 9'000);  // now and then a gap
      const int64_t at = unit(rng) < 0.1 ? t - static_cast<int64_t>(unit(rng) * 700'000) : t;  // late
      const double v = std::pow(10.0, -2.0 + 7.0 * unit(rng)) * (unit(rng) < 0.05 ? -1 : 1);
      ASSERT_EQ(every.add(at, v), lazy.add(at, v));
      const auto want = every.quartiles();
      ASSERT_EQ(every.count(), lazy.count()) << "round " << round << " point " << i;
      if (unit(rng) < 0.15) {
        const auto got = lazy.quartiles();
        ASSERT_EQ(got.count, want.count);
        if (want.count == 0) continue;
        ASSERT_EQ(got.q1, want.q1) << "round " << round << " point " << i;
        ASSERT_EQ(got.median, want.median) << "round " << round << " point " << i;
        ASSERT_EQ(got.q3, want.q3) << "round " << round << " point " << i;
      }
      if (unit(rng) < 0.02) {
        // A save while a selection is pending stores it as pending; the restored window selects the same
        // quartiles when read, and goes on from there as the original would.
        StateWriter w;
        lazy.save(w);
        const std::string bytes = w.take();
        features::BucketedQuantiles restored(600'000, 6, max_points);
        StateReader r(bytes);
        ASSERT_TRUE(restored.restore(r) && r.done()) << "round " << round << " point " << i;
        StateWriter again;
        restored.save(again);
        ASSERT_EQ(again.take(), bytes);
        lazy = std::move(restored);  // compared with `every` at the reads that follow
        // The reference count (after bucket_ms 8, buckets 2, capacity 2, head 8, anchor 1) flags a pending
        // selection.
        uint16_t reference = 0;
        if (bytes.size() > 22) std::memcpy(&reference, bytes.data() + 21, 2);
        pending_saves += (reference & 0x8000) != 0 ? 1 : 0;
      }
    }
  }
  EXPECT_GT(pending_saves, 10);  // the pending form was exercised
}

TEST(IqrDetector, BucketedStateWithAPendingSelectionRestoresOnlyWhileFilling) {
  features::BucketedQuantiles q(600'000, 6, 50);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(q.add(1'000 * i, 1.0 + i));
  StateWriter w;
  q.save(w);  // ten points, not read: pending
  std::string bytes = w.take();
  {
    features::BucketedQuantiles ok(600'000, 6, 50);
    StateReader r(bytes);
    ASSERT_TRUE(ok.restore(r));
    EXPECT_EQ(ok.quartiles().median, q.quartiles().median);
  }
  // The same bytes claiming a pending selection over a count other than the points held: refused.
  // Layout: bucket_ms (8), buckets (2), capacity (2), head (8), anchor (1), then the reference count.
  uint16_t reference = 0;
  std::memcpy(&reference, bytes.data() + 21, 2);
  ASSERT_EQ(reference, 0x8000 | 10);
  const uint16_t wrong = 0x8000 | 9;
  std::memcpy(bytes.data() + 21, &wrong, 2);
  features::BucketedQuantiles refused(600'000, 6, 50);
  StateReader r(bytes);
  EXPECT_FALSE(refused.restore(r));
}

}  // namespace
}  // namespace gridsentinel::detectors
