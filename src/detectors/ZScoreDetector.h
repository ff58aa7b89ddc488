#pragma once
// ZScoreDetector: how many standard deviations a value lies from its entity's rolling mean.
//
// Algorithm: z = |x - mean| / max(std, floor) against an event-time RollingWindow of the same feature
// (features/RollingWindow.h), scored before the point is learned (prequential). floor = max(std_floor_abs,
// std_floor_rel * |mean|), so that a flat series (std = 0) never divides by zero and a near-constant one does
// not turn measurement noise into alerts. Assumptions: the feature is roughly normal within the window; for
// skewed or heavy-tailed data the IQR and spike detectors are more robust. Warm-up: scores 0 until the window
// holds `min_samples` points. Score: squash(z, 1, threshold) maps z = threshold to 0.5 (the default alert
// threshold), rising towards 1. Cost: O(1) amortised per point (the window's). Memory: the window's (B
// buckets x 8 bytes, and an 80-byte object) plus a pointer to the shared configuration (intern()): 280
// bytes for the default 24-hour, 24-bucket window. Precision: the window's (mean ~1e-6, standard deviation
// ~1e-3 relative), so z is within ~0.1% of the exact one.
#include <cstdint>
#include <string>
#include <string_view>

#include "detectors/Detector.h"
#include "features/RollingWindow.h"

namespace gridsentinel::detectors {

struct ZScoreConfig {
  int64_t window_ms = 24LL * 3600 * 1000;  // rolling window duration
  uint32_t buckets = 24;                   // window resolution (see RollingWindow)
  uint32_t min_samples = 16;               // warm-up
  double threshold = 4.0;                  // z at which the score reaches 0.5
  double std_floor_abs = 1e-9;             // in the feature's unit
  double std_floor_rel = 0.001;            // fraction of |mean|

  bool operator==(const ZScoreConfig&) const = default;
};

class ZScoreDetector {
 public:
  using Input = Point;
  explicit ZScoreDetector(const ZScoreConfig& cfg = {})
      : cfg_(intern(cfg)), window_(cfg.window_ms, cfg.buckets) {}

  double score(const Input& p) const { return squash(z(p.value), 1.0, cfg_->threshold); }
  // Signed z-score of `value` against the window; 0 before warm-up or for non-finite input.
  double signed_z(double value) const;
  double z(double value) const;
  void learn(const Input& p) { window_.add(p.time_ms, p.value); }
  bool warmed_up() const { return window_.count() >= cfg_->min_samples; }
  features::WindowStats stats() const { return window_.stats(); }
  // The range of values that would score below 0.5: mean +- threshold * max(std, floor).
  std::pair<double, double> expected_range() const;
  const features::RollingWindow& window() const { return window_; }
  void prefetch() const { window_.prefetch(cfg_->buckets); }  // see HeapArray::prefetch

  std::string save() const;
  void save(StateWriter& w) const;  // the same bytes, appended to `w` (checkpoints: no string of its own)
  bool restore(std::string_view bytes);

 private:
  double effective_std(const features::WindowStats& s) const;
  const ZScoreConfig* cfg_;  // interned (see intern())
  features::RollingWindow window_;
};

}  // namespace gridsentinel::detectors
