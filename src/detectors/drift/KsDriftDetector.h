#pragma once
// KsDriftDetector: fleet-level distribution drift per feature, by the two-sample Kolmogorov-Smirnov test.
//
// Algorithm (per feature, DriftWindows.h): the first `reference_size` points form a frozen reference sample;
// a ring then holds the latest `recent_size` points. Once the ring is full, and then every `test_every` new
// points, ks_2samp(reference, recent) (KsTest.h, scipy 1.10.1 semantics) runs. A drift finding needs both
//   p <= alpha_per_test = alpha / (features * ceil(recent_size / test_every))   and   D > d_min.
// After a finding the feature keeps testing (scores stay fresh) but raises no new finding until `recent_size`
// further points have arrived; then those post-drift points become the new reference ("adopted", so a lasting
// change becomes the new normal and alerts once) and the ring refills before testing resumes.
//
// Why contiguous windows, not reservoir samples: a finding names two event-time intervals an operator can
// look at and compare, the two samples never overlap (valid p-values), and everything is deterministic (no
// seed). Reservoirs over long windows would dilute a recent change. The price: the
// reference ages; adoption refreshes it.
//
// Why this correction: every test of every feature is a chance of a false finding. Bonferroni across features
// (divide by `features`) and across the tests of one ring turnover (divide by ceil(recent_size / test_every))
// bounds the expected number of false findings per `recent_size` points per fleet by `alpha`. Tests on
// overlapping rings are strongly positively correlated, so the real rate is lower. MEASURED by simulation
// with the defaults (alpha 0.01, 500 vs 500, test every 50; stationary normal, exponential and Poisson(4)
// streams, the last with heavy ties; std::mt19937_64 seeds 1000..1019):
//   1 feature:  15 false findings in 12,000,000 points = 24,000 ring turnovers -> 6.3e-4 per turnover
//               (about one per 800,000 points; the bound is 1e-2 per turnover);
//   8 features:  3 false findings in 12,000,000 feature-points = 3,000 fleet turnovers -> 1.0e-3 per fleet
//               turnover (bound 1e-2).
// KsDriftDetector.FalseAlarmRateOnStationaryDataIsBelowTheBound (tests/unit/ks_drift_detector_test.cc)
// re-measures on 1,400,000 feature-points and fails if the count exceeds the bound. The D > d_min floor (as
// River's KSWIN, d_min = 0.1) keeps statistically clear but practically negligible changes (large samples,
// tiny shifts) from raising findings.
//
// Assumptions: points of one feature are exchangeable under no drift (fleet-level values from many meters,
// not one autocorrelated series: autocorrelation makes K-S p-values too small). Ties are fine (scipy's exact
// test with ties is conservative).
//
// Cost: O(1) per point, plus per test O(N log N) to sort the ring and the exact p-value (O(N) when
// reference_size == recent_size; O(R N)-ish otherwise, see KsTest.h). Measured with the defaults on the
// shared 2-core dev box: 50-110 us per test including data generation, i.e. ~1-2 us per point amortised.
// Memory: per feature reference_size doubles + recent_size (double + int64) (~12 KB with the defaults), one
// shared sort buffer, and at most `max_pending_findings` queued findings. Warm-up: reference_size +
// recent_size points.
//
// Detector contract (src/detectors/Detector.h) for ONE feature: Input = Point; learn(p) = observe(0, p);
// score(p) = drift evidence of the latest test on feature 0: x / (1 + x) with
//   x = min(log p / log alpha_per_test, D / d_min),
// so 0 for p = 1, exactly 0.5 on the finding boundary (p = alpha_per_test, D = d_min), -> 1 for overwhelming
// evidence; 0 before feature 0 has run a test on its current reference (warmed_up() false) and for NaN/Inf
// input. save()/restore() cover every feature, the pending findings and the counters. Never throws after
// construction.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "detectors/Detector.h"
#include "detectors/drift/DriftWindows.h"
#include "detectors/drift/KsTest.h"

