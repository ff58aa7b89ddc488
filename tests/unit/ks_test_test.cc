// Two-sample K-S test (src/detectors/drift/KsTest.h). The bulk comparison with scipy is the oracle test
// (tests/oracle/ks_oracle.py); these pin hand-checkable cases and the contract's edges.
#include "detectors/drift/KsTest.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "detectors/drift/KolmogorovDistribution.h"

namespace gridsentinel::detectors {
namespace {

std::vector<double> normal_sample(size_t n, double mean, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> dist(mean, 1.0);
  std::vector<double> v(n);
  for (double& x : v) x = dist(rng);
  return v;
}

TEST(KsTest, EqualSizesMatchLatticePathCountByHand) {
  // D = 1/2 for n = m = 4: 54 of the C(8, 4) = 70 equally likely orderings reach it.
  const std::vector<double> a{1, 2, 3, 4}, b{3, 4, 5, 6};
  const KsResult r = ks_2samp(a, b);
  ASSERT_TRUE(r.valid);
  EXPECT_EQ(r.method, KsMethod::kExact);
  EXPECT_DOUBLE_EQ(r.statistic, 0.5);
  EXPECT_NEAR(r.pvalue, 54.0 / 70.0, 1e-14);
}

TEST(KsTest, TwoPointsEachDisjointIsOneThird) {
  // Only AABB and BBAA of the 6 orderings give D = 1.
  const KsResult r = ks_2samp(std::vector<double>{0, 1}, std::vector<double>{2, 3});
  EXPECT_DOUBLE_EQ(r.statistic, 1.0);
  EXPECT_NEAR(r.pvalue, 1.0 / 3.0, 1e-15);
}

TEST(KsTest, UnequalSizesMatchScipy) {
  const std::vector<double> a{0.1, 0.2, 0.3}, b{0.25, 0.35, 0.45, 0.55, 0.65};
  const KsResult exact = ks_2samp(a, b);
  EXPECT_DOUBLE_EQ(exact.statistic, 0.8);
  EXPECT_NEAR(exact.pvalue, 1.0 / 7.0, 1e-15);  // 8 of C(8, 3) = 56 orderings; scipy 0.14285714285714288
  const KsResult asymp = ks_2samp(a, b, KsMethod::kAsymp);
  EXPECT_EQ(asymp.method, KsMethod::kAsymp);
  EXPECT_NEAR(asymp.pvalue, 0.07999999999999996, 1e-14);  // scipy: kstwo.sf(0.8, round(15 / 8))
}

TEST(KsTest, TiesAreSteppedOverTogether) {
  const KsResult r = ks_2samp(std::vector<double>{1, 1, 2, 2}, std::vector<double>{1, 2, 2, 2});
  EXPECT_DOUBLE_EQ(r.statistic, 0.25);
  EXPECT_DOUBLE_EQ(r.pvalue, 1.0);
  const KsResult heavy =
      ks_2samp(std::vector<double>{0, 0, 0, 1, 1, 1, 1, 1}, std::vector<double>{1, 1, 1, 1, 2, 2});
  EXPECT_DOUBLE_EQ(heavy.statistic, 0.375);
  EXPECT_NEAR(heavy.pvalue, 0.6373626373626372, 1e-14);  // scipy
}

TEST(KsTest, IsSymmetricInItsSamples) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    const auto a = normal_sample(37 + seed * 11, 0.0, seed);
    const auto b = normal_sample(53 + seed * 7, 0.3, seed + 100);
    for (KsMethod m : {KsMethod::kAuto, KsMethod::kExact, KsMethod::kAsymp}) {
      const KsResult ab = ks_2samp(a, b, m), ba = ks_2samp(b, a, m);
      EXPECT_EQ(ab.statistic, ba.statistic) << "seed " << seed;
      EXPECT_NEAR(ab.pvalue, ba.pvalue, 1e-14) << "seed " << seed;
    }
  }
}

TEST(KsTest, IdenticalSamplesGiveZeroDistanceAndPOne) {
  const auto a = normal_sample(300, 0.0, 5);
  for (KsMethod m : {KsMethod::kAuto, KsMethod::kExact, KsMethod::kAsymp}) {
    const KsResult r = ks_2samp(a, a, m);
    EXPECT_EQ(r.statistic, 0.0);
    EXPECT_EQ(r.pvalue, 1.0);
  }
}

