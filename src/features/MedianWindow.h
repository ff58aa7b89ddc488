#pragma once
// MedianWindow: median and MAD of the last N points of one feature of one entity, in 8 bytes a point.
//
// Window: the `capacity` most recent points by event time (count only). Points may arrive out of order: a
// late point is inserted at its place; one older than every point of a full window (it would be evicted at
// once) is refused (`add` returns false). A point leaves only when a newer one arrives. Storage: a ring of
// (value as float, event time as a 32-bit ms offset from a base that follows the window) in event-time order,
// allocated once at construction; no sorted copy. The median and the MAD are computed on each add (each found
// from the previous one in one or two vectorised passes over the N values, a selection when that fails) and
// cached, so reading them is free. Precision: values are
// kept as floats (relative error <= 2^-24 each), and median and MAD too: median within 2^-23 and MAD within
// 2^-22 of the window's largest magnitude of the exact ones; exact for values a float holds whose median and
// MAD a float holds too (e.g. readings with a few significant digits). Times: when the window spans more than
// 2^31 ms (24.8 days) its oldest offsets saturate, which only makes the order of a late point among those
// very old points approximate. Memory: 8 bytes x capacity + a 32-byte object (280 bytes at N = 31).
#include <algorithm>
#include <cstdint>
#include <limits>

#include "common/StateCodec.h"
#include "features/HeapArray.h"

namespace gridsentinel::features {

class MedianWindow {
 public:
  static constexpr uint32_t kMaxPoints = 4096;
  // capacity is clamped to [1, kMaxPoints].
  explicit MedianWindow(uint32_t capacity);

  // Adds one point. Returns false (and changes nothing) when the value is not finite or the point is too
  // late.
  bool add(int64_t time_ms, double value);

  uint32_t count() const { return count_; }
  uint32_t capacity() const { return ring_.size(); }
  // Median (type 7: the mean of the two middle values for an even count); NaN when empty.
  double median() const { return static_cast<double>(median_); }
  // Median absolute deviation from the median (unscaled); NaN when empty.
  double mad() const { return static_cast<double>(mad_); }
  // Median of the newest min(n, count) points (by event time; n = 1: the newest value); NaN when empty or n =
  // 0. O(n) per call, not cached.
  double recent_median(uint32_t n) const;
  // The newest point by event time (the last of the ring); INT64_MIN / NaN when empty.
  int64_t newest_time_ms() const {
    return count_ ? base_ + slot(count_ - 1).dt : std::numeric_limits<int64_t>::min();
  }
  double newest_value() const {
    return count_ ? static_cast<double>(slot(count_ - 1).value) : std::numeric_limits<double>::quiet_NaN();
  }
  size_t memory_bytes() const { return sizeof(*this) + ring_.heap_bytes(); }
  // Starts loading the ring (see HeapArray::prefetch); `capacity` as constructed.
  void prefetch(uint32_t capacity) const { ring_.prefetch(std::clamp<uint32_t>(capacity, 1, kMaxPoints)); }

  void save(StateWriter& w) const;
  bool restore(StateReader& r);  // false on malformed input or another capacity; then this is unchanged

 private:
  struct Sample {
    float value;
    int32_t dt;  // event time - base_
  };
  // Values of the points from the `from`-th oldest on, n of them, into out.
  void copy_values(uint32_t from, uint32_t n, float* out) const;
  Sample& slot(uint32_t i) { return ring_[(head_ + i) % ring_.size()]; }  // i-th oldest
  const Sample& slot(uint32_t i) const { return ring_[(head_ + i) % ring_.size()]; }
  int32_t offset(int64_t time_ms);  // rebases when time_ms does not fit
  void refresh();

  HeapArray<Sample> ring_;
  int64_t base_ = 0;
  uint32_t head_ = 0;
  uint32_t count_ = 0;
  float median_ = std::numeric_limits<float>::quiet_NaN();  // cached by add
  float mad_ = std::numeric_limits<float>::quiet_NaN();
};

}  // namespace gridsentinel::features
