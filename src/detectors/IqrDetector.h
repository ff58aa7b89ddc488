#pragma once
// IqrDetector: Tukey's fences over an entity's rolling window of one feature.
//
// Algorithm: Tukey, "Exploratory Data Analysis" (1977): a value outside [Q1 - k IQR, Q3 + k IQR] is an
// outlier (k = 1.5; 3 for "far out"). The statistic is d, the distance outside the box [Q1, Q3] in IQRs, so
// that score = squash(d, 0, k) is 0 inside the box, 0.5 exactly at a fence (the default LearningPolicy
// threshold, so "flagged" means "on or beyond a fence") and rises towards 1 further out (0.67 at 2k). Scored
// before the point is learned (prequential).
// Window (IqrConfig), one of three:
//   - bucketed (the default; sketch_buckets = 0, window_ms > 0, buckets = B > 0): every point of the window
//   as
//     a 16-bit code, in B event-time buckets; quartiles of the B complete buckets before the current one (at
//     most max_points points), refreshed when a bucket closes (features/BucketedQuantiles.h). Ranks exact,
//     values within 2^-11 relative (0.05%). 2 bytes a point: 626 bytes for the default meter window.
//   - exact (sketch_buckets = 0 and window_ms = 0 (count only) or buckets = 0): the `max_points` most recent
//     points within `window_ms`, updated on every point, exact type-7 quartiles
//     (features/RollingQuantiles.h). 24 bytes a point.
//   - sketched (sketch_buckets = B > 0): a KLL sketch per event-time bucket; quartiles of the B complete
//     buckets before the current one, refreshed when a bucket closes (features/SlidingQuantileSketch.h); rank
//     error KllSketch::rank_error(k) (1.33% at k = 200, 99% confidence). For long windows of frequent data.
// IQR floor: iqr = max(Q3 - Q1, iqr_floor_abs, iqr_floor_rel * |median|), so a flat series (IQR 0) never
// divides by zero and a near-constant one does not turn its tiny wiggles into alerts.
// Assumptions: the bulk of the window is normal (quartiles tolerate 25% contamination); the distribution need
// not be symmetric or normal, but heavy one-sided tails give one-sided false alarms at k = 1.5 (use 3 there).
// Warm-up: scores 0 until the window (the reference, in sketch mode) holds `min_samples` points.
// Cost per point, score + learn (bench/window_detectors_bench.cc, Release): exact 0.17 us at N = 288, 0.6 us
// at N = 4,096; sketched (a week, B = 24, k = 200) 0.3 us at a point per 10 s, 1.0 us at one per minute,
// mostly the rotation's merge amortised over a bucket's points.
// Memory: bucketed 2 bytes x (max_points + B + 1) + 96 bytes, fixed (0.7 kB at 288 points, B = 24); exact 24
// bytes x max_points + 128 bytes, fixed (7 kB at 288 points); sketched B + 1 KLL sketches, grown on demand,
// at most ~5 kB each at k = 200 (86-107 kB for a week of 10-60 s data). Non-finite values score 0 and are not
// learned.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "detectors/Detector.h"
#include "features/BucketedQuantiles.h"
#include "features/HeapArray.h"
#include "features/Quartiles.h"
#include "features/RollingQuantiles.h"
#include "features/SlidingQuantileSketch.h"

namespace gridsentinel::detectors {

struct IqrConfig {
  int64_t window_ms = 24LL * 3600 * 1000;  // window duration (exact: 0 = count only)
  uint32_t max_points = 288;  // bucketed/exact window's cap (<= RollingQuantiles::kMaxPoints): a day at 5 min
  uint32_t buckets = 24;      // bucketed window's buckets; 0 = exact (point by point) window
  uint32_t sketch_buckets = 0;  // 0 = exact window; B > 0 = sliding KLL sketch with B buckets
  uint16_t sketch_k = 200;      // KLL accuracy/memory trade-off
  uint32_t min_samples = 16;    // warm-up
  double k = 1.5;               // fence multiplier: score 0.5 at Q1 - k IQR and Q3 + k IQR
  double iqr_floor_abs = 1e-9;  // in the feature's unit
  double iqr_floor_rel = 0.01;  // fraction of |median|

  bool operator==(const IqrConfig&) const = default;
};

// What the window says is normal; `lower`/`upper` are the alert's expected range.
struct IqrFences {
  double lower = 0, upper = 0;  // Q1 - k iqr, Q3 + k iqr
  double iqr = 0;               // effective (floored) interquartile range
  features::Quartiles quartiles;
};

class IqrDetector {
 public:
  using Input = Point;
  explicit IqrDetector(const IqrConfig& cfg = {}, uint64_t seed = 0);

  double score(const Input& p) const;
  // Distance of `value` outside [Q1, Q3] in effective IQRs; 0 inside, before warm-up, or for non-finite
  // input.
  double distance(double value) const;
  void learn(const Input& p);
  bool warmed_up() const { return count() >= cfg_->min_samples; }
  // The fences; nullopt before warm-up.
  std::optional<IqrFences> fences() const;
  bool sketched() const { return window_.index() == kSketched; }
  bool bucketed() const { return window_.index() == kBucketed; }
  size_t memory_bytes() const;
  // Starts loading the bucketed window's points (see HeapArray::prefetch); nothing for the other windows.
  void prefetch() const {
    if (window_.index() == kBucketed) std::get<kBucketed>(window_).prefetch();
  }

  std::string save() const;
  void save(StateWriter& w) const;  // the same bytes, appended to `w` (checkpoints: no string of its own)
  bool restore(std::string_view bytes);

 private:
  features::Quartiles quartiles() const;
  // The points quartiles() describes, without computing them (the bucketed window selects them when read).
  uint64_t count() const;
  static constexpr size_t kBucketed = 0, kExact = 1, kSketched = 2;
  using Window = std::variant<features::BucketedQuantiles, features::Boxed<features::RollingQuantiles>,
                              features::Boxed<features::SlidingQuantileSketch>>;
  static Window make_window(const IqrConfig& cfg, uint64_t seed);
  const IqrConfig* cfg_;  // interned (see intern())
  Window window_;
};

}  // namespace gridsentinel::detectors