TEST(KsTest, DisjointSamplesGiveDistanceOne) {
  const KsResult r = ks_2samp(std::vector<double>{0, 1, 2, 3, 4}, std::vector<double>{10, 11, 12, 13, 14});
  EXPECT_EQ(r.statistic, 1.0);
  EXPECT_NEAR(r.pvalue, 2.0 / 252.0, 1e-15);  // 2 of C(10, 5) orderings
  const auto a = normal_sample(400, 0.0, 9);
  auto b = a;
  for (double& x : b) x += 100.0;
  const KsResult big = ks_2samp(a, b);
  EXPECT_EQ(big.statistic, 1.0);
  EXPECT_LT(big.pvalue, 1e-100);
}

TEST(KsTest, SortedEntryPointMatchesUnsorted) {
  auto a = normal_sample(250, 0.0, 3), b = normal_sample(180, 0.2, 4);
  const KsResult unsorted = ks_2samp(a, b);
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  const KsResult sorted = ks_2samp_sorted(a, b);
  EXPECT_EQ(unsorted.statistic, sorted.statistic);
  EXPECT_EQ(unsorted.pvalue, sorted.pvalue);
}

TEST(KsTest, AutoSwitchesToAsymptoticAboveTenThousandPoints) {
  const auto small = normal_sample(10000, 0.0, 1), big = normal_sample(10001, 0.0, 2);
  EXPECT_EQ(ks_2samp(small, normal_sample(50, 0.0, 3)).method, KsMethod::kExact);
  const KsResult r = ks_2samp(big, normal_sample(50, 0.0, 3));
  EXPECT_EQ(r.method, KsMethod::kAsymp);
  EXPECT_GT(r.pvalue, 0.0);
  EXPECT_LE(r.pvalue, 1.0);
}

TEST(KsTest, ForcedExactFallsBackToAsymptoticWhenTheLatticeIsTooLarge) {
  // lcm(50000, 49999) ~ 2.5e9 exceeds int32, as in scipy.
  const KsResult r = ks_2samp(normal_sample(50000, 0.0, 1), normal_sample(49999, 0.0, 2), KsMethod::kExact);
  EXPECT_EQ(r.method, KsMethod::kAsymp);
}

TEST(KsTest, EmptySampleIsInvalidWithNeutralResult) {
  const std::vector<double> empty, some{1.0, 2.0};
  for (const KsResult& r : {ks_2samp(empty, some), ks_2samp(some, empty), ks_2samp(empty, empty)}) {
    EXPECT_FALSE(r.valid);
    EXPECT_EQ(r.statistic, 0.0);
    EXPECT_EQ(r.pvalue, 1.0);
    EXPECT_EQ(r.method, KsMethod::kAuto);
  }
}

TEST(KsTest, NanSortsAfterEverythingAsInNumpy) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const KsResult r = ks_2samp(std::vector<double>{nan, 0, 1}, std::vector<double>{0.5});
  EXPECT_DOUBLE_EQ(r.statistic, 2.0 / 3.0);  // scipy: 0.6666666666666666, p = 1
  EXPECT_EQ(r.pvalue, 1.0);
}

TEST(KsTest, AsymptoticWithOnePointEachIsNanAsInScipy) {
  const KsResult r = ks_2samp(std::vector<double>{1.0}, std::vector<double>{2.0}, KsMethod::kAsymp);
  EXPECT_TRUE(r.valid);
  EXPECT_TRUE(std::isnan(r.pvalue));  // round(1 * 1 / 2) = 0 is outside kstwo's domain
  EXPECT_EQ(ks_2samp(std::vector<double>{1.0}, std::vector<double>{2.0}).pvalue, 1.0);
}

TEST(KsKolmogorovDistribution, KstwoSurvivalMatchesScipySpotValues) {
  EXPECT_NEAR(kstwo_sf(100, 0.1), 0.2526927570063874, 1e-13);      // Pelz-Good / DMTW region
  EXPECT_NEAR(kstwo_sf(1000, 0.05), 0.013012074781090332, 1e-13);  // 2 * smirnov region
  EXPECT_NEAR(kstwo_sf(20, 0.3), 0.04306706665851623, 1e-13);      // Pomeranz region
  EXPECT_NEAR(kstwo_sf(10, 0.6), 0.0005681672000000003, 1e-15);    // d >= 0.5: exact 2 * smirnov
  EXPECT_EQ(kstwo_sf(10, 0.05), 1.0);                              // below the support, 0.5 / n
  EXPECT_EQ(kstwo_sf(10, 1.0), 0.0);
  EXPECT_TRUE(std::isnan(kstwo_sf(0, 0.5)));
}

}  // namespace
}  // namespace gridsentinel::detectors
