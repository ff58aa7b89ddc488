// NAB scoring (src/backtest/NabScorer.h, NabScoringFile.h) on hand-made files whose scores are worked out on
// paper. Notation: S(p) = 2 / (1 + e^(5p)) - 1 = tanh(-5p / 2), so a detection at relative position p of a
// window is worth tpWeight * tanh(5|p| / 2) / tanh(2.5), and a false positive p' window-widths past the
// preceding window costs fpWeight * tanh(5 p' / 2). The expectations below use tanh, an independent route
// to the same numbers as the implementation's sigmoid.
#include "backtest/NabScorer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "backtest/NabReport.h"

namespace gridsentinel::backtest {
namespace {

constexpr int64_t kT0 = 1396310400000;  // 2014-04-01 00:00:00 UTC
constexpr int64_t kStep = 5 * 60 * 1000;

const NabProfile kStandard{"standard", 1.0, 0.11, 1.0, 1.0};
const NabProfile kLowFp{"reward_low_FP_rate", 1.0, 0.22, 1.0, 1.0};
const NabProfile kLowFn{"reward_low_FN_rate", 1.0, 0.11, 2.0, 1.0};

const double kTanh25 = std::tanh(2.5);  // S(-1), NAB's maxTP = 0.98661...

// TP value of a detection at row i of a window first..last (tpWeight 1).
double tp(size_t i, size_t first, size_t last) {
  const double w = static_cast<double>(last - first + 1);
  const double p = -static_cast<double>(last - i + 1) / w;
  return std::tanh(-2.5 * p) / kTanh25;
}

// A file of `n` rows five minutes apart, with windows given as row ranges.
NabScoringFile make_file(size_t n, const std::vector<std::pair<size_t, size_t>>& window_rows) {
  std::vector<int64_t> ts(n);
  for (size_t i = 0; i < n; ++i) ts[i] = kT0 + static_cast<int64_t>(i) * kStep;
  std::vector<NabWindow> windows;
  for (const auto& [a, b] : window_rows) windows.push_back({ts[a], ts[b]});
  NabResult<NabScoringFile> f = NabScoringFile::prepare("test/file.csv", ts, windows);
  EXPECT_TRUE(f.ok()) << f.error();
  return std::move(f).value();
}

std::vector<double> fire_at(size_t n, const std::vector<size_t>& rows, double level = 1.0) {
  std::vector<double> s(n, 0.0);
  for (size_t r : rows) s[r] = level;
  return s;
}

double raw(const NabScoringFile& f, const std::vector<double>& s, const NabProfile& p,
           double threshold = 0.5) {
  NabResult<NabFileScore> r = score_nab_file(f, s, threshold, p);
  EXPECT_TRUE(r.ok()) << r.error();
  return r.ok() ? r->raw : std::numeric_limits<double>::quiet_NaN();
}

// 100 rows: probation = min(floor(15), 750) = 15 rows; windows A = rows 40..49, B = rows 70..79 (width 10).
class NabScorerTwoWindows : public ::testing::Test {
 protected:
  NabScoringFile file = make_file(100, {{40, 49}, {70, 79}});
};

TEST(NabScoringFile, ProbationIsFifteenPercentCappedAt750Rows) {
  EXPECT_EQ(nab_probation_rows(100), 15u);
  EXPECT_EQ(nab_probation_rows(4032), 604u);   // floor(604.8)
  EXPECT_EQ(nab_probation_rows(4730), 709u);   // floor(709.5)
  EXPECT_EQ(nab_probation_rows(5000), 750u);   // both terms 750
  EXPECT_EQ(nab_probation_rows(22695), 750u);  // 0.15 * 5000 cap
  EXPECT_EQ(nab_probation_rows(6), 0u);        // floor(0.9)
  EXPECT_EQ(nab_probation_rows(100, 0.1), 10u);
}

TEST(NabScoringFile, ScaledSigmoidMatchesNabAnchorsAndSaturatesPastThree) {
  EXPECT_NEAR(nab_scaled_sigmoid(-1.0), 0.98661429815143, 1e-14);  // NAB's docstring: 0.98661
  EXPECT_NEAR(nab_scaled_sigmoid(-0.5), 0.84828363995751, 1e-14);  // 0.84828
  EXPECT_DOUBLE_EQ(nab_scaled_sigmoid(0.0), 0.0);
  EXPECT_NEAR(nab_scaled_sigmoid(1.0), -0.98661429815143, 1e-14);
  EXPECT_NEAR(nab_scaled_sigmoid(3.0), -std::tanh(7.5), 1e-15);  // p = 3 is still on the curve...
  EXPECT_EQ(nab_scaled_sigmoid(3.0000001), -1.0);                // ...only p > 3 is clamped
}

TEST_F(NabScorerTwoWindows, GeometryFollowsNabsSweep) {
  EXPECT_EQ(file.probation_rows(), 15u);
  ASSERT_EQ(file.windows().size(), 2u);
  EXPECT_EQ(file.windows()[0].first, 40u);
  EXPECT_EQ(file.windows()[0].last, 49u);
  EXPECT_EQ(file.scored_windows(), 2u);
  EXPECT_EQ(file.role(14), NabScoringFile::kProbation);
  EXPECT_EQ(file.role(15), NabScoringFile::kOutside);
  EXPECT_EQ(file.role(40), 0);
  EXPECT_EQ(file.role(79), 1);
  EXPECT_EQ(file.position_weight(15), -1.0);                      // before any window
  EXPECT_NEAR(file.position_weight(40), kTanh25, 1e-15);          // first row: p = -1
  EXPECT_NEAR(file.position_weight(49), std::tanh(0.25), 1e-15);  // last row: p = -1/10, not 0
}

TEST_F(NabScorerTwoWindows, PerfectDetectorScoresHundredAndNullZero) {
  for (const NabProfile& p : {kStandard, kLowFp, kLowFn}) {
    const NabFileScore perfect = *score_nab_file(file, nab_perfect_detector_scores(file), 0.5, p);
    const NabFileScore null = *score_nab_file(file, nab_null_detector_scores(file), 0.5, p);
    EXPECT_DOUBLE_EQ(perfect.raw, 2.0 * p.tp_weight)
        << p.name;  // each window at its first row: exactly tpWeight
    EXPECT_DOUBLE_EQ(null.raw, -2.0 * p.fn_weight) << p.name;
    EXPECT_DOUBLE_EQ(perfect.perfect_raw, 2.0 * p.tp_weight);
    EXPECT_DOUBLE_EQ(perfect.null_raw, -2.0 * p.fn_weight);
    EXPECT_DOUBLE_EQ(nab_normalized_score(perfect.raw, perfect.null_raw, perfect.perfect_raw), 100.0);
    EXPECT_DOUBLE_EQ(nab_normalized_score(null.raw, null.null_raw, null.perfect_raw), 0.0);
  }
}

TEST_F(NabScorerTwoWindows, FalsePositiveBeforeAnyWindowCostsFullFpWeight) {
  // Row 20 (past probation, no window before it): S = -1, so -0.11 standard, -0.22 low-FP. Both windows
  // missed.
  const auto s = fire_at(100, {20});
  EXPECT_NEAR(raw(file, s, kStandard), -0.11 - 2.0, 1e-14);
  EXPECT_NEAR(raw(file, s, kLowFp), -0.22 - 2.0, 1e-14);
  EXPECT_NEAR(raw(file, s, kLowFn), -0.11 - 4.0, 1e-14);
  const NabFileScore r = *score_nab_file(file, s, 0.5, kStandard);
  EXPECT_NEAR(r.fp_value, -0.11, 1e-15);
  EXPECT_DOUBLE_EQ(r.fn_value, -2.0);
  EXPECT_EQ(r.counts.fp_rows, 1u);
  EXPECT_EQ(r.counts.windows_missed, 2u);
  // Normalised: 100 (-2.11 - (-2)) / (2 - (-2)) = -2.75.
  EXPECT_NEAR(nab_normalized_score(r.raw, r.null_raw, r.perfect_raw), -2.75, 1e-12);
}

TEST_F(NabScorerTwoWindows, LeftEdgeEarnsFullTpWeightRightEdgeFarLess) {
  // Left edge, row 40: p = -(49 - 40 + 1) / 10 = -1 -> S(-1) / S(-1) = 1; B missed: 1 - 1 = 0.
  EXPECT_NEAR(raw(file, fire_at(100, {40}), kStandard), 0.0, 1e-15);
  // Right edge, row 49: p = -(49 - 49 + 1) / 10 = -0.1 (NAB's "+ 1": never p = 0) -> tanh(0.25) / tanh(2.5)
  // = 0.24824; minus the missed B.
  EXPECT_NEAR(raw(file, fire_at(100, {49}), kStandard), std::tanh(0.25) / kTanh25 - 1.0, 1e-14);
  EXPECT_NEAR(tp(49, 40, 49), 0.24824154977542992, 1e-14);
  // Middle, row 44: p = -0.6 -> tanh(1.5) / tanh(2.5) = 0.91743.
  EXPECT_NEAR(raw(file, fire_at(100, {44}), kStandard), 0.9174286804284078 - 1.0, 1e-14);
  // The TP value does not depend on the profile's FP/FN weights; low-FN only raises the miss of B to 2.
  EXPECT_NEAR(raw(file, fire_at(100, {44}), kLowFn), 0.9174286804284078 - 2.0, 1e-14);
}

TEST_F(NabScorerTwoWindows, OnlyTheEarliestDetectionInAWindowCounts) {
  // Rows 44, 41, 48 all in A: only row 41 counts (p = -0.9 -> tanh(2.25) / tanh(2.5) = 0.99130); the others
  // neither add nor cost. Row 75 in B: p = -0.5 -> tanh(1.25) / tanh(2.5) = 0.85979.
  const NabFileScore r = *score_nab_file(file, fire_at(100, {44, 41, 48, 75}), 0.5, kStandard);
  EXPECT_NEAR(r.raw, 0.9912952980422969 + 0.8597925669097837, 1e-14);
  EXPECT_NEAR(r.raw, tp(41, 40, 49) + tp(75, 70, 79), 1e-14);
  EXPECT_DOUBLE_EQ(r.fp_value, 0.0);
  EXPECT_EQ(r.counts.windows_detected, 2u);
  EXPECT_EQ(r.counts.tp_rows, 4u);         // NAB counts rows: 4 detected rows in windows...
  EXPECT_EQ(r.counts.fn_rows, 16u);        // ...and 16 undetected ones
  EXPECT_EQ(r.counts.tn_rows, 85u - 20u);  // rows 15..99 outside the windows
}

TEST_F(NabScorerTwoWindows, DetectionsInProbationAreIgnored) {
  // Rows 0..14 are probation: firing there is neither FP nor TP; row 15 is the first scored row.
  std::vector<double> s(100, 0.0);
  for (size_t i = 0; i < 15; ++i) s[i] = 1.0;
  const NabFileScore r = *score_nab_file(file, s, 0.5, kStandard);
  EXPECT_DOUBLE_EQ(r.raw, -2.0);
  EXPECT_EQ(r.counts.fp_rows + r.counts.tn_rows + r.counts.tp_rows + r.counts.fn_rows, 85u);
  s[15] = 1.0;
  EXPECT_NEAR(raw(file, s, kStandard), -2.11, 1e-14);
}

TEST(NabScorer, FalsePositiveAfterAWindowGrowsWithDistance) {
  // One window, rows 40..49 (w = 10); FP at row i costs 0.11 tanh(5 p' / 2), p' = (i - 49) / (10 - 1).
  const NabScoringFile f = make_file(200, {{40, 49}});
  const double tp40 = 1.0;  // keep the window detected at its first row, so only the FP varies
  auto fp_cost = [&](size_t row) { return raw(f, fire_at(200, {40, row}), kStandard) - tp40; };
  EXPECT_NEAR(fp_cost(50), -0.11 * std::tanh(5.0 / 18.0), 1e-15);  // p' = 1/9: -0.029793
  EXPECT_NEAR(fp_cost(50), -0.029793183036839352, 1e-15);
  EXPECT_NEAR(fp_cost(55), -0.11 * std::tanh(5.0 / 3.0), 1e-15);  // p' = 6/9: -0.102422
  EXPECT_NEAR(fp_cost(76), -0.11 * std::tanh(7.5), 1e-15);        // p' = 3 exactly: still the curve
  EXPECT_NEAR(fp_cost(77), -0.11, 1e-15);                         // p' = 28/9 > 3: full cost
  EXPECT_NEAR(fp_cost(199), -0.11, 1e-15);
  double previous = 0.0;
  for (size_t row = 50; row < 200; ++row) {
    const double c = fp_cost(row);
    EXPECT_LT(c, 0.0);
    EXPECT_LE(c, previous) << row;  // never cheaper further away
    previous = c;
  }
}

TEST(NabScorer, WindowPartlyInProbationScoresOnItsLaterRowsWithItsFullGeometry) {
  // 100 rows, probation 15; window rows 10..29 (w = 20) straddles it. Row 12 is ignored; row 15 is the
  // earliest that counts: p = -(29 - 15 + 1) / 20 = -0.75 -> tanh(1.875) / tanh(2.5) = 0.96699.
  const NabScoringFile f = make_file(100, {{10, 29}});
  EXPECT_EQ(f.scored_windows(), 1u);
  EXPECT_NEAR(raw(f, fire_at(100, {12, 15}), kStandard), 0.9669890878000608, 1e-14);
  EXPECT_DOUBLE_EQ(raw(f, fire_at(100, {12}), kStandard), -1.0);  // probation hit only: a miss
  // An FP after it is still measured from its last row (29): row 30 -> p' = 1/19.
  EXPECT_NEAR(raw(f, fire_at(100, {15, 30}), kStandard), 0.9669890878000608 - 0.11 * std::tanh(2.5 / 19.0),
              1e-14);
}

TEST(NabScorer, WindowWhollyInProbationIsNeitherMissedNorDetectedButCountsForPerfect) {
  // Window rows 2..8 ends before probation (15 rows): NAB never names it, so it costs no FN; NAB's
  // normaliser (tpWeight x windows in the labels) still counts it. A later FP is measured from row 8.
  const NabScoringFile f = make_file(100, {{2, 8}});
  EXPECT_EQ(f.scored_windows(), 0u);
  const NabFileScore r = *score_nab_file(f, fire_at(100, {4, 20}), 0.5, kStandard);
  EXPECT_EQ(r.counts.windows_unscored, 1u);
  EXPECT_EQ(r.counts.windows_detected + r.counts.windows_missed, 0u);
  EXPECT_DOUBLE_EQ(r.null_raw, 0.0);
  EXPECT_DOUBLE_EQ(r.perfect_raw, 1.0);
  EXPECT_NEAR(r.raw, -0.11 * std::tanh(5.0),
              1e-15);  // row 20: p' = (20 - 8) / (7 - 1) = 2 -> -0.11 x 0.99991
}

TEST(NabScorer, ThresholdIsInclusiveAndNanNeverFires) {
  const NabScoringFile f = make_file(100, {{40, 49}});
  std::vector<double> s(100, 0.0);
  s[40] = 0.7;
  s[41] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_DOUBLE_EQ(raw(f, s, kStandard, 0.7), 1.0);  // score >= threshold fires
  EXPECT_DOUBLE_EQ(raw(f, s, kStandard, 0.71), -1.0);
  EXPECT_DOUBLE_EQ(raw(f, s, kStandard, 0.0), raw(f, std::vector<double>(100, 1.0), kStandard, 0.5));
}

TEST(NabScorer, BadScoresAreReportedNotThrown) {
  const NabScoringFile f = make_file(100, {{40, 49}});
  const NabResult<NabFileScore> short_scores =
      score_nab_file(f, std::vector<double>(99, 0.0), 0.5, kStandard);
  ASSERT_FALSE(short_scores.ok());
  EXPECT_NE(short_scores.error().find("99 scores for 100 rows"), std::string::npos);
  std::vector<double> s(100, 0.0);
  s[42] = 1.5;
  const NabResult<NabFileScore> out_of_range = score_nab_file(f, s, 0.5, kStandard);
  ASSERT_FALSE(out_of_range.ok());
  EXPECT_NE(out_of_range.error().find("row 42"), std::string::npos) << out_of_range.error();
}

TEST(NabScoringFile, WindowStampsMustBeRowStamps) {
  std::vector<int64_t> ts{kT0, kT0 + kStep, kT0 + 2 * kStep, kT0 + 3 * kStep};
  const std::vector<NabWindow> off_grid{{kT0 + kStep + 1, kT0 + 3 * kStep}};
  const NabResult<NabScoringFile> r = NabScoringFile::prepare("x.csv", ts, off_grid);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("x.csv window 0"), std::string::npos) << r.error();
}

TEST(NabScoringFile, DuplicateStampsEnterAtTheFirstAndLeaveAtTheFirst) {
  // Rows stamped 0 1 1 2 3 3 4 (steps); window [1, 3] spans rows 1..4 as NAB's sweep walks it.
  std::vector<int64_t> ts;
  for (int64_t k : {0, 1, 1, 2, 3, 3, 4}) ts.push_back(kT0 + k * kStep);
  const std::vector<NabWindow> w{{kT0 + kStep, kT0 + 3 * kStep}};
  const NabResult<NabScoringFile> r = NabScoringFile::prepare("dup.csv", ts, w, 0.0);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->windows()[0].first, 1u);
  EXPECT_EQ(r->windows()[0].last, 4u);
  EXPECT_EQ(r->role(5), NabScoringFile::kOutside);
}

