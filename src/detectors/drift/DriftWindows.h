#pragma once
// The two samples a drift test compares for one feature: a fixed reference sample and a ring of the latest
// values.
//
// The reference fills first, from the first `reference_size` points, and is then frozen (kept sorted, so that
// each test only sorts the recent side). The ring fills only after it, so the two samples never share a point
// and the K-S p-value is valid. `adopt_recent()` makes the ring the new reference (after a confirmed drift)
// and empties the ring, which then refills before the next test. Each side keeps the event-time extent (min
// and max time_ms, so out-of-order arrival is fine) and size of what it holds, for the drift finding.
//
// Memory: reference_size doubles + recent_size (double + int64). Cost: O(1) per add (the reference is sorted
// once, O(R log R), when it completes); sorted_recent() is O(N log N) into caller-provided scratch. No
// allocation after construction except in restore(). Callers pass finite values only (KsDriftDetector filters
// NaN/Inf).
#include <cstdint>
#include <span>
#include <vector>

#include "common/StateCodec.h"
#include "detectors/Detector.h"

namespace gridsentinel::detectors {

struct EventWindow {
  int64_t start_ms = 0;  // earliest event time in the sample
  int64_t end_ms = 0;    // latest event time in the sample
  uint32_t size = 0;
};

class DriftWindows {
 public:
  DriftWindows(uint32_t reference_size, uint32_t recent_size);

  void add(const Point& p);  // into the reference until it is full, then into the ring
  bool reference_full() const { return reference_.size() == reference_capacity_; }
  bool recent_full() const { return recent_count_ == recent_capacity(); }

  std::span<const double> sorted_reference() const { return reference_; }  // sorted once full
  // Copies the ring into `scratch` (resized to the ring's size) and sorts it.
  std::span<const double> sorted_recent(std::vector<double>& scratch) const;

  EventWindow reference_window() const;
  EventWindow recent_window() const;  // O(recent_size): scans the ring's times

  void adopt_recent();  // reference := ring contents (sorted), ring emptied

  // State in logical order (ring oldest first), so equal states give equal bytes whatever the ring's
  // rotation.
  void save(StateWriter& w) const;
  // Reads a state saved with the same sizes; false (and *this unchanged) when malformed or for other sizes.
  bool restore(StateReader& r);

 private:
  uint32_t recent_capacity() const { return static_cast<uint32_t>(recent_values_.size()); }

  uint32_t reference_capacity_;
  std::vector<double> reference_;  // arrival order while filling, sorted once full
  int64_t reference_start_ms_ = 0, reference_end_ms_ = 0;

  std::vector<double> recent_values_;  // ring; slot `recent_head_` is the next to write
  std::vector<int64_t> recent_times_;
  uint32_t recent_head_ = 0;
  uint32_t recent_count_ = 0;
};

}  // namespace gridsentinel::detectors
