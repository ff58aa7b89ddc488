// K-S drift detector (src/detectors/drift/KsDriftDetector.h): the shared detector contract on one feature,
// then detection delay, false-alarm rate, effect-size floor, adoption, the findings queue and save/restore.
#include "detectors/drift/KsDriftDetector.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "conformance/DetectorConformance.h"

namespace gridsentinel::detectors {
namespace {

constexpr int64_t kMinute = 60'000;

// Stationary N(0, 1) for `shift_at` points, then `after` points of N(mean, sd); anomalies = the points after.
struct KsDriftTraits {
  using Detector = KsDriftDetector;
  using Input = Point;
  static KsDriftConfig fixture_config() {
    KsDriftConfig c;
    c.reference_size = 200;
    c.recent_size = 200;
    c.test_every = 20;
    return c;
  }
  static Detector make(uint64_t /*seed: the detector uses no randomness*/) {
    return Detector(fixture_config());
  }
  static std::vector<testing::Labelled<Input>> fixture(uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> before(0.0, 1.0), after(1.5, 1.0);
    std::vector<testing::Labelled<Input>> out;
    for (int64_t i = 0; i < 1150; ++i) {
      const bool shifted = i >= 900;
      out.push_back({Point{i * kMinute, shifted ? after(rng) : before(rng)}, shifted});
    }
    return out;
  }
  static Input with_nan(const Input& like) {
    Input p = like;
    p.value = std::numeric_limits<double>::quiet_NaN();
    return p;
  }
  static constexpr double kMinAuc = 0.8;
};

}  // namespace
}  // namespace gridsentinel::detectors

namespace gridsentinel::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(KsDrift, DetectorConformance, ::testing::Types<detectors::KsDriftTraits>);
}  // namespace gridsentinel::testing

namespace gridsentinel::detectors {
namespace {

enum class Shape { kNormal, kExponential, kPoissonTies };

class Source {
 public:
  Source(uint64_t seed, Shape shape) : rng_(seed), shape_(shape) {}
  double next() {
    switch (shape_) {
      case Shape::kNormal:
        return normal_(rng_);
      case Shape::kExponential:
        return exponential_(rng_);
      case Shape::kPoissonTies:
        return poisson_(rng_);
    }
    return 0.0;
  }
  double normal() { return normal_(rng_); }

 private:
  std::mt19937_64 rng_;
  Shape shape_;
  std::normal_distribution<double> normal_{0.0, 1.0};
  std::exponential_distribution<double> exponential_{1.0};
  std::poisson_distribution<int> poisson_{4.0};
};

// Points after the change until the first finding; -1 if none within `horizon`; -2 if one came before the
// change.
template <class Shift>
int64_t detection_delay(uint64_t seed, int64_t change_at, int64_t horizon, Shift shift) {
  KsDriftDetector d;
  Source src(seed, Shape::kNormal);
  for (int64_t i = 0; i < change_at + horizon; ++i) {
    const double x = src.normal();
    d.observe(0, {i * kMinute, i >= change_at ? shift(x) : x});
    if (d.poll()) return i < change_at ? -2 : i - change_at;
  }
  return -1;
}

TEST(KsDriftDetector, DetectsMeanShiftWithBoundedDelay) {
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    const int64_t delay = detection_delay(seed, 2000, 1000, [](double x) { return x + 1.0; });
    EXPECT_GE(delay, 0) << "seed " << seed << (delay == -2 ? ": false finding before the shift" : ": missed");
    EXPECT_LE(delay, 300) << "seed " << seed;  // 50-200 typical with the defaults (500 vs 500, every 50)
  }
}

TEST(KsDriftDetector, DetectsVarianceShiftWithBoundedDelay) {
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    const int64_t delay = detection_delay(seed, 2000, 1000, [](double x) { return 3.0 * x; });
    EXPECT_GE(delay, 0) << "seed " << seed << (delay == -2 ? ": false finding before the shift" : ": missed");
    EXPECT_LE(delay, 350) << "seed " << seed;
  }
}

TEST(KsDriftDetector, FindingNamesFeatureStatisticAndBothWindows) {
  KsDriftDetector d(KsDriftConfig{}, {"voltage", "power"});
  Source src(42, Shape::kNormal);
  std::optional<DriftFinding> f;
  int64_t i = 0;
  for (; i < 3000 && !f; ++i) {
    d.observe(0, {i * kMinute, src.normal()});
    d.observe(1, {i * kMinute, src.normal() + (i >= 1500 ? 2.0 : 0.0)});
    f = d.poll();
  }
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->feature, "power");
  EXPECT_EQ(f->feature_index, 1u);
  EXPECT_GT(f->statistic, d.config().d_min);
  EXPECT_LE(f->pvalue, f->alpha_per_test);
  EXPECT_DOUBLE_EQ(f->alpha_per_test, 0.01 / (2 * 10));
  EXPECT_EQ(f->method, KsMethod::kExact);
  EXPECT_EQ(f->reference.start_ms, 0);
  EXPECT_EQ(f->reference.end_ms, 499 * kMinute);
  EXPECT_EQ(f->reference.size, 500u);
  EXPECT_EQ(f->recent.size, 500u);
  EXPECT_EQ(f->recent.end_ms, (i - 1) * kMinute);
  EXPECT_EQ(f->recent.start_ms, (i - 500) * kMinute);
  EXPECT_EQ(f->detected_at_ms, (i - 1) * kMinute);
  EXPECT_FALSE(d.poll().has_value());
}