// Two files. File 1 (window rows 40..49): row 45 = 0.9, row 20 = 0.8 (FP, no window before), row 41 = 0.7,
// row 60 = 0.6 (FP 11/9 widths past the window), every other row 0.1. File 2 (no window): all 0.05.
// Raw score by threshold, standard (worked out from the formulas above):
//   1.1: -1 (missed)                       0.9: tp(45) = 0.85979
//   0.8: 0.85979 - 0.11 = 0.74979          0.7: tp(41) - 0.11 = 0.99130 - 0.11 = 0.88130   <- best
//   0.6: 0.88130 - 0.11 tanh(55/18) = 0.77178     0.1 and 0.05: every row fires, far worse.
// reward_low_FP_rate (FP 0.22): 0.9 -> 0.85979 beats 0.7 -> 0.99130 - 0.22 = 0.77130.
class NabSweepSmallCorpus : public ::testing::Test {
 protected:
  void SetUp() override {
    files.push_back(make_file(100, {{40, 49}}));
    files.push_back(make_file(60, {}));
    std::vector<double> s1(100, 0.1);
    s1[45] = 0.9;
    s1[20] = 0.8;
    s1[41] = 0.7;
    s1[60] = 0.6;
    scores = {s1, std::vector<double>(60, 0.05)};
  }
  std::vector<NabScoringFile> files;
  std::vector<std::vector<double>> scores;
};

