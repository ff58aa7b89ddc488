#include "features/RollingQuantiles.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace gridsentinel::features {

namespace {

// k-th smallest (0-based) of the union of two ascending sequences given by accessors, in O(log) steps.
// `t` below is how many of the k + 1 smallest come from `a`; the predicate a(t) < b(k - t) is true for small
// t and false from the answer on, so a binary search finds it.
template <class A, class B>
double kth_of_two(A a, size_t na, B b, size_t nb, size_t k) {
  size_t lo = k + 1 > nb ? k + 1 - nb : 0;
  size_t hi = std::min(k + 1, na);
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (a(mid) < b(k - mid)) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  const double from_a = lo > 0 ? a(lo - 1) : -std::numeric_limits<double>::infinity();
  const double from_b = k + 1 > lo ? b(k - lo) : -std::numeric_limits<double>::infinity();
  return std::max(from_a, from_b);
}

}  // namespace

RollingQuantiles::RollingQuantiles(uint32_t max_points, int64_t window_ms)
    : capacity_(std::clamp<uint32_t>(max_points, 1, kMaxPoints)),
      window_ms_(std::max<int64_t>(0, window_ms)) {
  ring_.resize(capacity_);
  sorted_.reserve(capacity_ + 1);  // insert before evict never reallocates
}

bool RollingQuantiles::older_than_window(int64_t time_ms, int64_t newest) const {
  // newest - time_ms >= window, computed without overflow for any pair of int64 times.
  return window_ms_ > 0 && newest > time_ms &&
         static_cast<uint64_t>(newest) - static_cast<uint64_t>(time_ms) >= static_cast<uint64_t>(window_ms_);
}

void RollingQuantiles::evict_oldest() {
  const double v = slot(0).value;
  sorted_.erase(std::lower_bound(sorted_.begin(), sorted_.end(), v));
  head_ = (head_ + 1) % capacity_;
  --count_;
}

bool RollingQuantiles::add(int64_t time_ms, double value) {
  if (!std::isfinite(value)) return false;
  if (count_ > 0) {
    if (older_than_window(time_ms, slot(count_ - 1).time_ms)) return false;
    if (count_ == capacity_ && time_ms < slot(0).time_ms) return false;  // would be the one evicted
    if (count_ == capacity_) evict_oldest();
  }
  // Ring insert after every point with time <= time_ms: O(1) in order, O(lateness) otherwise.
  uint32_t pos = count_;
  while (pos > 0 && slot(pos - 1).time_ms > time_ms) --pos;
  for (uint32_t i = count_; i > pos; --i) slot(i) = slot(i - 1);
  slot(pos) = Sample{time_ms, value};
  ++count_;
  sorted_.insert(std::upper_bound(sorted_.begin(), sorted_.end(), value), value);

  const int64_t newest = slot(count_ - 1).time_ms;
  while (older_than_window(slot(0).time_ms, newest)) evict_oldest();
  return true;
}

double RollingQuantiles::quantile(double q) const {
  if (count_ == 0) return std::numeric_limits<double>::quiet_NaN();
  const double h = static_cast<double>(count_ - 1) * std::clamp(q, 0.0, 1.0);
  const auto lo = static_cast<size_t>(h);
  const size_t hi = std::min<size_t>(lo + 1, count_ - 1);
  return sorted_[lo] + (h - static_cast<double>(lo)) * (sorted_[hi] - sorted_[lo]);
}

double RollingQuantiles::mad() const {
  if (count_ == 0) return std::numeric_limits<double>::quiet_NaN();
  const double m = median();
  const size_t n = count_;
  const size_t split = n / 2;  // below: sorted_[0, split), ascending distance going down; above: [split, n)
  const auto below = [&](size_t i) { return m - sorted_[split - 1 - i]; };
  const auto above = [&](size_t j) { return sorted_[split + j] - m; };
  const double upper = kth_of_two(below, split, above, n - split, n / 2);
  if (n % 2 == 1) return upper;
  return 0.5 * (kth_of_two(below, split, above, n - split, n / 2 - 1) + upper);
}

Quartiles RollingQuantiles::quartiles() const {
  return {count_, quantile(0.25), median(), quantile(0.75)};
}

size_t RollingQuantiles::memory_bytes() const {
  return sizeof(*this) + ring_.capacity() * sizeof(Sample) + sorted_.capacity() * sizeof(double);
}

void RollingQuantiles::save(StateWriter& w) const {
  w.put<uint32_t>(capacity_);
  w.put<int64_t>(window_ms_);
  w.put<uint32_t>(count_);
  for (uint32_t i = 0; i < count_; ++i) {
    w.put<int64_t>(slot(i).time_ms);
    w.put<double>(slot(i).value);
  }
}

bool RollingQuantiles::restore(StateReader& r) {
  uint32_t capacity = 0, count = 0;
  int64_t window_ms = 0;
  if (!r.get(capacity) || !r.get(window_ms) || !r.get(count)) return false;
  if (capacity != capacity_ || window_ms != window_ms_ || count > capacity_) return false;
  std::vector<Sample> ring(capacity_);
  for (uint32_t i = 0; i < count; ++i) {
    Sample& s = ring[i];
    if (!r.get(s.time_ms) || !r.get(s.value) || !std::isfinite(s.value)) return false;
    if (i > 0 && s.time_ms < ring[i - 1].time_ms) return false;
  }
  if (count > 0 && older_than_window(ring[0].time_ms, ring[count - 1].time_ms)) return false;
  std::vector<double> sorted;
  sorted.reserve(capacity_ + 1);
  for (uint32_t i = 0; i < count; ++i) sorted.push_back(ring[i].value);
  std::sort(sorted.begin(), sorted.end());
  ring_ = std::move(ring);
  sorted_ = std::move(sorted);
  head_ = 0;
  count_ = count;
  return true;
}

}  // namespace gridsentinel::features
