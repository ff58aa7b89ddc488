// Batch isolation forest and the tree machinery it shares with the streaming forest.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <vector>

#include "detectors/iforest/FlatForest.h"
#include "detectors/iforest/IsolationForest.h"
#include "detectors/iforest/PathLength.h"

namespace gridsentinel::detectors {
namespace {

using RowMatrix = IsolationForest::RowMatrix;

RowMatrix gaussian(size_t rows, size_t dim, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  RowMatrix X(rows, dim);
  for (Eigen::Index i = 0; i < X.size(); ++i) X.data()[i] = normal(gen);
  return X;
}

// Checks the structural invariants of tree t: leaves point at themselves, children follow their parent,
// sizes add up, no leaf deeper than the limit, and returns the number of points in leaves.
uint32_t check_tree(const FlatForest& forest, uint32_t t, uint32_t depth_limit) {
  const auto nodes = forest.nodes(t);
  std::vector<uint32_t> depth(nodes.size(), 0);
  uint32_t in_leaves = 0;
  for (uint32_t i = 0; i < nodes.size(); ++i) {
    const IsolationNode& n = nodes[i];
    const uint32_t left = forest.left_child(t, i);
    if (left == i) {
      EXPECT_TRUE(std::isinf(n.threshold));
      EXPECT_GE(forest.node_size(t, i), 1u);
      in_leaves += forest.node_size(t, i);
      continue;
    }
    EXPECT_GT(left, i);
    EXPECT_LT(left + 1, nodes.size());
    EXPECT_EQ(forest.node_size(t, left) + forest.node_size(t, left + 1), forest.node_size(t, i));
    depth[left] = depth[left + 1] = depth[i] + 1;
    EXPECT_LE(depth[left], depth_limit);
  }
  uint32_t deepest = 0;
  for (uint32_t d : depth) deepest = std::max(deepest, d);
  EXPECT_LE(deepest, forest.depth(t));
  return in_leaves;
}

// below() draws what the textbook form (bound first, then reject, then reduce) draws, number for number,
// including bounds where rejection is common (n just above 2^63 rejects almost half of all outputs).
TEST(Xoshiro256, BelowDrawsWhatTheTextbookFormDraws) {
  const auto textbook = [](Xoshiro256& rng, uint64_t n) {
    const uint64_t reject_below = (0 - n) % n;
    uint64_t r = rng.next();
    while (r < reject_below) r = rng.next();
    return r % n;
  };
  for (const uint64_t n : {uint64_t{1}, uint64_t{2}, uint64_t{6}, uint64_t{2049}, (uint64_t{1} << 63) + 1,
                           (uint64_t{1} << 63) + 12345, ~uint64_t{0}}) {
    Xoshiro256 a(n), b(n);
    for (int i = 0; i < 20000; ++i) {
      const uint64_t x = a.below(n);
      ASSERT_EQ(x, textbook(b, n)) << "n = " << n << ", draw " << i;
      ASSERT_LT(x, n);
    }
    ASSERT_EQ(a.state(), b.state()) << "n = " << n;
  }
}

TEST(AveragePathLength, MatchesScikitLearnValues) {
  EXPECT_EQ(average_path_length(0), 0.0);
  EXPECT_EQ(average_path_length(1), 0.0);
  EXPECT_EQ(average_path_length(2), 1.0);
  // Values from sklearn.ensemble._iforest._average_path_length.
  EXPECT_NEAR(average_path_length(3), 1.207392357589623, 1e-12);
  EXPECT_NEAR(average_path_length(256), 10.244770920119917, 1e-12);
  EXPECT_NEAR(average_path_length(2048), 14.403669063625646, 1e-12);
}

TEST(IsolationDepthLimit, IsCeilLog2OfSamplesAtLeastOne) {
  EXPECT_EQ(isolation_depth_limit(1), 1u);
  EXPECT_EQ(isolation_depth_limit(2), 1u);
  EXPECT_EQ(isolation_depth_limit(3), 2u);
  EXPECT_EQ(isolation_depth_limit(4), 2u);
  EXPECT_EQ(isolation_depth_limit(5), 3u);
  EXPECT_EQ(isolation_depth_limit(256), 8u);
  EXPECT_EQ(isolation_depth_limit(257), 9u);
}

TEST(FlatForest, TreesRespectTheDepthLimitAndAccountForEveryPoint) {
  const RowMatrix X = gaussian(256, 4, 1);
  FlatForest forest;
  forest.reset(30, 256, 4);
  Xoshiro256 rng(9);
  const std::vector<double> tol(4, FlatForest::kSklearnConstantTolerance);
  for (uint32_t t = 0; t < 30; ++t) forest.grow(t, X.data(), 256, tol.data(), rng);
  for (uint32_t t = 0; t < 30; ++t) {
    EXPECT_EQ(check_tree(forest, t, 8), 256u) << "tree " << t;
    EXPECT_LE(forest.depth(t), 8u);
  }
  // With Gaussian data most points are still unseparated at depth 8, so the limit is what stops growth.
  EXPECT_EQ(forest.depth(0), 8u);
}

TEST(FlatForest, SmallSubsampleGetsItsOwnShallowerLimit) {
  const RowMatrix X = gaussian(20, 3, 2);
  FlatForest forest;
  forest.reset(10, 20, 3);
  Xoshiro256 rng(3);
  const std::vector<double> tol(3, FlatForest::kSklearnConstantTolerance);
  for (uint32_t t = 0; t < 10; ++t) {
    forest.grow(t, X.data(), 20, tol.data(), rng);
    EXPECT_EQ(check_tree(forest, t, 5), 20u);  // ceil(log2(20)) = 5
  }
}

TEST(FlatForest, NeverSplitsOnAFeatureConstantWithinTolerance) {
  RowMatrix X = gaussian(256, 3, 4);
  for (Eigen::Index i = 0; i < X.rows(); ++i) {
    X(i, 0) = 7.0;                                      // exactly constant
    X(i, 2) = 3.0 + 5e-8 * static_cast<double>(i % 3);  // spread 1e-7: constant for scikit-learn too
  }
  FlatForest forest;
  forest.reset(20, 256, 3);
  Xoshiro256 rng(5);
  const std::vector<double> tol(3, FlatForest::kSklearnConstantTolerance);
  for (uint32_t t = 0; t < 20; ++t) {
    forest.grow(t, X.data(), 256, tol.data(), rng);
    for (uint32_t i = 0; i < forest.node_count(t); ++i) {
      const IsolationNode& n = forest.nodes(t)[i];
      if (forest.left_child(t, i) != i) {
        EXPECT_EQ(n.feature, 1u);
      }
    }
    EXPECT_EQ(check_tree(forest, t, 8), 256u);
  }
}

TEST(FlatForest, NodeWhereEveryFeatureIsConstantBecomesALeaf) {
  // 128 copies of one point and 128 of another: one split separates them, then both halves are all-constant.
  RowMatrix X(256, 2);
  for (Eigen::Index i = 0; i < 256; ++i) X.row(i) << (i < 128 ? 0.0 : 1.0), (i < 128 ? 5.0 : -5.0);
  FlatForest forest;
  forest.reset(5, 256, 2);
  Xoshiro256 rng(6);
  const std::vector<double> tol(2, FlatForest::kSklearnConstantTolerance);
  for (uint32_t t = 0; t < 5; ++t) {
    forest.grow(t, X.data(), 256, tol.data(), rng);
    EXPECT_EQ(forest.node_count(t), 3u);
    EXPECT_EQ(forest.depth(t), 1u);
    EXPECT_EQ(forest.node_size(t, 1), 128u);
    EXPECT_EQ(forest.node_size(t, 2), 128u);
  }
  // Each point's path: 1 edge + c(128) in every tree.
  const double x[2] = {0.0, 5.0};
  EXPECT_NEAR(forest.total_path(x), 5 * (1.0 + average_path_length(128)), 1e-9);
}

// total_path (AVX-512 where the machine has it), total_path_portable, accumulate_paths and
// total_path_with_credit add the trees' path lengths in one fixed order, so a score is the same to the bit
// whichever ran: on forests whose tree counts are and are not multiples of the SIMD width (8) and of its
// block (128 trees), on dimensions around the width's limit (8; 9 takes the portable path), and on points in
// and far outside the sample.
TEST(FlatForest, EveryWayOfScoringGivesTheSameBits) {
  struct Shape {
    uint32_t trees, samples, dim;
  };
  for (const Shape& s : {Shape{1, 256, 6}, Shape{7, 37, 3}, Shape{8, 2, 1}, Shape{9, 256, 8},
                         Shape{100, 256, 6}, Shape{131, 64, 5}, Shape{20, 128, 9}}) {
    const RowMatrix sample = gaussian(s.samples, s.dim, s.trees);
    FlatForest forest;
    forest.reset(s.trees, s.samples, s.dim);
    Xoshiro256 rng(s.trees + s.dim);
    const std::vector<double> tol(s.dim, FlatForest::kSklearnConstantTolerance);
    for (uint32_t t = 0; t < s.trees; ++t) forest.grow(t, sample.data(), s.samples, tol.data(), rng);
    RowMatrix points = gaussian(301, s.dim, 99);
    points.row(0) *= 1e6;   // beyond every threshold
    points.row(1) *= -1e6;  // below every threshold
    Eigen::VectorXd block = Eigen::VectorXd::Zero(points.rows());
    forest.accumulate_paths(points.data(), static_cast<size_t>(points.rows()), s.dim, block.data());
    std::vector<double> credit(s.dim);
    for (Eigen::Index i = 0; i < points.rows(); ++i) {
      const double* x = points.data() + i * s.dim;
      const double portable = forest.total_path_portable(x);
      ASSERT_EQ(forest.total_path(x), portable) << s.trees << " trees, dim " << s.dim << ", point " << i;
      ASSERT_EQ(block[i], portable) << s.trees << " trees, dim " << s.dim << ", point " << i;
      ASSERT_EQ(forest.total_path_with_credit(x, credit.data()), portable)
          << s.trees << " trees, point " << i;
      ASSERT_GT(portable, 0.0);
    }
  }
  if (!FlatForest::simd_enabled()) std::printf("note: no AVX-512 here; total_path ran the portable path\n");
}

// Growing with the AVX-512 kernels (min/max and partition of a node's points, used from 64 points a node)
// gives the trees the portable loops give, node for node: on samples large enough for the kernels (255 and
// 256 points, whose nodes also end in partial blocks of 8 and 16) and small ones that never reach them, with
// repeated values, a constant feature and a feature constant within the tolerance.
TEST(FlatForest, GrowingWithAndWithoutSimdGivesTheSameTrees) {
  struct Shape {
    uint32_t trees, samples, dim;
  };
  for (const Shape& s : {Shape{20, 256, 6}, Shape{13, 37, 3}, Shape{9, 2, 1}, Shape{11, 17, 8},
                         Shape{7, 255, 9}, Shape{5, 1, 2}}) {
    RowMatrix sample = gaussian(s.samples, s.dim, s.trees + 5);
    for (Eigen::Index i = 0; i < sample.rows(); ++i) {
      sample(i, 0) = std::round(sample(i, 0) * 2.0);  // few distinct values: ties on both sides of a split
      if (s.dim > 2) sample(i, 1) = 3.0;              // constant
      if (s.dim > 3) sample(i, 2) = 1.0 + 1e-9 * static_cast<double>(i % 3);  // constant within tolerance
    }
    const std::vector<double> tol(s.dim, 1e-7);
    FlatForest simd, portable;
    simd.reset(s.trees, s.samples, s.dim);
    portable.reset(s.trees, s.samples, s.dim);
    portable.set_simd(false);
    ASSERT_FALSE(portable.simd());
    Xoshiro256 rng_a(s.trees * 31 + s.dim), rng_b(s.trees * 31 + s.dim);
    for (uint32_t t = 0; t < s.trees; ++t) {
      simd.grow(t, sample.data(), s.samples, tol.data(), rng_a);
      portable.grow(t, sample.data(), s.samples, tol.data(), rng_b);
      ASSERT_EQ(simd.node_count(t), portable.node_count(t)) << s.samples << " samples, tree " << t;
      ASSERT_EQ(simd.depth(t), portable.depth(t));
      for (uint32_t i = 0; i < simd.node_count(t); ++i) {
        const IsolationNode a = simd.nodes(t)[i], b = portable.nodes(t)[i];
        ASSERT_EQ(a.threshold, b.threshold) << "tree " << t << " node " << i;
        ASSERT_EQ(a.feature, b.feature) << "tree " << t << " node " << i;
        ASSERT_EQ(a.left, b.left) << "tree " << t << " node " << i;
        ASSERT_EQ(simd.node_size(t, i), portable.node_size(t, i)) << "tree " << t << " node " << i;
      }
    }
    ASSERT_EQ(rng_a.state(), rng_b.state());
  }
  if (!FlatForest::simd_enabled())
    std::printf("note: no AVX-512 here; both forests grew with the portable code\n");
}

TEST(IsolationForest, AllIdenticalRowsScoreExactlyOneHalf) {
  RowMatrix X = RowMatrix::Constant(300, 3, 2.5);
  IsolationForest forest({.n_trees = 10, .max_samples = 256, .seed = 1});
  forest.fit(X);
  EXPECT_EQ(forest.forest().node_count(0), 1u);  // the root is a leaf of 256: h = c(256), s = 2^-1
  EXPECT_DOUBLE_EQ(forest.score_samples(X)[0], 0.5);
}

TEST(IsolationForest, SameSeedGivesSameScoresAndOtherSeedsDiffer) {
  const RowMatrix X = gaussian(1000, 5, 7);
  IsolationForest a({.seed = 42}), b({.seed = 42}), c({.seed = 43});
  a.fit(X);
  b.fit(X);
  c.fit(X);
  const Eigen::VectorXd sa = a.score_samples(X), sb = b.score_samples(X), sc = c.score_samples(X);
  EXPECT_EQ(sa, sb);
  EXPECT_NE(sa, sc);
  EXPECT_NEAR(sa.mean(), sc.mean(), 0.01);
}

TEST(IsolationForest, BlockScoringEqualsPointScoring) {
  const RowMatrix X = gaussian(1037, 8, 8);  // not a multiple of the block or lane counts
  IsolationForest forest({.seed = 3});
  forest.fit(X);
  const Eigen::VectorXd all = forest.score_samples(X);
  for (Eigen::Index i = 0; i < X.rows(); ++i) {
    const std::span<const double> row(X.data() + i * X.cols(), static_cast<size_t>(X.cols()));
    ASSERT_EQ(all[i], forest.score(row)) << "row " << i;
  }
}

TEST(IsolationForest, MaxSamplesIsCappedAtTheRowCount) {
  const RowMatrix X = gaussian(100, 2, 9);
  IsolationForest forest({.n_trees = 20, .max_samples = 256, .seed = 1});
  forest.fit(X);
  EXPECT_EQ(forest.max_samples_used(), 100u);
  for (uint32_t t = 0; t < 20; ++t) EXPECT_LE(forest.forest().depth(t), 7u);  // ceil(log2(100))
}

TEST(IsolationForest, SingleRowScoresOneAsScikitLearn) {
  const RowMatrix X = RowMatrix::Constant(1, 2, 1.0);
  IsolationForest forest({.n_trees = 3});
  forest.fit(X);
  EXPECT_EQ(forest.score_samples(X)[0], 1.0);
}

TEST(IsolationForest, FarPointsScoreAboveTheCluster) {
  RowMatrix X = gaussian(2000, 4, 10);
  X.row(0).setConstant(8.0);
  X.row(1) << -9.0, 0.0, 0.0, 0.0;
  IsolationForest forest({.seed = 11});
  forest.fit(X);
  const Eigen::VectorXd s = forest.score_samples(X);
  const std::vector<double> centre(4, 0.0);
  EXPECT_GT(s[0], 0.7);
  // Far in one feature of four: isolation forests dilute that (scikit-learn gives ~0.54 here too), but it
  // still scores well above the cluster's centre.
  EXPECT_GT(s[1], 0.5);
  EXPECT_GT(s[1], forest.score(centre) + 0.1);
  EXPECT_LT(s.tail(1998).mean(), 0.5);
  EXPECT_GT(s.minCoeff(), 0.0);
  EXPECT_LE(s.maxCoeff(), 1.0);
}

TEST(IsolationForest, FitRejectsNonFiniteAndEmptyData) {
  IsolationForest forest;
  RowMatrix X = gaussian(10, 2, 1);
  X(3, 1) = std::nan("");
  EXPECT_THROW(forest.fit(X), std::invalid_argument);
  EXPECT_THROW(forest.fit(RowMatrix(0, 2)), std::invalid_argument);
  EXPECT_FALSE(forest.fitted());
  const double x[2] = {0, 0};
  EXPECT_EQ(forest.score(x), 0.0);
}

TEST(IsolationForest, AttributionGoesToTheOnlyAnomalousFeature) {
  constexpr size_t kDim = 8;
  const RowMatrix X = gaussian(4000, kDim, 12);
  IsolationForest forest({.seed = 13});
  forest.fit(X);
  std::vector<double> share(kDim);
  for (int row = 0; row < 10; ++row) {
    for (size_t j = 0; j < kDim; ++j) {
      // An ordinary point (every feature within 1.5 sigma) except feature j, at 6 sigma.
      std::vector<double> x(kDim);
      for (size_t f = 0; f < kDim; ++f) x[f] = std::clamp(X(row, static_cast<Eigen::Index>(f)), -1.5, 1.5);
      const double ordinary = forest.score(x);
      x[j] = row % 2 ? 6.0 : -6.0;
      EXPECT_GT(forest.score_with_attribution(x, share), ordinary);
      EXPECT_NEAR(std::accumulate(share.begin(), share.end(), 0.0), 1.0, 1e-12);
      EXPECT_EQ(std::max_element(share.begin(), share.end()) - share.begin(), static_cast<long>(j));
      EXPECT_GT(share[j], 0.4) << "row " << row << " feature " << j;
    }
  }
}

TEST(IsolationForest, AttributionOfAPointNoSplitCutOffIsUniform) {
  const RowMatrix X = RowMatrix::Constant(300, 4, 1.0);
  IsolationForest forest({.n_trees = 5});
  forest.fit(X);
  std::vector<double> share(4);
  const std::vector<double> x(4, 1.0);
  EXPECT_DOUBLE_EQ(forest.score_with_attribution(x, share), 0.5);
  EXPECT_EQ(share, std::vector<double>(4, 0.25));
}

}  // namespace
}  // namespace gridsentinel::detectors