TEST_F(NabSweepSmallCorpus, PicksTheBestThresholdPerProfile) {
  const NabSweepResult standard = *sweep_nab_threshold(files, scores, kStandard);
  EXPECT_DOUBLE_EQ(standard.best.threshold, 0.7);
  EXPECT_NEAR(standard.best.total.raw, tp(41, 40, 49) - 0.11, 1e-14);
  EXPECT_NEAR(standard.best.total.raw, 0.8812952980422969, 1e-14);
  EXPECT_NEAR(standard.swept_raw, standard.best.total.raw, 1e-12);
  EXPECT_EQ(standard.thresholds_tried, 7u);  // 1.1, 0.9, 0.8, 0.7, 0.6, 0.1, 0.05
  // Normalised: null = -1, perfect = 1 -> 100 (0.88130 + 1) / 2 = 94.065.
  EXPECT_NEAR(standard.best.normalized, 50.0 * (0.8812952980422969 + 1.0), 1e-11);

  const NabSweepResult low_fp = *sweep_nab_threshold(files, scores, kLowFp);
  EXPECT_DOUBLE_EQ(low_fp.best.threshold, 0.9);
  EXPECT_NEAR(low_fp.best.total.raw, 0.8597925669097837, 1e-14);
}

TEST_F(NabSweepSmallCorpus, SweepAgreesWithScoringEveryThreshold) {
  const std::vector<NabProfile> profiles{kStandard, kLowFp, kLowFn};
  const std::vector<NabSweepResult> swept = *sweep_nab_thresholds(files, scores, profiles);
  ASSERT_EQ(swept.size(), 3u);
  for (size_t k = 0; k < profiles.size(); ++k) {
    double best = -std::numeric_limits<double>::infinity();
    for (double t : {1.1, 0.9, 0.8, 0.7, 0.6, 0.1, 0.05}) {
      best = std::max(best, score_nab_corpus(files, scores, t, profiles[k])->total.raw);
    }
    EXPECT_NEAR(swept[k].best.total.raw, best, 1e-12) << profiles[k].name;
    EXPECT_EQ(swept[k].best.profile.name, profiles[k].name);
  }
}

