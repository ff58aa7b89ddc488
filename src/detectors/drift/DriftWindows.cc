#include "detectors/drift/DriftWindows.h"

#include <algorithm>
#include <cmath>

namespace gridsentinel::detectors {

DriftWindows::DriftWindows(uint32_t reference_size, uint32_t recent_size)
    : reference_capacity_(reference_size), recent_values_(recent_size, 0.0), recent_times_(recent_size, 0) {
  reference_.reserve(reference_size);
}

void DriftWindows::add(const Point& p) {
  if (!reference_full()) {
    reference_start_ms_ = reference_.empty() ? p.time_ms : std::min(reference_start_ms_, p.time_ms);
    reference_end_ms_ = reference_.empty() ? p.time_ms : std::max(reference_end_ms_, p.time_ms);
    reference_.push_back(p.value);
    if (reference_full()) std::sort(reference_.begin(), reference_.end());
    return;
  }
  if (recent_capacity() == 0) return;
  recent_values_[recent_head_] = p.value;
  recent_times_[recent_head_] = p.time_ms;
  recent_head_ = (recent_head_ + 1) % recent_capacity();
  if (recent_count_ < recent_capacity()) ++recent_count_;
}

std::span<const double> DriftWindows::sorted_recent(std::vector<double>& scratch) const {
  scratch.resize(recent_count_);
  const uint32_t cap = recent_capacity();
  const uint32_t oldest = (recent_head_ + cap - recent_count_) % std::max(cap, 1u);
  for (uint32_t i = 0; i < recent_count_; ++i) scratch[i] = recent_values_[(oldest + i) % cap];
  std::sort(scratch.begin(), scratch.end());
  return scratch;
}

EventWindow DriftWindows::reference_window() const {
  return {reference_start_ms_, reference_end_ms_, static_cast<uint32_t>(reference_.size())};
}

EventWindow DriftWindows::recent_window() const {
  EventWindow w;
  w.size = recent_count_;
  const uint32_t cap = recent_capacity();
  for (uint32_t i = 0; i < recent_count_; ++i) {
    const int64_t t = recent_times_[(recent_head_ + cap - 1 - i) % cap];
    w.start_ms = i == 0 ? t : std::min(w.start_ms, t);
    w.end_ms = i == 0 ? t : std::max(w.end_ms, t);
  }
  return w;
}

void DriftWindows::adopt_recent() {
  // The newest points win when the ring is larger than the reference; a smaller ring leaves the reference to
  // be completed by the next arrivals, as at start-up.
  const uint32_t cap = recent_capacity();
  const uint32_t take = std::min(recent_count_, reference_capacity_);
  const uint32_t first = (recent_head_ + cap - take) % std::max(cap, 1u);
  reference_.clear();
  for (uint32_t i = 0; i < take; ++i) {
    const uint32_t slot = (first + i) % cap;
    const int64_t t = recent_times_[slot];
    reference_start_ms_ = i == 0 ? t : std::min(reference_start_ms_, t);
    reference_end_ms_ = i == 0 ? t : std::max(reference_end_ms_, t);
    reference_.push_back(recent_values_[slot]);
  }
  if (take == 0) reference_start_ms_ = reference_end_ms_ = 0;
  if (reference_full()) std::sort(reference_.begin(), reference_.end());
  recent_head_ = 0;
  recent_count_ = 0;
}

void DriftWindows::save(StateWriter& w) const {
  w.put_vector(reference_);
  w.put(reference_start_ms_);
  w.put(reference_end_ms_);
  w.put(recent_count_);
  const uint32_t cap = recent_capacity();
  const uint32_t oldest = (recent_head_ + cap - recent_count_) % std::max(cap, 1u);
  for (uint32_t i = 0; i < recent_count_; ++i) {
    w.put(recent_values_[(oldest + i) % cap]);
    w.put(recent_times_[(oldest + i) % cap]);
  }
}

bool DriftWindows::restore(StateReader& r) {
  std::vector<double> reference;
  int64_t ref_start = 0, ref_end = 0;
  uint32_t count = 0;
  if (!r.get_vector(reference, reference_capacity_) || !r.get(ref_start) || !r.get(ref_end) || !r.get(count))
    return false;
  if (count > recent_capacity() || ref_start > ref_end) return false;
  // The ring only fills behind a complete reference; values are finite and a complete reference is sorted.
  if (count > 0 && reference.size() != reference_capacity_) return false;
  if (!std::all_of(reference.begin(), reference.end(), [](double v) { return std::isfinite(v); }))
    return false;
  if (reference.size() == reference_capacity_ && !std::is_sorted(reference.begin(), reference.end()))
    return false;
  std::vector<double> values(recent_capacity(), 0.0);
  std::vector<int64_t> times(recent_capacity(), 0);
  for (uint32_t i = 0; i < count; ++i) {
    if (!r.get(values[i]) || !r.get(times[i]) || !std::isfinite(values[i])) return false;
  }
  reference_ = std::move(reference);
  reference_.reserve(reference_capacity_);
  reference_start_ms_ = ref_start;
  reference_end_ms_ = ref_end;
  recent_values_ = std::move(values);
  recent_times_ = std::move(times);
  recent_count_ = count;
  recent_head_ = recent_capacity() == 0 ? 0 : count % recent_capacity();
  return true;
}

}  // namespace gridsentinel::detectors
