#pragma once
// SpikeDetector: a jump against an entity's recent level, robust to the outliers it looks for, and a verdict
// on whether the jump was a spike (the series came back) or a level shift (it stayed).
//
// Algorithm: a Hampel identifier (Hampel 1974; Pearson, "Outliers in process modeling and identification",
// 2002): robust z = |x - median| / scale over the last N points, scale = max(1.4826 MAD, scale_floor_abs,
// scale_floor_rel * |median|) (1.4826 MAD estimates sigma for normal data; the floor keeps a flat or
// quantised series, whose MAD is 0, from dividing by zero). score = squash(z, 1, threshold): 0.5 at z =
// threshold.
// Options for series with a daily cycle (meters): the level may be the median of only the newest
// `level_points` points, and the scale may be floored by a time-of-day profile of the series' own step size
// (see SpikeConfig::level_points, daily_step_buckets). Both off by default (infra series, NAB).
// Why median/MAD rather than a first-difference score: both have a 50% breakdown point, so the spike itself
// (and a few more) does not drag the level or inflate the scale the next points are judged by, and the point
// that returns to the level after a spike scores low. A first difference scores the return as high as the
// jump (a second alert for one spike) and doubles the noise variance (the difference of two noisy points).
//
// Spike or level shift: a point scoring >= 0.5 opens a candidate, remembering the level before it (median m0,
// scale s0). After `confirm_points` later points, the level they end on, the median of their last
// ceil(confirm_points / 2), decides: within `return_z` s0 of m0 is a spike (it came back within
// confirm_points and stayed) or, with return_fraction > 0, a level that fell back by at least 1 -
// return_fraction of the jump, else a level shift. `resolved()` reports the verdict after the learn that
// decided it. Alerting need not wait for it: the candidate's score is what `score` returned for it, so the
// alert fires at the spike and the verdict refines it.
// One candidate per episode: after a candidate opens, the next one opens only once a point scores below 0.5
// with no candidate pending, so a level shift flagged for N/2 points until the window adopts it yields one
// verdict.
// Learning policy: run it with LearningPolicy::skip_flagged = false. Median and MAD tolerate the spikes they
// learn, a level shift becomes the new median after about N/2 points, and the verdict needs `learn` to see
// the candidate and the points after it.
//
// Out of order: a point older than the window's oldest (full window) is not learned (MedianWindow); a
// point older than the pending candidate does not count towards its confirmation.
// Warm-up: scores 0, and opens no candidate, until the window holds `min_samples` points.
// Cost per point, score + learn: O(N) memmove plus O(log N) for the MAD; 0.19 us at N = 31, 0.23 us at N =
// 101 (bench/window_detectors_bench.cc, Release).
// Memory: 8 bytes x window_points + 64 bytes (+ 2 bytes x daily_step_buckets with the step profile), fixed
// at construction (312 bytes at N = 31, 360 with the meters' 24-bucket profile; the window is a
// features/MedianWindow, floats with 32-bit time offsets); a pending candidate and its verdict take another
// ~170 bytes on the heap while one is open (rarely: once per spike).
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <memory>
#include "detectors/Detector.h"

#include "features/HeapArray.h"
#include "features/MedianWindow.h"

namespace gridsentinel::detectors {

struct SpikeConfig {
  uint32_t window_points = 31;     // N, the recent level's points (odd: a true middle)
  uint32_t min_samples = 15;       // warm-up, <= window_points
  double threshold = 5.0;          // robust z at which the score reaches 0.5 and a candidate opens
  double scale_floor_abs = 1e-9;   // feature's unit; a quantised series wants its step here
  double scale_floor_rel = 0.001;  // fraction of |median|
  uint32_t confirm_points = 5;     // later points seen before the verdict, 1..kMaxConfirmPoints
  double return_z = 2.5;           // back to the old level = within return_z old scales of the old median
  // Also back (when > 0): the level after fell back by at least 1 - return_fraction of the jump, i.e.
  // |level_after - m0| <= return_fraction * |spike - m0|. A spike on top of a rising daily load lands on a
  // level that is itself several old scales above m0, yet far below the spike; a lasting shift stays near
  // the jump (fraction ~1).
  double return_fraction = 0.0;
  // The level a point is measured against (and the candidate's baseline): the median of the newest
  // `level_points` points of the window; 0 = the whole window's median. A series with a daily cycle moves
  // further in N points than a spike stands out from its neighbours: a 31-point median of 15-minute meter
  // readings at 01:00 is still the evening peak's level, so a spike 10x the night load sat under 5 robust
  // deviations of it. With 1, a point is judged against its predecessor and (the verdict) its successors.
  // The scale's MAD is still taken over the whole window; scale_floor_rel applies to this level.
  uint32_t level_points = 0;
  // Time-of-period profile of the series' own step size (when daily_step_buckets > 0): per bucket of
  // daily_step_period_ms (bucket = event time mod period), an exponentially weighted mean of |x_t - x_t-1|
  // (weight daily_step_alpha; each step clipped at 4x the bucket's mean, so the two steps of a spike raise it
  // by at most 70% with the default weight). The scale is at least daily_step_factor x the mean step of the
  // point's bucket: where the series normally moves a lot at that time of day (a rooftop-PV meter under
  // passing clouds at 10:00, a household's evening), a jump must be larger to count.
  uint32_t daily_step_buckets = 0;
  int64_t daily_step_period_ms = 86'400'000;
  double daily_step_factor = 2.0;
  double daily_step_alpha = 0.1;