TEST(NabSweep, TiesGoToTheHighestThreshold) {
  // Row 41 = 0.9 and row 45 = 0.5 in the same window: threshold 0.5 adds a later detection worth nothing, so
  // 0.9 and 0.5 tie exactly; NAB keeps the first maximum in descending order, 0.9.
  const std::vector<NabScoringFile> files{make_file(100, {{40, 49}})};
  std::vector<double> s(100, 0.0);
  s[41] = 0.9;
  s[45] = 0.5;
  const std::vector<std::vector<double>> scores{s};
  const NabSweepResult r = *sweep_nab_threshold(files, scores, kStandard);
  EXPECT_DOUBLE_EQ(r.best.threshold, 0.9);
  EXPECT_NEAR(r.best.total.raw, tp(41, 40, 49), 1e-15);
}

TEST(NabSweep, NothingWorthFiringKeepsTheNoDetectionThreshold) {
  // Only FPs to gain: the sweep stays at NAB's start value 1.1, the null score.
  const std::vector<NabScoringFile> files{make_file(100, {{40, 49}})};
  const std::vector<std::vector<double>> scores{fire_at(100, {20, 30, 90}, 0.8)};
  const NabSweepResult r = *sweep_nab_threshold(files, scores, kStandard);
  EXPECT_DOUBLE_EQ(r.best.threshold, kNabNoDetectionThreshold);
  EXPECT_DOUBLE_EQ(r.best.total.raw, -1.0);
  EXPECT_DOUBLE_EQ(r.best.normalized, 0.0);
}

