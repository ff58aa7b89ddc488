// KnnCadDetector: the shared conformance suite, plus its own behaviour (conformal ranks against a brute-force
// computation, warm-up length, invalid configurations, score_and_learn == score then learn).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

#include "conformance/DetectorConformance.h"
#include "detectors/KnnCadDetector.h"

namespace gridsentinel::detectors {
namespace {

using testing::Labelled;

constexpr KnnCadConfig kSmall{.dim = 8, .k = 5, .train_points = 120, .centered = true};

// A daily-like sine (period 48) with noise; from row 300 on, about 2% of rows are single-point spikes of
// 6-10 sigma, labelled anomalous.
std::vector<Labelled<Point>> sine_with_spikes(uint64_t seed, int n = 1500) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<Labelled<Point>> out;
  for (int i = 0; i < n; ++i) {
    const bool anomaly = i >= 300 && unit(rng) < 0.02;
    double v = 50.0 + 10.0 * std::sin(i * 2.0 * M_PI / 48.0) + noise(rng);
    if (anomaly) v += (unit(rng) < 0.5 ? -1 : 1) * (6.0 + 4.0 * unit(rng));
    out.push_back({{i * 300'000LL, v}, anomaly});
  }
  return out;
}

struct KnnCadTraits {
  using Detector = KnnCadDetector;
  using Input = Point;
  static Detector make(uint64_t seed) { return KnnCadDetector(kSmall, seed); }
  static std::vector<Labelled<Input>> fixture(uint64_t seed) { return sine_with_spikes(seed); }
  static Input with_nan(const Input& like) { return {like.time_ms, std::nan("")}; }
  // The D - 1 rows after a spike still hold it in their window and rank high too (labelled normal).
  static constexpr double kMinAuc = 0.9;
};

}  // namespace
}  // namespace gridsentinel::detectors

namespace gridsentinel::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(KnnCad, DetectorConformance, ::testing::Types<detectors::KnnCadTraits>);
}

namespace gridsentinel::detectors {
namespace {

// The k-NN conformal score from scratch: items of D values, Mahalanobis metric from the centred scatter
// matrix of the training items (inverted by Gauss-Jordan here, not Cholesky), NCM = sum of the k smallest
// squared distances, rank among the calibration NCMs. Sets as the header describes them.
class BruteForceKnnCad {
 public:
  explicit BruteForceKnnCad(const KnnCadConfig& c) : c_(c) {}

  double step(double v) {
    values_.push_back(v);
    const size_t cnt = values_.size(), p = c_.train_points, d = c_.dim, n = p - d;
    if (cnt < p) return 0.0;
    if (cnt % p == 0 || cnt % p == p / 2) refit();
    if (calib_.empty())
      for (size_t j = 0; j < n; ++j) calib_.push_back(ncm(item(train_ + j), c_.k + 1));
    const double s = ncm(item(cnt - d), c_.k);
    double below = 0, mx = 0;
    for (double x : calib_) {
      below += x < s ? 1 : 0;
      mx = std::max(mx, x);
    }
    double r = below / static_cast<double>(calib_.size());
    if (s > mx && mx > 0) r = 1.0 - (mx / s) / static_cast<double>(calib_.size());
    if (cnt >= 2 * p) ++train_;
    calib_.erase(calib_.begin());
    calib_.push_back(s);
    return r;
  }