namespace gridsentinel::detectors {

struct KsDriftConfig {
  uint32_t reference_size = 500;       // [8, 10000] points in the reference sample
  uint32_t recent_size = 500;          // [8, 10000] points in the recent ring
  uint32_t test_every = 50;            // [1, recent_size] new points between tests
  double alpha = 0.01;                 // (0, 1) expected false findings per recent_size points, whole fleet
  double d_min = 0.1;                  // [0, 1) a finding also needs D > d_min
  uint32_t max_pending_findings = 64;  // [1, 100000] unpolled findings kept; the oldest is dropped beyond
  KsMethod method = KsMethod::kAuto;   // p-value method (kAuto: exact up to 10000 points per side)

  // Empty when valid, else what is wrong.
  std::string validate() const;
};

struct DriftFinding {
  std::string feature;
  uint32_t feature_index = 0;
  double statistic = 0.0;       // K-S D
  double pvalue = 1.0;          // two-sided p-value
  double alpha_per_test = 0.0;  // the corrected threshold p was held to
  KsMethod method = KsMethod::kExact;
  EventWindow reference;
  EventWindow recent;
  int64_t detected_at_ms = 0;  // event time of the point whose arrival triggered the test
};

class KsDriftDetector {
 public:
  using Input = Point;

  // Throws std::invalid_argument on an invalid config or an empty/duplicate feature list (start-up only).
  explicit KsDriftDetector(KsDriftConfig config = {}, std::vector<std::string> features = {"value"});

  // Pipeline API. Returns false, changing nothing, for an unknown feature or a NaN/Inf value.
  bool observe(size_t feature, const Point& p);
  // The oldest unpolled finding, if any.
  std::optional<DriftFinding> poll();

  size_t pending_findings() const { return pending_count_; }
  uint64_t dropped_findings() const { return dropped_findings_; }
  uint64_t tests_run() const { return tests_run_; }
  double alpha_per_test() const { return alpha_per_test_; }
  const KsDriftConfig& config() const { return config_; }
  size_t feature_count() const { return names_.size(); }
  const std::string& feature_name(size_t feature) const { return names_.at(feature); }
  // Evidence in [0, 1) of the latest test on `feature` (see above); 0 when it has none.
  double evidence(size_t feature) const;
  // D and p of the latest test on `feature`; nullopt before its first test (for monitoring gauges).
  std::optional<std::pair<double, double>> last_test(size_t feature) const {
    const auto& f = features_.at(feature);
    if (!f.tested) return std::nullopt;
    return std::make_pair(f.last_d, f.last_p);
  }
  uint64_t tests_run_total() const { return tests_run_; }

  // Detector contract, single-feature view (feature 0).
  double score(const Point& p) const;
  void learn(const Point& p) { observe(0, p); }
  bool warmed_up() const { return features_.front().tested; }
  std::string save() const;
  bool restore(std::string_view bytes);

 private:
  struct FeatureState {
    DriftWindows windows;
    uint32_t since_test = 0;  // points since the latest test
    uint32_t adopt_in = 0;  // > 0: a finding is being adopted; points left until the ring is all post-finding
    bool tested = false;    // a test has run on the current reference and ring
    double last_d = 0.0;
    double last_p = 1.0;
  };

  void run_test(size_t feature, int64_t now_ms);
  void push_finding(DriftFinding f);

  KsDriftConfig config_;
  std::vector<std::string> names_;
  double alpha_per_test_;
  std::vector<FeatureState> features_;
  std::vector<DriftFinding> pending_;  // ring of max_pending_findings
  size_t pending_head_ = 0;            // oldest
  size_t pending_count_ = 0;
  uint64_t dropped_findings_ = 0;
  uint64_t tests_run_ = 0;
  std::vector<double> scratch_;  // sorted copy of a ring, reused by every test
};

}  // namespace gridsentinel::detectors