TEST(NabSweep, MatchesBruteForceOnRandomQuantisedScores) {
  // Random files and scores on a 0.01 grid: the incremental sweep must find the same maximum as scoring the
  // corpus afresh at every grid threshold.
  std::mt19937_64 rng(7);
  std::vector<NabScoringFile> files;
  std::vector<std::vector<double>> scores;
  for (size_t k = 0; k < 6; ++k) {
    const size_t n = 300 + 50 * k;
    files.push_back(make_file(n, {{80 + k, 110 + k}, {150, 150 + 5 * k + 1}, {n - 40, n - 20}}));
    std::vector<double> s(n);
    for (double& x : s) x = static_cast<double>(rng() % 101) / 100.0;
    scores.push_back(std::move(s));
  }
  for (const NabProfile& p : {kStandard, kLowFp, kLowFn}) {
    double best = score_nab_corpus(files, scores, kNabNoDetectionThreshold, p)->total.raw;
    for (int t = 100; t >= 0; --t) {
      best = std::max(best, score_nab_corpus(files, scores, t / 100.0, p)->total.raw);
    }
    const NabSweepResult r = *sweep_nab_threshold(files, scores, p);
    EXPECT_NEAR(r.best.total.raw, best, 1e-9) << p.name;
    EXPECT_NEAR(r.swept_raw, r.best.total.raw, 1e-9) << p.name;
  }
}

TEST_F(NabSweepSmallCorpus, ReportTablesListFilesTotalsAndProfiles) {
  const NabCorpusScore s = *score_nab_corpus(files, scores, 0.7, kStandard);
  const std::string table = format_nab_file_table(s);
  EXPECT_NE(table.find("test/file.csv"), std::string::npos);
  EXPECT_NE(table.find("Totals"), std::string::npos);
  EXPECT_NE(table.find("0.8813"), std::string::npos) << table;
  const std::vector<NabCorpusScore> per_profile{s};
  const std::string summary = format_nab_profile_table(per_profile);
  EXPECT_NE(summary.find("standard"), std::string::npos);
  EXPECT_NE(summary.find("94.06"), std::string::npos) << summary;
}

}  // namespace
}  // namespace gridsentinel::backtest
