#pragma once
// The contract every gridsentinel detector keeps. Checked for all of them by one typed conformance suite
// (tests/conformance/DetectorConformance.h, instantiated per detector in tests/unit/).
//
// A detector is a pure, deterministic object:
//   - `double score(const Input&) const`: anomaly score in [0, 1], higher = more anomalous. Does not change
//   state.
//     Before warm-up is complete, and for input it cannot judge (NaN, Inf), the score is 0.
//   - `void learn(const Input&)`: folds the input into the detector's state. NaN/Inf input is ignored.
//   - `std::string save() const` / `bool restore(std::string_view)`: the whole state (windows included), so
//   that a
//     restored detector scores, learns and forgets exactly as the original would. `restore` returns false and
//     leaves the detector unchanged on malformed input; it never throws.
//   - `bool warmed_up() const`: enough history to score.
// No I/O, no clock reads (time comes in the input), no threads; randomness only from a seed given at
// construction. Scoring is separate from deciding: `LearningGuard` (below) turns scores into verdicts and
// owns the "do not learn from flagged points" switch, as River's threshold wrappers do.
#include <concepts>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace gridsentinel::detectors {

// A univariate observation: one feature of one entity at one event time.
struct Point {
  int64_t time_ms = 0;  // event time, ms since the Unix epoch
  double value = 0.0;
};

template <class D>
concept StreamingDetector = requires(D d, const D cd, const typename D::Input& in, std::string_view bytes) {
  typename D::Input;
  { cd.score(in) } -> std::convertible_to<double>;
  {d.learn(in)};
  { cd.save() } -> std::convertible_to<std::string>;
  { d.restore(bytes) } -> std::same_as<bool>;
  { cd.warmed_up() } -> std::same_as<bool>;
};

// Decides from a score and applies the learning policy:
//   - a point scoring >= threshold is flagged;
//   - with `skip_flagged` on (the default), flagged points are not learned, so an anomaly does not teach the
//     detector that it is normal;
//   - but once `adopt_after` consecutive points are flagged, the shift has persisted: those points are
//   learned
//     from then on, so a lasting level shift becomes the new normal instead of alerting forever.
struct LearningPolicy {
  double threshold = 0.5;
  bool skip_flagged = true;
  uint32_t adopt_after = 12;
};

class LearningGuard {
 public:
  // Returns whether the point should be learned, given whether it was flagged. Updates the run of flagged
  // points.
  bool should_learn(bool flagged, const LearningPolicy& p) {
    if (!flagged) {
      flagged_run_ = 0;
      return true;
    }
    if (flagged_run_ < UINT32_MAX) ++flagged_run_;
    return !p.skip_flagged || flagged_run_ >= p.adopt_after;
  }
  uint32_t flagged_run() const { return flagged_run_; }
  void set_flagged_run(uint32_t n) { flagged_run_ = n; }

 private:
  uint32_t flagged_run_ = 0;
};

// One shared, immutable copy of each distinct detector configuration (compared with ==), so that a million
// per-entity detectors hold an 8-byte pointer instead of a copy each. Copies live for the whole process;
// there are as many as there are distinct configurations (a handful; a parameter sweep creates one per
// setting). Thread-safe; the pointer is stable.
template <class Config>
const Config* intern(const Config& cfg) {
  static std::mutex mu;
  static std::vector<std::unique_ptr<const Config>> pool;
  static const Config* last = nullptr;  // detectors are created in runs with the same configuration
  const std::lock_guard lock(mu);
  if (last && *last == cfg) return last;
  for (const auto& p : pool)
    if (*p == cfg) return last = p.get();
  pool.push_back(std::make_unique<const Config>(cfg));
  return last = pool.back().get();
}

// Maps an unbounded non-negative statistic (a z-score, a distance in IQRs) to [0, 1):
// 0 at `neutral`, 0.5 at `half`, approaching 1 as it grows. Monotone, so thresholds on the statistic and on
// the score are interchangeable.
inline double squash(double stat, double neutral, double half) {
  if (!(stat > neutral)) return 0.0;
  if (stat == std::numeric_limits<double>::infinity()) return 1.0;
  const double x = (stat - neutral) / (half - neutral);
  return x / (1.0 + x);
}

}  // namespace gridsentinel::detectors
