#include "features/RollingWindow.h"

#include <algorithm>

namespace gridsentinel::features {

RollingWindow::RollingWindow(int64_t duration_ms, uint32_t buckets)
    : bucket_ms_(std::max<int64_t>(1, duration_ms / std::max<uint32_t>(1, buckets))),
      buckets_(std::clamp<uint32_t>(buckets, 1, kMaxBuckets)) {}

void RollingWindow::advance_to(int64_t head_index) {
  if (head_index_ != std::numeric_limits<int64_t>::min() && head_index <= head_index_) return;
  const auto n = static_cast<int64_t>(buckets_.size());
  // Buckets whose index fell out of (head_index - n, head_index] are emptied; only those slots can hold them.
  for (auto& b : buckets_)
    if (b.index != std::numeric_limits<int64_t>::min() && b.index <= head_index - n) b = Bucket{};
  head_index_ = head_index;
  recompute_totals();
}

void RollingWindow::recompute_totals() {
  Bucket t;
  t.min = std::numeric_limits<double>::infinity();
  t.max = -std::numeric_limits<double>::infinity();
  for (const auto& b : buckets_) {
    if (b.count == 0) continue;
    t.count += b.count;
    t.sum += b.sum;
    t.sumsq += b.sumsq;
    t.min = std::min(t.min, b.min);
    t.max = std::max(t.max, b.max);
  }
  total_ = t;
}

bool RollingWindow::add(int64_t time_ms, double value) {
  if (!std::isfinite(value)) return false;
  const int64_t idx = floor_div(time_ms, bucket_ms_);
  const auto n = static_cast<int64_t>(buckets_.size());
  if (head_index_ != std::numeric_limits<int64_t>::min() && idx <= head_index_ - n) return false;  // too late
  if (!has_shift_) {
    shift_ = value;
    has_shift_ = true;
  }
  advance_to(idx);
  auto& b = buckets_[static_cast<size_t>(((idx % n) + n) % n)];
  if (b.index != idx) b = Bucket{.index = idx, .count = 0, .sum = 0, .sumsq = 0, .min = value, .max = value};
  const double d = value - shift_;
  b.count += 1;
  b.sum += d;
  b.sumsq += d * d;
  b.min = std::min(b.min, value);
  b.max = std::max(b.max, value);
  total_.count += 1;
  total_.sum += d;
  total_.sumsq += d * d;
  total_.min = std::min(total_.min, value);
  total_.max = std::max(total_.max, value);

  if (time_ms >= last_time_) {
    prev_time_ = last_time_;
    prev_value_ = last_value_;
    last_time_ = time_ms;
    last_value_ = value;
  } else if (time_ms > prev_time_) {  // a late event between the two newest: it becomes the previous one
    prev_time_ = time_ms;
    prev_value_ = value;
  }
  return true;
}

WindowStats RollingWindow::stats() const {
  WindowStats s;
  s.count = total_.count;
  s.last = last_value_;
  if (prev_time_ != std::numeric_limits<int64_t>::min() && last_time_ > prev_time_)
    s.rate_per_s = (last_value_ - prev_value_) / (static_cast<double>(last_time_ - prev_time_) / 1000.0);
  if (total_.count == 0) return s;
  const double n = total_.count;
  const double mean_d = total_.sum / n;
  s.mean = shift_ + mean_d;
  s.min = total_.min;
  s.max = total_.max;
  if (total_.count >= 2) s.stddev = std::sqrt(std::max(0.0, (total_.sumsq - n * mean_d * mean_d) / (n - 1)));
  return s;
}

void RollingWindow::save(StateWriter& w) const {
  w.put<int64_t>(bucket_ms_);
  w.put<uint32_t>(static_cast<uint32_t>(buckets_.size()));
  w.put(head_index_);
  w.put(shift_);
  w.put<uint8_t>(has_shift_ ? 1 : 0);
  w.put(last_time_);
  w.put(last_value_);
  w.put(prev_time_);
  w.put(prev_value_);
  // Totals are saved, not recomputed on restore: a different summation order would change the last bits and a
  // restored detector must score bit-for-bit as the original.
  for (const Bucket* b : {&total_}) {
    w.put(b->count);
    w.put(b->sum);
    w.put(b->sumsq);
    w.put(b->min);
    w.put(b->max);
  }
  for (const auto& b : buckets_) {
    w.put(b.index);
    w.put(b.count);
    w.put(b.sum);
    w.put(b.sumsq);
    w.put(b.min);
    w.put(b.max);
  }
}

bool RollingWindow::restore(StateReader& r) {
  int64_t bucket_ms = 0;
  uint32_t n = 0;
  if (!r.get(bucket_ms) || !r.get(n) || bucket_ms != bucket_ms_ || n != buckets_.size()) return false;
  RollingWindow next = *this;
  uint8_t has_shift = 0;
  r.get(next.head_index_);
  r.get(next.shift_);
  r.get(has_shift);
  r.get(next.last_time_);
  r.get(next.last_value_);
  r.get(next.prev_time_);
  r.get(next.prev_value_);
  r.get(next.total_.count);
  r.get(next.total_.sum);
  r.get(next.total_.sumsq);
  r.get(next.total_.min);
  r.get(next.total_.max);
  for (auto& b : next.buckets_) {
    r.get(b.index);
    r.get(b.count);
    r.get(b.sum);
    r.get(b.sumsq);
    r.get(b.min);
    r.get(b.max);
  }
  if (!r.ok()) return false;
  next.has_shift_ = has_shift != 0;
  uint64_t bucket_count = 0;
  for (const auto& b : next.buckets_) bucket_count += b.count;
  if (bucket_count != next.total_.count) return false;
  *this = std::move(next);
  return true;
}

}  // namespace gridsentinel::features
