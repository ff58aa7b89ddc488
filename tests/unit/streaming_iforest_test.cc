// Streaming isolation forest: warm-up, window turnover, refresh, standardiser, alert threshold, attribution.
// The Detector contract itself is checked by iforest_conformance_test.cc.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "detectors/iforest/RecentScores.h"
#include "detectors/iforest/StreamingIsolationForest.h"

namespace gridsentinel::detectors {
namespace {

using Config = StreamingIsolationForestConfig;

class GaussianSource {
 public:
  GaussianSource(size_t dim, uint64_t seed, double mean = 0.0) : x_(dim), gen_(seed), mean_(mean) {}
  const std::vector<double>& next() {
    for (double& v : x_) v = mean_ + normal_(gen_);
    return x_;
  }
  void set_mean(double m) { mean_ = m; }

 private:
  std::vector<double> x_;
  std::mt19937_64 gen_;
  std::normal_distribution<double> normal_{0.0, 1.0};
  double mean_;
};

void learn_n(StreamingIsolationForest& d, GaussianSource& src, size_t n) {
  for (size_t i = 0; i < n; ++i) d.learn(src.next());
}

bool same_tree(const FlatForest& a, const FlatForest& b, uint32_t t) {
  const auto na = a.nodes(t), nb = b.nodes(t);
  if (na.size() != nb.size()) return false;
  for (size_t i = 0; i < na.size(); ++i)
    if (na[i].threshold != nb[i].threshold || na[i].feature != nb[i].feature || na[i].left != nb[i].left)
      return false;
  return true;
}

TEST(StreamingIsolationForest, ScoresZeroUntilMinPointsThenGrowsEveryTree) {
  StreamingIsolationForest d(Config{.dim = 2, .min_points = 300, .seed = 1});
  GaussianSource src(2, 1);
  for (int i = 0; i < 299; ++i) {
    EXPECT_EQ(d.score(src.next()), 0.0);
    d.learn(src.next());
  }
  EXPECT_FALSE(d.warmed_up());
  EXPECT_FALSE(d.forest().grown(0));
  d.learn(src.next());
  EXPECT_TRUE(d.warmed_up());
  for (uint32_t t = 0; t < 100; ++t) EXPECT_EQ(d.forest().samples(t), 256u);
  EXPECT_GT(d.score(src.next()), 0.0);
}

TEST(StreamingIsolationForest, RegrowsTheOldestTreeEveryWindowOverTreesPoints) {
  StreamingIsolationForest d(Config{.dim = 3, .seed = 2});
  EXPECT_EQ(d.rebuild_every(), 2048u / 100u);
  GaussianSource src(3, 2);
  learn_n(d, src, 256);
  ASSERT_TRUE(d.warmed_up());
  const FlatForest first = d.forest();
  learn_n(d, src, 19);
  EXPECT_EQ(d.next_tree_to_regrow(), 0u);
  d.learn(src.next());
  EXPECT_EQ(d.next_tree_to_regrow(), 1u);
  EXPECT_FALSE(same_tree(first, d.forest(), 0));
  for (uint32_t t = 1; t < 100; ++t) EXPECT_TRUE(same_tree(first, d.forest(), t));
  // After n_trees x rebuild_every points (about one window) every tree has been replaced once.
  learn_n(d, src, 99 * 20);
  EXPECT_EQ(d.next_tree_to_regrow(), 0u);
  for (uint32_t t = 0; t < 100; ++t) EXPECT_FALSE(same_tree(first, d.forest(), t)) << "tree " << t;
}

TEST(StreamingIsolationForest, WindowKeepsOnlyTheLatestPoints) {
  StreamingIsolationForest d(Config{.dim = 1, .n_trees = 10, .window = 512, .seed = 3});
  GaussianSource src(1, 3);
  learn_n(d, src, 5000);
  EXPECT_EQ(d.window_size(), 512u);
  EXPECT_EQ(d.points_learned(), 5000u);
}

TEST(StreamingIsolationForest, ForestForgetsAnOldRegimeWithinTwoWindows) {
  StreamingIsolationForest d(Config{.dim = 2, .seed = 4});
  GaussianSource src(2, 4);
  const std::vector<double> old_centre{0.0, 0.0}, new_centre{10.0, 10.0};
  learn_n(d, src, 4096);
  EXPECT_LT(d.score(old_centre), 0.5);
  EXPECT_GT(d.score(new_centre), 0.7);
  src.set_mean(10.0);
  // One window on, every tree has been regrown once, but most from windows still holding old points.
  learn_n(d, src, 2048);
  EXPECT_LT(d.score(new_centre), 0.5);
  EXPECT_LT(d.score(old_centre), 0.7);
  // Two windows on, every tree comes from a window of the new regime alone.
  learn_n(d, src, 2048);
  EXPECT_LT(d.score(new_centre), 0.5);
  EXPECT_GT(d.score(old_centre), 0.7);
}

TEST(StreamingIsolationForest, RefreshRegrowsEveryTreeFromTheCurrentWindow) {
  StreamingIsolationForest d(Config{.dim = 2, .seed = 5});
  GaussianSource src(2, 5);
  const std::vector<double> new_centre{10.0, 10.0};
  learn_n(d, src, 4096);
  src.set_mean(10.0);
  learn_n(d, src, 1500);  // most of the window is the new regime, most trees still the old one
  EXPECT_GT(d.score(new_centre), 0.5);
  const FlatForest before = d.forest();
  d.refresh();
  EXPECT_EQ(d.next_tree_to_regrow(), 0u);
  for (uint32_t t = 0; t < 100; ++t) EXPECT_FALSE(same_tree(before, d.forest(), t));
  EXPECT_LT(d.score(new_centre), 0.5);
}

TEST(StreamingIsolationForest, RefreshBeforeWarmUpDoesNothing) {
  StreamingIsolationForest d(Config{.dim = 2, .seed = 6});
  GaussianSource src(2, 6);
  learn_n(d, src, 100);
  const std::string before = d.save();
  d.refresh();
  EXPECT_EQ(d.save(), before);
  EXPECT_FALSE(d.warmed_up());
}

TEST(StreamingIsolationForest, StandardiserTracksTheWindowMeanAndDeviation) {
  StreamingIsolationForest d(Config{.dim = 2, .n_trees = 10, .window = 500, .min_points = 256, .seed = 7});
  std::mt19937_64 gen(7);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<std::vector<double>> seen;
  for (int i = 0; i < 3210; ++i) {
    // A slow drift in feature 0 and a large offset in feature 1, to stress the add/remove updates.
    seen.push_back({0.01 * i + normal(gen), 1e6 + 3.0 * normal(gen)});
    d.learn(seen.back());
  }
  for (uint32_t f = 0; f < 2; ++f) {
    double sum = 0, sq = 0;
    for (size_t i = seen.size() - 500; i < seen.size(); ++i) sum += seen[i][f];
    const double mean = sum / 500;
    for (size_t i = seen.size() - 500; i < seen.size(); ++i) sq += (seen[i][f] - mean) * (seen[i][f] - mean);
    EXPECT_NEAR(d.standardizer().mean(f), mean, 1e-9 * std::max(1.0, std::abs(mean)));
    EXPECT_NEAR(d.standardizer().stddev(f), std::sqrt(sq / 500), 1e-7);
  }
  std::vector<double> z(2);
  d.standardise(std::vector<double>{d.standardizer().mean(0), 1e6 + 3 * d.standardizer().stddev(1)}, z);
  EXPECT_NEAR(z[0], 0.0, 1e-9);
}

TEST(StreamingIsolationForest, ConstantFeatureIsNeverSplitAndAnomaliesStillStandOut) {
  StreamingIsolationForest d(Config{.dim = 3, .seed = 8});
  GaussianSource src(3, 8);
  for (int i = 0; i < 3000; ++i) {
    std::vector<double> x = src.next();
    x[1] = 230.0;  // e.g. a nominal voltage that never moves
    d.learn(x);
  }
  for (uint32_t t = 0; t < 100; ++t)
    for (uint32_t i = 0; i < d.forest().node_count(t); ++i)
      if (d.forest().left_child(t, i) != i) {
        EXPECT_NE(d.forest().nodes(t)[i].feature, 1u);
      }
  EXPECT_GT(d.score(std::vector<double>{6.0, 230.0, 0.0}), 0.6);
  EXPECT_LT(d.score(std::vector<double>{0.0, 230.0, 0.0}), 0.5);
}

TEST(StreamingIsolationForest, IgnoresInputOfTheWrongDimension) {
  StreamingIsolationForest d(Config{.dim = 2, .seed = 9});
  GaussianSource src(2, 9);
  learn_n(d, src, 300);
  const std::string before = d.save();
  const std::vector<double> three{1.0, 2.0, 3.0};
  EXPECT_EQ(d.score(three), 0.0);
  d.learn(three);
  d.learn(FeatureVector::of(std::vector<double>(kMaxFeatures + 1, 0.0)));
  EXPECT_EQ(d.save(), before);
}

TEST(StreamingIsolationForest, ScoreThenLearnEqualsScoreFollowedByLearn) {
  StreamingIsolationForest a(Config{.dim = 2, .seed = 10}), b(Config{.dim = 2, .seed = 10});
  GaussianSource src(2, 10);
  for (int i = 0; i < 1000; ++i) {
    const std::vector<double> x = src.next();
    const double sa = a.score(x);
    a.learn(x);
    ASSERT_EQ(b.score_then_learn(x), sa);
  }
  EXPECT_EQ(a.save(), b.save());
}

TEST(RecentScores, UpperQuantileIsByNearestRankOverTheLatestScores) {
  RecentScores r(100);
  for (int i = 1; i <= 100; ++i) r.push(i / 100.0);
  EXPECT_DOUBLE_EQ(r.upper_quantile(0.05), 0.95);  // 5 scores above it
  EXPECT_DOUBLE_EQ(r.upper_quantile(0.001), 1.0);
  for (int i = 0; i < 50; ++i) r.push(0.0);  // evicts 0.01 .. 0.50
  EXPECT_EQ(r.size(), 100u);
  EXPECT_DOUBLE_EQ(r.upper_quantile(0.5), 0.0);  // rank 50 of {0 x 50, 0.51 .. 1.00}: the last zero
  EXPECT_DOUBLE_EQ(r.upper_quantile(0.49), 0.51);
}

TEST(RecentScores, StaysSortedAndMatchesABruteForceQuantileThroughEvictions) {
  RecentScores r(257);
  std::mt19937_64 gen(3);
  std::uniform_int_distribution<int> coarse(0, 40);  // few distinct values: many ties to evict and insert
  std::vector<double> all;
  for (int i = 0; i < 5000; ++i) {
    all.push_back(coarse(gen) / 40.0);
    r.push(all.back());
    std::vector<double> recent(all.end() - std::min<std::ptrdiff_t>(257, std::ssize(all)), all.end());
    std::sort(recent.begin(), recent.end());
    for (double q : {0.01, 0.1, 0.5}) {
      const auto rank =
          static_cast<size_t>(std::clamp(std::ceil((1.0 - q) * recent.size()), 1.0, 1.0 * recent.size()));
      ASSERT_EQ(r.upper_quantile(q), recent[rank - 1]) << "after push " << i << ", q " << q;
    }
  }
}

TEST(RecentScores, KeepingOnlyTheLargestAnswersEveryQuantileUpToMaxQExactly) {
  // The forest's use: a small contamination, so only a few of the largest scores are kept sorted. Coarse
  // values make ties between evicted, kept and new scores common; the window rolls over many times.
  for (const double max_q : {0.0005, 0.002, 0.01}) {
    RecentScores r(2048, max_q);
    std::mt19937_64 gen(5);
    std::uniform_int_distribution<int> coarse(0, 60);
    std::vector<double> all;
    for (int i = 0; i < 12000; ++i) {
      // Runs of rising scores now and then, so that the largest ones are evicted together.
      all.push_back(i % 3000 < 40 ? 0.9 + (i % 3000) / 1000.0 : coarse(gen) / 64.0);
      r.push(all.back());
      ASSERT_LE(r.kept(), static_cast<uint32_t>(std::floor(max_q * 2048)) + 2);
      std::vector<double> recent(all.end() - std::min<std::ptrdiff_t>(2048, std::ssize(all)), all.end());
      std::sort(recent.begin(), recent.end());
      for (double q : {max_q / 2, max_q}) {
        const auto rank =
            static_cast<size_t>(std::clamp(std::ceil((1.0 - q) * recent.size()), 1.0, 1.0 * recent.size()));
        ASSERT_EQ(r.upper_quantile(q), recent[rank - 1])
            << "max_q " << max_q << ", push " << i << ", q " << q;
      }
    }
  }
}

TEST(StreamingIsolationForest, ThresholdIsTheContaminationQuantileOfRecentScores) {
  StreamingIsolationForest d(Config{.dim = 2, .contamination = 0.05, .score_history = 1000, .seed = 11});
  GaussianSource src(2, 11);
  learn_n(d, src, 256);
  EXPECT_EQ(d.threshold(), 1.0);  // no scores yet
  std::vector<double> recent;
  for (int i = 0; i < 3000; ++i) {
    const std::vector<double> x = src.next();
    recent.push_back(d.score_then_learn(x));
  }
  recent.erase(recent.begin(), recent.end() - 1000);
  const double thr = d.threshold();
  const auto above = std::count_if(recent.begin(), recent.end(), [&](double s) { return s > thr; });
  const auto at_or_above = std::count_if(recent.begin(), recent.end(), [&](double s) { return s >= thr; });
  EXPECT_LE(above, 50);
  EXPECT_GE(at_or_above, 50);
  EXPECT_GT(thr, 0.5);
  EXPECT_TRUE(d.is_alert(thr));
  EXPECT_FALSE(d.is_alert(std::nextafter(thr, 0.0)));
}

TEST(StreamingIsolationForest, ThresholdNeverDropsBelowTheFloor) {
  StreamingIsolationForest d(Config{.dim = 1, .contamination = 0.5, .score_history = 100, .seed = 12});
  GaussianSource src(1, 12);
  learn_n(d, src, 2000);
  // The median score of unremarkable points is below 0.5; the floor holds the threshold at 0.5.
  EXPECT_LT(d.recent_scores().upper_quantile(0.5), 0.5);
  EXPECT_EQ(d.threshold(), 0.5);
}

TEST(StreamingIsolationForest, AttributionGoesToTheOnlyAnomalousFeature) {
  constexpr size_t kDim = 6;
  StreamingIsolationForest d(Config{.dim = kDim, .seed = 13});
  GaussianSource src(kDim, 13);
  learn_n(d, src, 2048);
  std::vector<double> share(kDim);
  for (int row = 0; row < 10; ++row) {
    for (size_t j = 0; j < kDim; ++j) {
      // An ordinary point (every feature within 1.5 sigma) except feature j, at 6 sigma.
      std::vector<double> x = src.next();
      for (double& v : x) v = std::clamp(v, -1.5, 1.5);
      const double ordinary = d.score(x);
      x[j] = row % 2 ? 6.0 : -6.0;
      EXPECT_GT(d.score_with_attribution(x, share), ordinary);
      EXPECT_NEAR(std::accumulate(share.begin(), share.end(), 0.0), 1.0, 1e-12);
      EXPECT_EQ(std::max_element(share.begin(), share.end()) - share.begin(), static_cast<long>(j));
      EXPECT_GT(share[j], 0.5) << "row " << row << " feature " << j;
    }
  }
}

TEST(StreamingIsolationForest, AttributionIsZeroBeforeWarmUp) {
  StreamingIsolationForest d(Config{.dim = 2, .seed = 14});
  std::vector<double> share(2, 7.0);
  EXPECT_EQ(d.score_with_attribution(std::vector<double>{1.0, 2.0}, share), 0.0);
  EXPECT_EQ(share, std::vector<double>(2, 0.0));
}

TEST(StreamingIsolationForest, CorruptedStateIsRejectedOrStillScoresInRange) {
  StreamingIsolationForest d(
      Config{.dim = 3, .n_trees = 20, .subsample = 64, .window = 512, .min_points = 64, .seed = 15});
  GaussianSource src(3, 15);
  learn_n(d, src, 700);
  const std::string good = d.save();
  std::mt19937_64 gen(15);
  std::uniform_int_distribution<size_t> where(0, good.size() - 1);
  std::uniform_int_distribution<int> byte(0, 255);
  int accepted = 0;
  for (int trial = 0; trial < 300; ++trial) {
    std::string bad = good;
    for (int k = 0; k < 1 + trial % 4; ++k) bad[where(gen)] = static_cast<char>(byte(gen));
    StreamingIsolationForest r(Config{.dim = 3, .seed = 1});
    if (!r.restore(bad)) continue;
    ++accepted;  // e.g. a changed window value or threshold: a valid, different state
    for (int i = 0; i < 50; ++i) {
      const double s = r.score_then_learn(src.next());
      ASSERT_TRUE(s >= 0.0 && s <= 1.0) << "trial " << trial;
    }
  }
  EXPECT_LT(accepted, 300);
}

TEST(StreamingIsolationForest, HugeFiniteValuesKeepTheStateRestorable) {
  // Squares of values beyond ~1e154 overflow the standardiser's sums to +inf; the detector must still score,
  // save and restore.
  StreamingIsolationForest d(Config{.dim = 2, .n_trees = 10, .window = 512, .seed = 16});
  GaussianSource src(2, 16);
  for (int i = 0; i < 1000; ++i) {
    std::vector<double> x = src.next();
    x[0] *= 1e300;
    d.learn(x);
  }
  StreamingIsolationForest r(Config{.dim = 2, .seed = 1});
  ASSERT_TRUE(r.restore(d.save()));
  for (int i = 0; i < 100; ++i) {
    std::vector<double> x = src.next();
    x[0] *= 1e300;
    const double s = d.score_then_learn(x);
    ASSERT_EQ(s, r.score_then_learn(x));
    ASSERT_TRUE(s > 0.0 && s <= 1.0);
  }
}

TEST(StreamingIsolationForest, RejectsConfigurationsOutOfRange) {
  EXPECT_THROW(StreamingIsolationForest(Config{.dim = 0}), std::invalid_argument);
  EXPECT_THROW(StreamingIsolationForest(Config{.dim = kMaxFeatures + 1}), std::invalid_argument);
  EXPECT_THROW(StreamingIsolationForest(Config{.dim = 2, .subsample = 256, .min_points = 100}),
               std::invalid_argument);
  EXPECT_THROW(StreamingIsolationForest(Config{.dim = 2, .window = 128}), std::invalid_argument);
  EXPECT_THROW(StreamingIsolationForest(Config{.dim = 2, .contamination = 0.0}), std::invalid_argument);
}

}  // namespace
}  // namespace gridsentinel::detectors
