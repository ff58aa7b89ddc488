#pragma once
// SlidingQuantileSketch: approximate quartiles of one feature of one entity over a long event-time window.
//
// Algorithm: the window's duration is split into B buckets of width w = duration / B, aligned to the epoch
// (bucket index floor(t / w)). Each bucket keeps its own KllSketch (features/KllSketch.h). The reference the
// quartiles describe is the B complete buckets before the "head" (the bucket of the newest event time seen),
// i.e. event times in [(head - B) w, head w): exactly `duration` of data, ending where the current bucket
// begins. When the head moves on, the reference buckets are merged into one sketch (KLL is mergeable) and its
// quartiles cached until the next rotation, so reading them costs nothing per point. The head bucket fills
// meanwhile and joins the reference when it closes: what the detector compares a point against lags the
// newest data by at most one bucket width, and a burst inside the current bucket cannot mask itself.
//
// Error: the cached quartiles are within KllSketch::rank_error(k) * n in rank of the exact quartiles of the
// reference's n points (99% confidence per query). Exact while the reference holds at most k points. Measured
// against exact rolling quantiles (tests/unit/kll_sketch_test.cc, B = 12, 18,000 points): worst 0.62% over
// 3,840 queries at k = 200, none beyond the 1.33% bound.
// Event times must lie within +-2^60 ms; others are refused.
// Out of order: a late point whose bucket is still in the reference or the head goes into its bucket and
// joins the cached quartiles at the next rotation, as the head's points do (refreshing on every late point
// would cost a merge each, and batched late arrivals would make that the common case). One older than the
// reference is refused (`add` returns false) and the caller counts it as late. A gap longer than the window
// empties the reference.
// Cost: update O(1) amortised (KllSketch::update); a rotation merges B sketches, O(B k log k): about 0.5 ms
// for B = 24 full sketches at k = 200, once per bucket width per entity.
// Memory: B + 1 sketches, each at most ~5 kB at k = 200, and only as large as its bucket's data while that
// holds fewer than ~600 points (8 bytes a point): 107 kB per entity measured at B = 24 with 3,600 points a
// bucket; worst case about 125 kB.
// Randomness: each bucket's sketch is seeded from (seed, bucket index) and the merge from (seed, head), so
// the whole state is a deterministic function of the seed and the points.
#include <cstdint>
#include <limits>
#include <vector>

#include "common/StateCodec.h"
#include "features/KllSketch.h"
#include "features/Quartiles.h"

namespace gridsentinel::features {

class SlidingQuantileSketch {
 public:
  static constexpr uint32_t kMaxBuckets = 256;
  // buckets is clamped to [1, kMaxBuckets], the bucket width to >= 1 ms; k as in KllSketch.
  SlidingQuantileSketch(int64_t window_ms, uint32_t buckets, uint16_t k, uint64_t seed);

  // Adds one point. Returns false (and changes nothing) when the value is not finite or the point is too
  // late.
  bool add(int64_t time_ms, double value);

  // Quartiles of the reference (the B complete buckets before the head) as of the last rotation; count 0 and
  // NaNs when it is empty.
  const Quartiles& quartiles() const { return cached_; }
  uint64_t count() const { return cached_.count; }
  // The reference buckets merged into one sketch as they are now: at a rotation, the sketch the cached
  // quartiles are read from (between rotations it also holds the late points that will join them at the
  // next).
  KllSketch merged() const;
  // Event-time span of the reference, [begin, end); both 0 before the first point.
  int64_t reference_begin_ms() const { return head_ == kNone ? 0 : (head_ - buckets()) * bucket_ms_; }
  int64_t reference_end_ms() const { return head_ == kNone ? 0 : head_ * bucket_ms_; }
  int64_t bucket_ms() const { return bucket_ms_; }
  int64_t buckets() const { return static_cast<int64_t>(slots_.size()) - 1; }
  size_t memory_bytes() const;

  void save(StateWriter& w) const;
  bool restore(
      StateReader& r);  // false on malformed input or a different shape; then this sketch is unchanged

 private:
  static constexpr int64_t kNone = std::numeric_limits<int64_t>::min();
  struct Slot {
    int64_t index = kNone;  // absolute bucket index held, kNone when never used
    KllSketch sketch;
  };
  Slot& slot_for(int64_t index);
  const Slot& slot_for(int64_t index) const;
  void refresh();

  int64_t bucket_ms_;
  uint16_t k_;
  uint64_t seed_;
  std::vector<Slot> slots_;  // B + 1: the reference and the head; slot of bucket i is i mod (B + 1)
  int64_t head_ = kNone;
  Quartiles cached_;
};

}  // namespace gridsentinel::features
