#pragma once
// RollingWindow: event-time rolling statistics of one feature of one entity.
//
// Algorithm: the window's duration is split into B equal buckets (B = `buckets`, width w = duration / B).
// Each bucket keeps count, sum and sum of squares (of values shifted by a per-window constant K, the first
// value seen, so that sums stay small and the variance does not suffer catastrophic cancellation), min and
// max. The window covers the B buckets ending at the bucket of the newest event time seen ("head"): events
// older than that drop out a whole bucket at a time, so the covered span is between (B-1)w and Bw, never more
// than `duration`. Cost: O(1) to add an event into a live bucket; advancing the head by k buckets costs
// O(min(k, B)) plus one O(B) pass that recomputes the totals exactly from the buckets (once per bucket width,
// so amortised O(1) per event when several events share a bucket, and never accumulating rounding drift as
// running subtractions would). Out of order: an event older than the head lands in its own bucket if that
// bucket is still in the window; an event older than the window is refused (`add` returns false) and the
// caller counts it as late. Memory: fixed, B buckets of 40 bytes plus 64 bytes, allocated once at
// construction. Also tracks `last` (the value at the newest event time) and the rate of change between the
// two newest events.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

#include "common/StateCodec.h"

namespace gridsentinel::features {

struct WindowStats {
  uint32_t count = 0;
  double mean = std::numeric_limits<double>::quiet_NaN();
  double stddev =
      std::numeric_limits<double>::quiet_NaN();  // sample standard deviation (n - 1); NaN when n < 2
  double min = std::numeric_limits<double>::quiet_NaN();
  double max = std::numeric_limits<double>::quiet_NaN();
  double last = std::numeric_limits<double>::quiet_NaN();        // value at the newest event time
  double rate_per_s = std::numeric_limits<double>::quiet_NaN();  // (last - previous) / seconds between them
};

class RollingWindow {
 public:
  static constexpr uint32_t kMaxBuckets = 1024;
  // duration_ms > 0, 1 <= buckets <= kMaxBuckets, duration_ms divisible into buckets of >= 1 ms (checked by
  // config).
  RollingWindow(int64_t duration_ms, uint32_t buckets);

  // Adds one event. Returns false (and changes nothing) when the event is older than the window or not
  // finite.
  bool add(int64_t time_ms, double value);
  // Statistics of the events in the window. O(1).
  WindowStats stats() const;
  uint32_t count() const { return total_.count; }
  // Newest event time seen, or INT64_MIN before the first event.
  int64_t head_time_ms() const { return last_time_; }
  int64_t duration_ms() const { return bucket_ms_ * static_cast<int64_t>(buckets_.size()); }

  void save(StateWriter& w) const;
  bool restore(
      StateReader& r);  // false on malformed input or a different shape; then this window is unchanged

 private:
  struct Bucket {
    int64_t index = std::numeric_limits<int64_t>::min();  // absolute bucket number floor(t / w); MIN = empty
    uint32_t count = 0;
    double sum = 0, sumsq = 0;  // of (x - shift_)
    double min = 0, max = 0;
  };
  static int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
  void advance_to(int64_t head_index);
  void recompute_totals();

  int64_t bucket_ms_;
  std::vector<Bucket> buckets_;
  int64_t head_index_ = std::numeric_limits<int64_t>::min();
  double shift_ = 0;
  bool has_shift_ = false;
  Bucket total_;
  int64_t last_time_ = std::numeric_limits<int64_t>::min();
  double last_value_ = std::numeric_limits<double>::quiet_NaN();
  int64_t prev_time_ = std::numeric_limits<int64_t>::min();
  double prev_value_ = std::numeric_limits<double>::quiet_NaN();
};

}  // namespace gridsentinel::features
