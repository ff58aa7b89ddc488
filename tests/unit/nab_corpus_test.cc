// The real NAB subset in shared/data/nab (35 series, NAB commit ea702d7): it loads whole, its windows resolve
// to rows the way NAB's sweep walks them, and the normalisation's two ends score 0 and 100 under every
// profile.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "backtest/NabData.h"
#include "backtest/NabScorer.h"
#include "backtest/NabScoringFile.h"

namespace gridsentinel::backtest {
namespace {

const std::filesystem::path kNabDir = std::filesystem::path(GS_SHARED_DIR) / "data" / "nab";

class NabCorpusTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    NabResult<NabCorpus> c = load_nab_corpus(kNabDir);
    ASSERT_TRUE(c.ok()) << c.error();
    corpus_ = new NabCorpus(std::move(c).value());
    NabResult<std::vector<NabScoringFile>> f = prepare_nab_corpus(*corpus_);
    ASSERT_TRUE(f.ok()) << f.error();
    files_ = new std::vector<NabScoringFile>(std::move(f).value());
    NabResult<std::vector<NabProfile>> p = load_nab_profiles(kNabDir / "config" / "profiles.json");
    ASSERT_TRUE(p.ok()) << p.error();
    profiles_ = new std::vector<NabProfile>(std::move(p).value());
  }
  static void TearDownTestSuite() {
    delete corpus_;
    delete files_;
    delete profiles_;
  }
  void SetUp() override {
    if (corpus_ == nullptr || files_ == nullptr || profiles_ == nullptr)
      GTEST_SKIP() << "corpus did not load";
  }

  static const NabCorpusFile& file_named(const std::string& name) {
    const auto it = std::find_if(corpus_->files.begin(), corpus_->files.end(),
                                 [&](const NabCorpusFile& f) { return f.series.name == name; });
    EXPECT_NE(it, corpus_->files.end()) << name;
    return *it;
  }
  template <typename Detector>
  static std::vector<std::vector<double>> run(Detector detector) {
    std::vector<std::vector<double>> scores;
    for (const NabScoringFile& f : *files_) scores.push_back(detector(f));
    return scores;
  }

  static inline NabCorpus* corpus_ = nullptr;
  static inline std::vector<NabScoringFile>* files_ = nullptr;
  static inline std::vector<NabProfile>* profiles_ = nullptr;
};

TEST_F(NabCorpusTest, ThirtyFiveLabelledSeriesLoadWhole) {
  ASSERT_EQ(corpus_->files.size(), 35u);
  size_t rows = 0, windows = 0, with_windows = 0, label_points = 0;
  for (const NabCorpusFile& f : corpus_->files) {
    rows += f.series.size();
    windows += f.windows.size();
    with_windows += f.windows.empty() ? 0 : 1;
    label_points += f.label_points.size();
    EXPECT_TRUE(std::filesystem::exists(kNabDir / "data" / f.series.name)) << f.series.name;
  }
  EXPECT_EQ(rows, 181653u);  // data rows of the 35 CSVs (headers excluded)
  EXPECT_EQ(windows, 55u);
  EXPECT_EQ(with_windows, 29u);  // the 5 artificialNoAnomaly files and ec2_cpu_utilization_c6585a have none
  EXPECT_EQ(label_points, 57u);
  EXPECT_EQ(file_named("realKnownCause/nyc_taxi.csv").series.size(), 10320u);
  EXPECT_EQ(file_named("realKnownCause/machine_temperature_system_failure.csv").series.size(), 22695u);
  EXPECT_EQ(file_named("artificialNoAnomaly/art_flatline.csv").series.size(), 4032u);
  // The irregularities the data README announces, kept as they are.
  EXPECT_EQ(file_named("realKnownCause/machine_temperature_system_failure.csv").series.backward_steps, 1u);
  EXPECT_EQ(file_named("realAWSCloudwatch/ec2_disk_write_bytes_1ef3de.csv").series.duplicate_steps, 11u);
  EXPECT_EQ(file_named("realKnownCause/ec2_request_latency_system_failure.csv").series.duplicate_steps, 11u);
}

TEST_F(NabCorpusTest, WindowsLieInsideTheirFilesAndResolveToExactlyTheirRows) {
  size_t labels_outside_windows = 0;
  for (size_t k = 0; k < corpus_->files.size(); ++k) {
    const NabCorpusFile& f = corpus_->files[k];
    const NabScoringFile& sf = (*files_)[k];
    const auto& ts = f.series.timestamps_ms;
    const auto [lo, hi] = std::minmax_element(ts.begin(), ts.end());
    ASSERT_EQ(sf.windows().size(), f.windows.size());
    for (size_t w = 0; w < f.windows.size(); ++w) {
      const NabWindow& win = f.windows[w];
      EXPECT_GE(win.start_ms, *lo) << f.series.name;
      EXPECT_LE(win.end_ms, *hi) << f.series.name;
      // "Rows whose timestamp falls inside [start, end]" and NAB's row walk agree on this data.
      const auto inside = static_cast<size_t>(std::count_if(
          ts.begin(), ts.end(), [&](int64_t t) { return t >= win.start_ms && t <= win.end_ms; }));
      EXPECT_EQ(sf.windows()[w].width(), inside) << f.series.name << " window " << w;
      EXPECT_EQ(ts[sf.windows()[w].first], win.start_ms);
      EXPECT_EQ(ts[sf.windows()[w].last], win.end_ms);
      // No window reaches into probation here, so NAB's perfect (tpWeight x windows) is attainable.
      EXPECT_GE(sf.windows()[w].first, sf.probation_rows()) << f.series.name;
    }
    EXPECT_EQ(sf.scored_windows(), f.windows.size());
    EXPECT_EQ(sf.probation_rows(), std::min<size_t>(f.series.size() * 15 / 100, 750)) << f.series.name;
    for (int64_t t : f.label_points) {
      const bool in_window = std::any_of(f.windows.begin(), f.windows.end(), [t](const NabWindow& w) {
        return t >= w.start_ms && t <= w.end_ms;
      });
      if (!in_window) ++labels_outside_windows;
    }
  }
  // combined_labels.json is informational: one of its points (iio_us-east-1_i-a2eb1cd9_NetworkIn.csv,
  // 2013-10-10 09:35:00) lies an hour before its window. Scoring uses the windows, as NAB does.
  EXPECT_EQ(labels_outside_windows, 1u);
}

