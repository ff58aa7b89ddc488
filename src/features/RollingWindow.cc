#include "features/RollingWindow.h"

#include <algorithm>

namespace gridsentinel::features {

RollingWindow::RollingWindow(int64_t duration_ms, uint32_t buckets)
    : buckets_(std::clamp<uint32_t>(buckets, 1, kMaxBuckets)),
      bucket_ms_(static_cast<int32_t>(
          std::clamp<int64_t>(duration_ms / std::max<uint32_t>(1, buckets), 1, kMaxBucketMs))) {}

void RollingWindow::advance_to(int64_t head_index) {
  if (head_index_ != std::numeric_limits<int64_t>::min() && head_index <= head_index_) return;
  const auto n = static_cast<int64_t>(buckets_.size());
  if (head_index_ == std::numeric_limits<int64_t>::min() ||
      static_cast<uint64_t>(head_index) - static_cast<uint64_t>(head_index_) >= static_cast<uint64_t>(n)) {
    for (auto& b : buckets_) b = Bucket{};
  } else {
    // The head bucket closes: its M2 becomes a code.
    Bucket& old_head = buckets_[slot_of(head_index_)];
    const float m2 = total_.head_m2;
    total_.head_m2 = 0;
    if (old_head.count > 0) {
      old_head.sd = encode_sd(std::sqrt(static_cast<double>(m2) / old_head.count));
    }
    // The buckets (head_index_ - n, head_index - n] leave the window: their slots take the new ones.
    for (size_t i = 0, slot = slot_of(head_index_ + 1); i < static_cast<size_t>(head_index - head_index_);
         ++i, slot = slot + 1 == buckets_.size() ? 0 : slot + 1)
      buckets_[slot] = Bucket{};
  }
  total_.head_m2 = 0;
  head_index_ = head_index;
  recompute_totals();
}

void RollingWindow::recompute_totals() {
  // Pairwise combination of (count, mean, M2) (Chan, Golub, LeVeque 1979), in double precision.
  Totals t;
  const auto n_buckets = static_cast<int64_t>(buckets_.size());
  size_t slot =
      slot_of(head_index_ - n_buckets + 1);  // then the next slots, wrapping: no division per bucket
  for (int64_t i = head_index_ - n_buckets + 1; i <= head_index_;
       ++i, slot = slot + 1 == buckets_.size() ? 0 : slot + 1) {
    const Bucket& b = buckets_[slot];
    if (b.count == 0) continue;
    const double nb = b.count, na = t.count, n = na + nb;
    const double delta = static_cast<double>(b.mean) - t.mean;
    t.mean += delta * nb / n;
    t.m2 += m2_of(b, i) + delta * delta * na * nb / n;
    t.count += b.count;
  }
  t.head_m2 = total_.head_m2;
  total_ = t;
}

bool RollingWindow::add(int64_t time_ms, double value) {
  if (!std::isfinite(value)) return false;
  const int64_t idx = floor_div(time_ms, bucket_ms_);
  const auto n = static_cast<int64_t>(buckets_.size());
  if (head_index_ != std::numeric_limits<int64_t>::min() && idx <= head_index_ - n) return false;  // too late
  advance_to(idx);
  if (total_.count == 0) {  // an empty window re-centres on its first value
    shift_ = value;
    sd_codec_.reset();
  }
  auto& b = buckets_[slot_of(idx)];
  if (b.count >= kMaxPerBucket) return false;
  const double d = value - shift_;
  if (b.count == 0) {
    b = Bucket{.mean = static_cast<float>(d), .count = 1, .sd = HalfCodec::kZero};
    if (idx == head_index_) total_.head_m2 = 0;
  } else {
    const double m2 = m2_of(b, idx);
    b.count = static_cast<uint16_t>(b.count + 1);
    const double delta = d - static_cast<double>(b.mean);
    const double mean = static_cast<double>(b.mean) + delta / b.count;
    b.mean = static_cast<float>(mean);
    set_m2(b, idx, m2 + delta * (d - mean));
  }
  total_.count += 1;
  const double delta = d - total_.mean;
  total_.mean += delta / total_.count;
  total_.m2 += delta * (d - total_.mean);

  if (time_ms >= last_time_) {
    const int64_t old_time = last_time_;
    const auto old_value = static_cast<float>(last_value_);
    last_time_ = time_ms;
    last_value_ = value;
    set_prev(old_time, old_value);
  } else if (time_ms > prev_time()) {  // a late event between the two newest: it becomes the previous one
    set_prev(time_ms, static_cast<float>(value));
  }
  return true;
}

uint16_t RollingWindow::encode_sd(double sd) {
  if (const int8_t a = sd_codec_.anchor_for(sd); a != sd_codec_.anchor()) {
    const HalfCodec old = sd_codec_;
    sd_codec_.set_anchor(a);
    for (auto& b : buckets_)
      if (b.count > 0) b.sd = sd_codec_.encode(old.decode(b.sd));
  }
  return sd_codec_.encode(sd);
}

double RollingWindow::m2_of(const Bucket& b, int64_t index) const {
  if (index == head_index_) return static_cast<double>(total_.head_m2);
  const double sd = sd_codec_.decode(b.sd);
  return sd * sd * b.count;
}

void RollingWindow::set_m2(Bucket& b, int64_t index, double m2) {
  if (index == head_index_) {
    total_.head_m2 = static_cast<float>(m2);
    return;
  }
  b.sd = encode_sd(std::sqrt(std::max(0.0, m2) / b.count));
}

void RollingWindow::set_prev(int64_t time_ms, float value) {
  int64_t gap = 0;
  const bool fits = time_ms != std::numeric_limits<int64_t>::min() &&
                    !__builtin_sub_overflow(last_time_, time_ms, &gap) && gap >= 0 && gap <= kMaxBucketMs;
  prev_gap_ms_ = fits ? static_cast<int32_t>(gap) : kNoPrev;
  prev_value_ = value;
}

WindowStats RollingWindow::stats() const {
  WindowStats s;
  s.count = total_.count;
  s.last = last_value_;
  if (prev_gap_ms_ > 0)
    s.rate_per_s =
        (last_value_ - static_cast<double>(prev_value_)) / (static_cast<double>(prev_gap_ms_) / 1000.0);
  if (total_.count == 0) return s;
  const double n = total_.count;
  s.mean = shift_ + total_.mean;
  if (total_.count >= 2) s.stddev = std::sqrt(std::max(0.0, total_.m2 / (n - 1)));
  return s;
}

// Layout: shape, head, shift, last/previous, totals, then the buckets in window order (oldest first), each as
// its count followed, when non-zero, by its moments: an empty bucket costs 4 bytes.
void RollingWindow::save(StateWriter& w) const {
  w.put<int64_t>(bucket_ms_);
  w.put<uint32_t>(buckets_.size());
  w.put(head_index_);
  w.put(shift_);
  w.put(sd_codec_.anchor());
  w.put(last_time_);
  w.put(last_value_);
  w.put(prev_time());
  w.put(prev_value_);
  if (head_index_ == std::numeric_limits<int64_t>::min()) return;  // never added to: nothing more
  // Totals are saved, not recomputed on restore: a different summation order would change the last bits and a
  // restored detector must score bit-for-bit as the original.
  w.put(total_.count);
  w.put(total_.mean);
  w.put(total_.m2);
  w.put(total_.head_m2);
  const auto n = static_cast<int64_t>(buckets_.size());
  for (int64_t i = head_index_ - n + 1; i <= head_index_; ++i) {
    const Bucket& b = buckets_[slot_of(i)];
    w.put(b.count);
    if (b.count == 0) continue;
    w.put(b.mean);
    w.put(b.sd);
  }
}

bool RollingWindow::restore(StateReader& r, bool with_extremes) {
  int64_t bucket_ms = 0;
  uint32_t n = 0;
  if (!r.get(bucket_ms) || !r.get(n) || bucket_ms != bucket_ms_ || n != buckets_.size()) return false;
  RollingWindow next(int64_t{bucket_ms_} * n, n);
  r.get(next.head_index_);
  r.get(next.shift_);
  if (with_extremes) {
    int8_t extremes_anchor = 0;
    r.get(extremes_anchor);
  }
  int8_t sd_anchor = 0;
  r.get(sd_anchor);
  if (!next.sd_codec_.set_anchor(sd_anchor)) return false;
  r.get(next.last_time_);
  r.get(next.last_value_);
  int64_t prev_time = 0;
  float prev_value = 0;
  r.get(prev_time);
  r.get(prev_value);
  next.set_prev(prev_time, prev_value);
  if (!r.ok() || !std::isfinite(next.shift_)) return false;
  if (next.head_index_ != std::numeric_limits<int64_t>::min()) {
    r.get(next.total_.count);
    r.get(next.total_.mean);
    r.get(next.total_.m2);
    if (with_extremes) {
      float extreme = 0;
      r.get(extreme);
      r.get(extreme);
    }
    r.get(next.total_.head_m2);
    if (!(next.total_.head_m2 >= 0) || !std::isfinite(next.total_.head_m2)) return false;
    uint64_t bucket_count = 0;
    for (int64_t i = next.head_index_ - static_cast<int64_t>(n) + 1; i <= next.head_index_ && r.ok(); ++i) {
      Bucket& b = next.buckets_[next.slot_of(i)];
      r.get(b.count);
      if (b.count == 0) continue;
      r.get(b.mean);
      r.get(b.sd);
      if (with_extremes) {
        uint16_t extreme = 0;
        r.get(extreme);
        r.get(extreme);
      }
      if (!std::isfinite(b.mean) || !HalfCodec::valid(b.sd) || b.sd < HalfCodec::kZero) return false;
      bucket_count += b.count;
    }
    if (!r.ok() || bucket_count != next.total_.count || !std::isfinite(next.total_.mean) ||
        !(next.total_.m2 >= 0))
      return false;
  }
  if (!r.ok()) return false;
  *this = std::move(next);
  return true;
}

}  // namespace gridsentinel::features
