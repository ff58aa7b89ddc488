#pragma once
// BucketedQuantiles: quartiles of one feature of one entity over an event-time window, in 2 bytes a point.
//
// Window: the duration is split into B buckets of width w = duration / B, aligned to the epoch (bucket index
// floor(t / w)). Once the window holds `max_points` points, the reference the quartiles describe is the B
// complete buckets before the "head" (the bucket of the newest event time seen), i.e. event times in
// [(head - B) w, head w), and of those at most the `max_points` most recent (by bucket, then arrival). When
// the head moves on, the quartiles of the reference are computed and cached until the next rotation, so
// reading them costs nothing per point. The head bucket fills meanwhile and joins the reference when it
// closes: the reference lags the newest data by at most one bucket width, and a burst inside the current
// bucket cannot mask itself (as SlidingQuantileSketch, whose sketches this replaces with the points
// themselves when the window is short enough to hold them). While it holds fewer than `max_points` (warm-up,
// or a window whose time span holds fewer points), the quartiles follow every point and cover every
// point held, head bucket included, as the exact window's would: a reference that lagged by a bucket during
// warm-up flagged ~60% more points of a simulated fleet's first three days than the exact window did.
// Out of order: a late point whose bucket is still in the reference or the head goes into its bucket and
// joins the cached quartiles at the next rotation; one older than the reference is refused (`add` returns
// false) and the caller counts it as late. A gap longer than the window empties it.
//
// Storage: every point of the reference and of the head as a 16-bit code (HalfCodec, features/HalfCode.h), in
// one ring ordered by bucket, plus a 16-bit count per bucket; allocated once at construction, (B + 1 +
// max_points) x 2 bytes (626 bytes for the default meter window: 3 days, B = 24, 288 points) and a 48-byte
// object. When the ring is full the oldest point is dropped.
// Error: codes are monotone, so the quartiles are type-7 interpolations (numpy's default) between the exact
// order statistics' codes: |q - exact q| <= (2^-11 + 2^-24) max(|x_lo|, |x_hi|) + 2^-24 M, x_lo and x_hi the
// two order statistics interpolated, M the largest magnitude seen since the window was last empty (the codes'
// anchor; the second term only matters for values 2^18 times smaller than M). Ranks are exact. Cost: add O(1)
// in order (O(points after it) for a late one); a rotation selects the quartiles' order statistics from the
// reference's codes in O(n) (features/CodeSelect.h) once per bucket width; while the ring fills, the first
// read of the quartiles after an add does.
#include <cstdint>
#include <limits>

#include "common/StateCodec.h"
#include "features/HalfCode.h"
#include "features/HeapArray.h"
#include "features/Quartiles.h"

namespace gridsentinel::features {

class BucketedQuantiles {
 public:
  static constexpr uint32_t kMaxBuckets = 1024;
  static constexpr uint32_t kMaxPoints = 8192;  // (and B + 1 + max_points < 65536)
  // window_ms > 0; buckets clamped to [1, kMaxBuckets], the bucket width to >= 1 ms; max_points to [1,
  // kMaxPoints].
  BucketedQuantiles(int64_t window_ms, uint32_t buckets, uint32_t max_points);

  // Adds one point. Returns false (and changes nothing) when the value is not finite or the point is too
  // late.
  bool add(int64_t time_ms, double value);

  // Quartiles of the reference as of the last rotation, or of every point held while not full (kept as
  // floats: a further 2^-24 relative); count 0 and NaNs when empty. While the ring fills, they are computed
  // here, on the first call after an add, rather than in add(): a detector reads them only once it holds
  // min_samples points, so the first points of every entity cost no selection (a pending selection is
  // done before any change that the eager one would not have seen).
  Quartiles quartiles() const;
  // The number of points quartiles() describes, without computing them.
  uint64_t count() const { return ref_count_; }
  // Points held (reference and head).
  uint32_t held() const { return count_; }
  int64_t bucket_ms() const { return bucket_ms_; }
  uint32_t buckets() const { return buckets_; }
  uint32_t capacity() const { return capacity_; }
  size_t memory_bytes() const { return sizeof(*this) + data_.heap_bytes(); }
  // Starts loading the bucket counts and the codes held (see HeapArray::prefetch).
  void prefetch() const { data_.prefetch(uint32_t{buckets_} + 1 + capacity_); }

  void save(StateWriter& w) const;
  bool restore(StateReader& r);  // false on malformed input or a different shape; then this is unchanged

 private:
  static constexpr int64_t kNone = std::numeric_limits<int64_t>::min();
  // Set in the saved reference count when the quartiles were pending (not selected, not saved).
  static constexpr uint16_t kPendingBit = 0x8000;
  static_assert(kMaxPoints < kPendingBit);
  // data_: B + 1 bucket counts (slot of bucket i = i mod (B + 1)), then the ring of capacity_ codes.
  uint16_t& bucket_count(int64_t index) { return data_[slot_of(index)]; }
  uint16_t bucket_count(int64_t index) const { return data_[slot_of(index)]; }
  size_t slot_of(int64_t index) const {  // index mod (B + 1) in [0, B]: one division
    const int64_t n = int64_t{buckets_} + 1;
    const int64_t r = index % n;
    return static_cast<size_t>(r < 0 ? r + n : r);
  }
  uint32_t ring_at(uint32_t i) const {  // ring position of the i-th oldest point (i < capacity_): no division
    const uint32_t at = uint32_t{head_pos_} + i;
    return at >= capacity_ ? at - capacity_ : at;
  }
  uint16_t& code(uint32_t i) { return data_[buckets_ + 1 + ring_at(i)]; }  // i-th oldest
  uint16_t code(uint32_t i) const { return data_[buckets_ + 1 + ring_at(i)]; }
  void drop_oldest();
  void rotate_to(int64_t head);
  void refresh() const;
  void refresh_if_stale() const {
    if (stale_) refresh();
  }
  void reanchor(int8_t anchor);

  int64_t bucket_ms_;
  int64_t head_ = kNone;
  HeapArray<uint16_t> data_;
  // Cached at the last rotation (or, while filling, at the last read), of ref_count_ points; `mutable` for
  // the selection a read may do (the entity's owner thread alone touches it).
  mutable float q1_ = 0, median_ = 0, q3_ = 0;
  mutable uint16_t ref_count_ = 0;
  uint16_t buckets_;
  uint16_t capacity_;
  uint16_t head_pos_ = 0;  // ring position of the oldest point
  uint16_t count_ = 0;
  HalfCodec codec_;
  mutable bool stale_ =
      false;  // points were added since q1_, median_, q3_ were selected (only while filling)
};

}  // namespace gridsentinel::features