 private:
  std::vector<double> item(size_t j) const {
    return {values_.begin() + static_cast<std::ptrdiff_t>(j),
            values_.begin() + static_cast<std::ptrdiff_t>(j + c_.dim)};
  }
  void refit() {
    const size_t d = c_.dim, n = c_.train_points - d;
    std::vector<double> mean(d, 0.0);
    for (size_t j = 0; j < n; ++j)
      for (size_t i = 0; i < d; ++i) mean[i] += values_[train_ + j + i] / static_cast<double>(n);
    std::vector<std::vector<double>> a(d, std::vector<double>(2 * d, 0.0));
    double trace = 0;
    for (size_t j = 0; j < n; ++j)
      for (size_t r = 0; r < d; ++r)
        for (size_t c = 0; c < d; ++c)
          a[r][c] += (values_[train_ + j + r] - mean[r]) * (values_[train_ + j + c] - mean[c]);
    for (size_t i = 0; i < d; ++i) trace += a[i][i];
    for (size_t i = 0; i < d; ++i) {
      a[i][i] += 1e-9 * trace / static_cast<double>(d);
      a[i][d + i] = 1.0;
    }
    for (size_t col = 0; col < d; ++col) {  // Gauss-Jordan with partial pivoting
      size_t piv = col;
      for (size_t r = col + 1; r < d; ++r)
        if (std::abs(a[r][col]) > std::abs(a[piv][col])) piv = r;
      std::swap(a[col], a[piv]);
      const double div = a[col][col];
      for (double& x : a[col]) x /= div;
      for (size_t r = 0; r < d; ++r) {
        if (r == col) continue;
        const double f = a[r][col];
        for (size_t c = 0; c < 2 * d; ++c) a[r][c] -= f * a[col][c];
      }
    }
    inv_.assign(d, std::vector<double>(d));
    for (size_t r = 0; r < d; ++r)
      for (size_t c = 0; c < d; ++c) inv_[r][c] = a[r][d + c];
  }
  double ncm(const std::vector<double>& x, size_t take) const {
    const size_t d = c_.dim, n = c_.train_points - d;
    std::vector<double> dist;
    for (size_t j = 0; j < n; ++j) {
      const std::vector<double> t = item(train_ + j);
      double q = 0;
      for (size_t r = 0; r < d; ++r)
        for (size_t c = 0; c < d; ++c) q += (t[r] - x[r]) * inv_[r][c] * (t[c] - x[c]);
      dist.push_back(q);
    }
    std::sort(dist.begin(), dist.end());
    double s = 0;
    for (size_t i = 0; i < std::min(take, n); ++i) s += dist[i];
    return s;
  }

  KnnCadConfig c_;
  std::vector<double> values_;
  std::vector<double> calib_;
  std::vector<std::vector<double>> inv_;
  size_t train_ = 0;
};

TEST(KnnCadDetector, RanksMatchABruteForceComputation) {
  const KnnCadConfig cfg{.dim = 5, .k = 3, .train_points = 40, .centered = true};
  KnnCadDetector d(cfg);
  BruteForceKnnCad ref(cfg);
  const auto stream = sine_with_spikes(21, 400);  // 10 P: the training set slides and the metric is refitted
  size_t compared = 0;
  for (const auto& p : stream) {
    const double expected = ref.step(p.input.value);
    const double got = d.score(p.input);
    d.learn(p.input);
    // Ranks are counts over 35 NCMs: equal unless an NCM lies within rounding of another.
    ASSERT_NEAR(got, expected, 1e-6) << "at row " << compared;
    ++compared;
  }
}

TEST(KnnCadDetector, WarmsUpAfterTrainPointsMinusOneValues) {
  KnnCadDetector d(kSmall);
  const auto stream = sine_with_spikes(2, 200);
  for (uint32_t i = 0; i + 1 < kSmall.train_points; ++i) {
    EXPECT_FALSE(d.warmed_up()) << i;
    d.learn(stream[i].input);
  }
  EXPECT_TRUE(d.warmed_up());
}

TEST(KnnCadDetector, ScoreAndLearnEqualsScoreThenLearn) {
  KnnCadDetector a(kSmall), b(kSmall);
  for (const auto& p : sine_with_spikes(9, 600)) {
    const double expected = a.score(p.input);
    a.learn(p.input);
    ASSERT_EQ(b.score_and_learn(p.input), expected);
  }
  EXPECT_EQ(a.save(), b.save());
}

TEST(KnnCadDetector, AConstantSeriesNeverDividesByZero) {
  KnnCadDetector d(kSmall);
  for (int i = 0; i < 400; ++i) {
    const double s = d.score_and_learn({i * 1000LL, 7.0});
    ASSERT_TRUE(std::isfinite(s));
    ASSERT_GE(s, 0.0);
    ASSERT_LE(s, 1.0);
  }
  // A departure from the constant ranks at the top.
  EXPECT_GT(d.score({400'000, 9.0}), 0.99);
}

TEST(KnnCadDetector, RejectsInvalidConfigurationsAndForeignStates) {
  EXPECT_THROW(KnnCadDetector(KnnCadConfig{.dim = 0}), std::invalid_argument);
  EXPECT_THROW(KnnCadDetector(KnnCadConfig{.k = 0}), std::invalid_argument);
  EXPECT_THROW(KnnCadDetector(KnnCadConfig{.dim = 10, .k = 5, .train_points = 16}), std::invalid_argument);
  KnnCadDetector a(kSmall);
  for (const auto& p : sine_with_spikes(3, 300)) a.learn(p.input);
  KnnCadConfig other = kSmall;
  other.dim = 9;
  KnnCadDetector b(other);
  EXPECT_FALSE(b.restore(a.save()));  // a state of another configuration
}

}  // namespace
}  // namespace gridsentinel::detectors