  bool operator==(const SpikeConfig&) const = default;
};

enum class SpikeKind : uint8_t { kSpike = 1, kLevelShift = 2 };

struct SpikeVerdict {
  SpikeKind kind = SpikeKind::kSpike;
  int64_t time_ms = 0;       // the candidate's event time: the alert's
  double value = 0;          // the candidate's value
  double score = 0;          // the candidate's score, as `score` returned it
  double baseline = 0;       // the level before the candidate (median)
  double level_after = 0;    // the level the confirmation points ended on
  uint32_t away_points = 0;  // consecutive points from the candidate on that were away from the baseline
};

class SpikeDetector {
 public:
  using Input = Point;
  static constexpr uint32_t kMaxConfirmPoints = 64;
  explicit SpikeDetector(const SpikeConfig& cfg = {});
  SpikeDetector(const SpikeDetector& o);
  SpikeDetector(SpikeDetector&&) noexcept = default;
  SpikeDetector& operator=(const SpikeDetector& o);
  SpikeDetector& operator=(SpikeDetector&&) noexcept = default;

  double score(const Input& p) const;
  // Robust z of `value` against the level, in the scale at the newest point's time (the daily step profile
  // is per time); 0 before warm-up or for non-finite input.
  double robust_z(double value) const;
  double robust_z(double value, int64_t time_ms) const;
  void learn(const Input& p);
  bool warmed_up() const { return window_.count() >= cfg_->min_samples; }
  void prefetch() const { window_.prefetch(cfg_->window_points); }  // see HeapArray::prefetch

  // The verdict the last `learn` reached, if it reached one; cleared by the next `learn` and by `restore`.
  const std::optional<SpikeVerdict>& resolved() const;
  // Whether a candidate is waiting for its confirmation points, and its event time.
  std::optional<int64_t> pending_since_ms() const;
  // The recent level and the scale a point is measured in (median of the newest level_points, or of the
  // window; floored 1.4826 MAD, at the newest point's time); NaN before the first point.
  double level() const;
  double scale() const;
  double scale_at(int64_t time_ms) const;
  size_t memory_bytes() const;

  std::string save() const;
  void save(StateWriter& w) const;  // the same bytes, appended to `w` (checkpoints: no string of its own)
  bool restore(std::string_view bytes);

 private:
  struct Candidate {
    int64_t time_ms = 0;
    double value = 0, score = 0, baseline = 0, scale = 0;
    uint32_t away_points = 1;  // the candidate itself
    bool still_away = true;    // no later point has come back yet
  };
  bool is_away(const Candidate& c, double value) const;
  size_t step_bucket(int64_t time_ms) const;
  void learn_step(int64_t time_ms, double value);
  SpikeVerdict resolve(const Candidate& c) const;

  // What only a spike needs, on the heap while a candidate is pending or a verdict was just reached.
  struct Episode {
    std::optional<Candidate> pending;
    std::vector<double> later;  // the pending candidate's confirmation points, at most confirm_points
    std::optional<SpikeVerdict> resolved;
  };
  Episode& episode();

  const SpikeConfig* cfg_;  // interned (see intern())
  features::MedianWindow window_;
  bool armed_ = true;               // a flagged point may open a candidate
  std::unique_ptr<Episode> state_;  // null: no candidate pending, no verdict to report
  // Daily step profile (empty when daily_step_buckets is 0): mean |step| per bucket, 0 = not seen yet, as
  // bfloat16 (a float's upper 16 bits, rounded to nearest: 3 significant digits, plenty for a scale floor;
  // 48 bytes a meter instead of 96). A step is measured from the window's newest point.
  features::HeapArray<uint16_t> step_;
  double step_mean(size_t bucket) const;
};

}  // namespace gridsentinel::detectors