TEST_F(NabCorpusTest, NullDetectorScoresZeroAndPerfectDetectorHundredUnderEveryProfile) {
  const auto null_scores = run(nab_null_detector_scores);
  const auto perfect_scores = run(nab_perfect_detector_scores);
  for (const NabProfile& p : *profiles_) {
    const NabCorpusScore null = *score_nab_corpus(*files_, null_scores, 0.5, p);
    EXPECT_DOUBLE_EQ(null.total.raw, -55.0 * p.fn_weight) << p.name;
    EXPECT_DOUBLE_EQ(null.normalized, 0.0) << p.name;
    const NabCorpusScore perfect = *score_nab_corpus(*files_, perfect_scores, 0.5, p);
    EXPECT_DOUBLE_EQ(perfect.total.raw, 55.0 * p.tp_weight) << p.name;
    EXPECT_DOUBLE_EQ(perfect.total.perfect_raw, 55.0 * p.tp_weight);
    EXPECT_DOUBLE_EQ(perfect.normalized, 100.0) << p.name;
    EXPECT_EQ(perfect.total.counts.windows_detected, 55u);
    EXPECT_EQ(perfect.total.counts.fp_rows, 0u);
    // The sweep finds the same ends.
    const NabSweepResult swept_perfect = *sweep_nab_threshold(*files_, perfect_scores, p);
    EXPECT_DOUBLE_EQ(swept_perfect.best.threshold, 1.0);
    EXPECT_DOUBLE_EQ(swept_perfect.best.normalized, 100.0);
    const NabSweepResult swept_null = *sweep_nab_threshold(*files_, null_scores, p);
    EXPECT_DOUBLE_EQ(swept_null.best.threshold, kNabNoDetectionThreshold);
    EXPECT_DOUBLE_EQ(swept_null.best.normalized, 0.0);
  }
}

TEST_F(NabCorpusTest, NabsConstantHalfNullDetectorSweepsToNeverFiring) {
  // NAB's null detector emits 0.5 on every row; its swept threshold must be NAB's 1.1, where it never fires,
  // for "null = -fnWeight per window" to be NAB's baseline.
  const auto half = run([](const NabScoringFile& f) { return std::vector<double>(f.rows(), 0.5); });
  const std::vector<NabSweepResult> r = *sweep_nab_thresholds(*files_, half, *profiles_);
  for (const NabSweepResult& s : r) {
    EXPECT_DOUBLE_EQ(s.best.threshold, kNabNoDetectionThreshold) << s.best.profile.name;
    EXPECT_DOUBLE_EQ(s.best.normalized, 0.0) << s.best.profile.name;
    EXPECT_EQ(s.thresholds_tried, 2u);
  }
}

TEST_F(NabCorpusTest, SweepOverTheCorpusMatchesScoringEveryCandidateThreshold) {
  // Random scores on a 0.05 grid that favour window rows a little: the sweep's best must equal the best of 21
  // fixed-threshold corpus scorings (plus the no-detection one), per profile.
  std::mt19937_64 rng(11);
  const auto scores = run([&rng](const NabScoringFile& f) {
    std::vector<double> s(f.rows());
    for (size_t i = 0; i < f.rows(); ++i) {
      const uint64_t base = rng() % 17;  // 0 .. 0.80
      s[i] = static_cast<double>(std::min<uint64_t>(base + (f.role(i) >= 0 ? rng() % 5 : 0), 20)) / 20.0;
    }
    return s;
  });
  const std::vector<NabSweepResult> swept = *sweep_nab_thresholds(*files_, scores, *profiles_);
  ASSERT_EQ(swept.size(), profiles_->size());
  for (size_t k = 0; k < profiles_->size(); ++k) {
    const NabProfile& p = (*profiles_)[k];
    double best = score_nab_corpus(*files_, scores, kNabNoDetectionThreshold, p)->total.raw;
    double best_t = kNabNoDetectionThreshold;
    for (int t = 20; t >= 0; --t) {
      const double raw = score_nab_corpus(*files_, scores, t / 20.0, p)->total.raw;
      if (raw > best + 1e-9) {
        best = raw;
        best_t = t / 20.0;
      }
    }
    EXPECT_NEAR(swept[k].best.total.raw, best, 1e-9) << p.name;
    EXPECT_DOUBLE_EQ(swept[k].best.threshold, best_t) << p.name;
    EXPECT_NEAR(swept[k].swept_raw, swept[k].best.total.raw, 1e-8) << p.name;
  }
}

}  // namespace
}  // namespace gridsentinel::backtest