// Counts findings on stationary data; returns them with the number of fleet-wide ring turnovers.
std::pair<int, double> false_findings(size_t n_features, int64_t points_per_feature, Shape shape,
                                      uint64_t seed) {
  std::vector<std::string> names;
  for (size_t f = 0; f < n_features; ++f) names.push_back("f" + std::to_string(f));
  KsDriftDetector d(KsDriftConfig{}, names);
  Source src(seed, shape);
  int found = 0;
  for (int64_t i = 0; i < points_per_feature; ++i) {
    for (size_t f = 0; f < n_features; ++f) d.observe(f, {i * kMinute, src.next()});
    while (d.poll()) ++found;
  }
  return {found, static_cast<double>(points_per_feature) / d.config().recent_size};
}

TEST(KsDriftDetector, FalseAlarmRateOnStationaryDataIsBelowTheBound) {
  // The header's bound: expected false findings <= alpha per recent_size points per fleet.
  const double alpha = KsDriftConfig{}.alpha;
  int found_single = 0, found_fleet = 0;
  double turnovers_single = 0, turnovers_fleet = 0;
  for (Shape shape : {Shape::kNormal, Shape::kExponential, Shape::kPoissonTies}) {
    const auto [found, turnovers] = false_findings(1, 200'000, shape, 7 + static_cast<uint64_t>(shape));
    found_single += found;
    turnovers_single += turnovers;
  }
  for (uint64_t seed : {11, 12}) {
    const auto [found, turnovers] = false_findings(8, 50'000, Shape::kNormal, seed);
    found_fleet += found;
    turnovers_fleet += turnovers;
  }
  std::printf(
      "[ measured ] 1 feature: %d false findings in %.0f turnovers (bound %.1f); 8 features: %d in %.0f "
      "fleet turnovers (bound %.1f)\n",
      found_single, turnovers_single, alpha * turnovers_single, found_fleet, turnovers_fleet,
      alpha * turnovers_fleet);
  EXPECT_LE(found_single, alpha * turnovers_single);
  EXPECT_LE(found_fleet, alpha * turnovers_fleet);
}

TEST(KsDriftDetector, BonferroniDividesAlphaByFeaturesAndTestsPerTurnover) {
  KsDriftConfig c;
  c.alpha = 0.02;
  c.recent_size = 300;
  c.test_every = 40;  // ceil(300 / 40) = 8 tests per turnover
  EXPECT_DOUBLE_EQ(KsDriftDetector(c, {"a", "b", "c"}).alpha_per_test(), 0.02 / (3 * 8));
}

TEST(KsDriftDetector, ShiftSmallerThanMinimumEffectIsNotAFinding) {
  KsDriftConfig c;
  c.d_min = 0.5;  // a 1-sigma mean shift moves the CDF by at most ~0.38
  KsDriftDetector d(c);
  Source src(3, Shape::kNormal);
  for (int64_t i = 0; i < 4000; ++i) d.observe(0, {i * kMinute, src.normal() + (i >= 1500 ? 1.0 : 0.0)});
  EXPECT_FALSE(d.poll().has_value());
  EXPECT_GT(d.evidence(0), 0.3);  // strong p-value, capped by D / d_min
  EXPECT_LT(d.evidence(0), 0.5);
}

TEST(KsDriftDetector, LastingShiftIsAdoptedAndReportedOnce) {
  KsDriftDetector d;
  Source src(5, Shape::kNormal);
  int findings = 0;
  for (int64_t i = 0; i < 12'000; ++i) {
    d.observe(0, {i * kMinute, src.normal() + (i >= 2000 ? 3.0 : 0.0)});
    while (d.poll()) ++findings;
    if (i == 2000 + 700) {
      EXPECT_FALSE(d.warmed_up()) << "the ring refills after adoption";
    }
  }
  EXPECT_EQ(findings, 1);
  EXPECT_TRUE(d.warmed_up());
  EXPECT_LT(d.evidence(0), 0.5);
}

TEST(KsDriftDetector, TestsRunEveryTestEveryPointsAfterWarmUp) {
  KsDriftConfig c;
  c.reference_size = 100;
  c.recent_size = 100;
  c.test_every = 25;
  KsDriftDetector d(c);
  Source src(8, Shape::kNormal);
  for (int64_t i = 0; i < 199; ++i) d.observe(0, {i, src.normal()});
  EXPECT_EQ(d.tests_run(), 0u);
  EXPECT_FALSE(d.warmed_up());
  EXPECT_EQ(d.score({199, 0.0}), 0.0);
  d.observe(0, {199, src.normal()});
  EXPECT_EQ(d.tests_run(), 1u);
  EXPECT_TRUE(d.warmed_up());
  for (int64_t i = 200; i < 300; ++i) d.observe(0, {i, src.normal()});
  EXPECT_EQ(d.tests_run(), 5u);
}

TEST(KsDriftDetector, IgnoresNonFiniteValuesAndUnknownFeatures) {
  KsDriftDetector d(KsDriftConfig{}, {"a"});
  const std::string before = d.save();
  EXPECT_FALSE(d.observe(0, {1, std::numeric_limits<double>::quiet_NaN()}));
  EXPECT_FALSE(d.observe(0, {1, std::numeric_limits<double>::infinity()}));
  EXPECT_FALSE(d.observe(1, {1, 0.5}));
  EXPECT_EQ(d.save(), before);
  EXPECT_TRUE(d.observe(0, {1, 0.5}));
}

TEST(KsDriftDetector, FindingQueueIsBoundedAndCountsDrops) {
  KsDriftConfig c;
  c.max_pending_findings = 1;
  KsDriftDetector d(c, {"a", "b"});
  Source src(9, Shape::kNormal);
  for (int64_t i = 0; i < 2500; ++i) {
    d.observe(0, {i * kMinute, src.normal() + (i >= 1200 ? 3.0 : 0.0)});
    d.observe(1, {i * kMinute, src.normal() + (i >= 1400 ? 3.0 : 0.0)});
  }
  EXPECT_EQ(d.pending_findings(), 1u);
  EXPECT_EQ(d.dropped_findings(), 1u);
  const auto f = d.poll();
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->feature, "b");  // the newest is kept
  EXPECT_FALSE(d.poll().has_value());
}

TEST(KsDriftDetector, SaveRestoreKeepsEveryFeatureAndPendingFindings) {
  KsDriftDetector a(KsDriftConfig{}, {"x", "y", "z"});
  Source src(10, Shape::kNormal);
  auto feed = [&src](KsDriftDetector& d, int64_t from, int64_t to, std::vector<double>* replay) {
    for (int64_t i = from; i < to; ++i)
      for (size_t f = 0; f < 3; ++f) {
        const double v = replay ? (*replay)[static_cast<size_t>((i - from) * 3) + f] : src.normal();
        d.observe(f, {i * kMinute, v + (f == 2 && i >= 1300 ? 2.0 : 0.0)});
      }
  };
  feed(a, 0, 1500, nullptr);  // feature z drifted: a finding is pending
  ASSERT_EQ(a.pending_findings(), 1u);
  const std::string state = a.save();
  KsDriftDetector b(KsDriftConfig{}, {"x", "y", "z"});
  ASSERT_TRUE(b.restore(state));
  EXPECT_EQ(b.save(), state);

  std::vector<double> rest;
  for (int i = 0; i < 3 * 2000; ++i) rest.push_back(src.normal());
  feed(a, 1500, 3500, &rest);
  feed(b, 1500, 3500, &rest);
  EXPECT_EQ(a.save(), b.save());
  for (size_t f = 0; f < 3; ++f) EXPECT_EQ(a.evidence(f), b.evidence(f));
  while (auto fa = a.poll()) {
    const auto fb = b.poll();
    ASSERT_TRUE(fb.has_value());
    EXPECT_EQ(fa->feature, fb->feature);
    EXPECT_EQ(fa->statistic, fb->statistic);
    EXPECT_EQ(fa->detected_at_ms, fb->detected_at_ms);
  }
  EXPECT_FALSE(b.poll().has_value());
}

TEST(KsDriftDetector, RestoreRejectsStateOfAnotherConfigOrFeatureSet) {
  KsDriftDetector a(KsDriftConfig{}, {"x", "y"});
  Source src(12, Shape::kNormal);
  for (int64_t i = 0; i < 700; ++i) a.observe(0, {i, src.normal()});
  const std::string state = a.save();
  KsDriftConfig other;
  other.test_every = 25;
  KsDriftDetector b(other, {"x", "y"});
  const std::string b_before = b.save();
  EXPECT_FALSE(b.restore(state));
  EXPECT_EQ(b.save(), b_before);
  KsDriftDetector c(KsDriftConfig{}, {"x", "w"});
  EXPECT_FALSE(c.restore(state));
  KsDriftDetector e(KsDriftConfig{}, {"x", "y"});
  EXPECT_TRUE(e.restore(state));
}

TEST(KsDriftDetector, InvalidConfigThrowsAtConstruction) {
  KsDriftConfig c;
  c.test_every = 0;
  EXPECT_FALSE(c.validate().empty());
  EXPECT_THROW(KsDriftDetector{c}, std::invalid_argument);
  c = {};
  c.alpha = 1.0;
  EXPECT_THROW(KsDriftDetector{c}, std::invalid_argument);
  c = {};
  c.recent_size = 20000;
  EXPECT_THROW(KsDriftDetector{c}, std::invalid_argument);
  EXPECT_THROW(KsDriftDetector(KsDriftConfig{}, {}), std::invalid_argument);
  EXPECT_THROW(KsDriftDetector(KsDriftConfig{}, {"a", "a"}), std::invalid_argument);
  EXPECT_TRUE(KsDriftConfig{}.validate().empty());
}

}  // namespace
}  // namespace gridsentinel::detectors
