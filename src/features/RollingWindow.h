#pragma once
// RollingWindow: event-time rolling statistics of one feature of one entity.
//
// Algorithm: the window's duration is split into B equal buckets (B = `buckets`, width w = duration / B).
// Each bucket keeps the count, mean and sum of squared deviations from its mean (Welford), min and max of its
// values. The window covers the B buckets ending at the bucket of the newest event time seen ("head"): events
// older than that drop out a whole bucket at a time, so the covered span is between (B-1)w and Bw, never more
// than `duration`. Cost: O(1) to add an event into a live bucket (the window totals are updated with it, in
// double precision); advancing the head by k buckets costs O(min(k, B)) plus one O(B) pass that recomputes
// the totals from the buckets (Chan et al.'s pairwise combination; once per bucket width, so amortised O(1)
// per event when several events share a bucket, and never accumulating rounding drift as running
// subtractions would). Out of order: an event older than the head lands in its own bucket if that bucket is
// still in the window; an event older than the window is refused (`add` returns false) and the caller counts
// it as late. Also tracks `last` (the value at the newest event time) and the rate of change between the two
// newest events.
// Precision: buckets hold single-precision moments of the values minus a per-window shift (the first value
// seen since the window was last empty), so a large offset (an energy register at 1e6 kWh moving by 0.01)
// keeps its variance, and a bucket's deviations are measured from its own mean. A closed bucket (any but the
// head) keeps its standard deviation as a 16-bit code (HalfCodec, features/HalfCode.h; to nearest, 2^-11
// relative, anchored on the spread rather than the level, so a tiny spread on a large level keeps its
// digits). Hence: mean within ~1e-6 relative (of the spread and of the shifted mean), standard deviation
// within ~1e-3 relative. The rate of change uses the previous value as a float (relative error 2^-24). At
// most kMaxPerBucket (65,535) events a bucket: 18 a second in a 1-hour bucket.
// No minimum or maximum: the z-score detector needs neither, and keeping them per bucket cost 4 of a
// bucket's 12 bytes (about 100 bytes of each meter's ~2 kB of state with the default windows).
// Memory: fixed, B buckets of 8 bytes (one allocation, no spare capacity, its length in the pointer word: see
// HeapArray) plus an 80-byte object, allocated once at construction: 272 bytes for the default meter window
// (24 h, 24 buckets).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

#include "common/StateCodec.h"
#include "features/HalfCode.h"
#include "features/HeapArray.h"

namespace gridsentinel::features {

struct WindowStats {
  uint32_t count = 0;
  double mean = std::numeric_limits<double>::quiet_NaN();
  double stddev =
      std::numeric_limits<double>::quiet_NaN();  // sample standard deviation (n - 1); NaN when n < 2
  double last = std::numeric_limits<double>::quiet_NaN();        // value at the newest event time
  double rate_per_s = std::numeric_limits<double>::quiet_NaN();  // (last - previous) / seconds between them
};

class RollingWindow {
 public:
  static constexpr uint32_t kMaxBuckets = 1024;
  static constexpr uint32_t kMaxPerBucket = 65535;  // events beyond this many in one bucket are refused
  // duration_ms > 0, 1 <= buckets <= kMaxBuckets, duration_ms divisible into buckets of >= 1 ms and at most
  // kMaxBucketMs (checked by config; clamped here).
  static constexpr int64_t kMaxBucketMs = std::numeric_limits<int32_t>::max();  // 24.8 days
  RollingWindow(int64_t duration_ms, uint32_t buckets);

  // Adds one event. Returns false (and changes nothing) when the event is older than the window, not finite,
  // or its bucket already holds kMaxPerBucket events.
  bool add(int64_t time_ms, double value);
  // Statistics of the events in the window. O(1).
  WindowStats stats() const;
  uint32_t count() const { return total_.count; }
  // Newest event time seen, or INT64_MIN before the first event.
  int64_t head_time_ms() const { return last_time_; }
  int64_t duration_ms() const { return int64_t{bucket_ms_} * static_cast<int64_t>(buckets_.size()); }
  size_t memory_bytes() const { return sizeof(*this) + buckets_.heap_bytes(); }
  // Starts loading the buckets (see HeapArray::prefetch); `buckets` as constructed.
  void prefetch(uint32_t buckets) const { buckets_.prefetch(std::clamp<uint32_t>(buckets, 1, kMaxBuckets)); }

  void save(StateWriter& w) const;
  // False on malformed input or a different shape; then this window is unchanged. `with_extremes`: the
  // layout written before buckets lost their minimum and maximum (read and dropped).
  bool restore(StateReader& r, bool with_extremes = false);

 private:
  // One bucket's values, shifted by `shift_`; count 0 = empty. The head bucket's sum of squared deviations is
  // head_m2_ (single precision) while it fills; a bucket keeps its standard deviation as a code once closed.
  struct Bucket {
    float mean = 0;  // Welford: mean of the shifted values
    uint16_t count = 0;
    uint16_t sd = HalfCodec::kZero;  // sd_codec_ code of sqrt(M2 / count), for a closed bucket
  };
  static_assert(sizeof(Bucket) == 8);
  struct Totals {
    double mean = 0, m2 = 0;  // of the shifted values
    uint32_t count = 0;
    float head_m2 = 0;  // the head bucket's M2 (kept here, where the struct has room for it)
  };
  static int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
  size_t slot_of(int64_t index) const {  // index mod B in [0, B): one division
    const auto n = static_cast<int64_t>(buckets_.size());
    const int64_t r = index % n;
    return static_cast<size_t>(r < 0 ? r + n : r);
  }
  void advance_to(int64_t head_index);
  void recompute_totals();
  uint16_t encode_sd(double sd);  // re-anchors sd_codec_ when needed
  double m2_of(const Bucket& b, int64_t index) const;
  void set_m2(Bucket& b, int64_t index, double m2);

  // Bucket i of the window (absolute index floor(t / w), in (head - B, head]) lives in slot i mod B; a slot
  // whose bucket left the window is emptied when the head passes it, so slots need not remember indices.
  HeapArray<Bucket> buckets_;
  int64_t head_index_ = std::numeric_limits<int64_t>::min();
  double shift_ = 0;
  Totals total_;
  int64_t last_time_ = std::numeric_limits<int64_t>::min();
  double last_value_ = std::numeric_limits<double>::quiet_NaN();
  // The previous event (for the rate of change only): its distance before last_time_ in ms (kNoPrev: none;
  // a gap beyond 24.8 days counts as none) and its value as a float. 32 bits where an int64 time was, so
  // that the object fits 80 bytes.
  static constexpr int32_t kNoPrev = -1;
  int64_t prev_time() const {
    return prev_gap_ms_ == kNoPrev ? std::numeric_limits<int64_t>::min() : last_time_ - prev_gap_ms_;
  }
  void set_prev(int64_t time_ms, float value);
  int32_t prev_gap_ms_ = kNoPrev;
  float prev_value_ = std::numeric_limits<float>::quiet_NaN();
  int32_t bucket_ms_;   // here, beside the other 4-byte members: no padding
  HalfCodec sd_codec_;  // of the buckets' standard deviations (anchored on the spread, not the level)
};

static_assert(sizeof(RollingWindow) <= 80);

}  // namespace gridsentinel::features
