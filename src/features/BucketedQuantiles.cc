#include "features/BucketedQuantiles.h"

#include "features/CodeSelect.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <vector>

namespace gridsentinel::features {

namespace {
int64_t floor_div(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}
}  // namespace

BucketedQuantiles::BucketedQuantiles(int64_t window_ms, uint32_t buckets, uint32_t max_points)
    : buckets_(static_cast<uint16_t>(std::clamp<uint32_t>(buckets, 1, kMaxBuckets))),
      capacity_(static_cast<uint16_t>(std::clamp<uint32_t>(max_points, 1, kMaxPoints))) {
  bucket_ms_ = std::max<int64_t>(1, window_ms / buckets_);
  data_ = HeapArray<uint16_t>(uint32_t{buckets_} + 1 + capacity_);
  std::fill(data_.begin(), data_.end(), uint16_t{0});
}

Quartiles BucketedQuantiles::quartiles() const {
  refresh_if_stale();
  if (ref_count_ == 0) return Quartiles{};
  return Quartiles{ref_count_, static_cast<double>(q1_), static_cast<double>(median_),
                   static_cast<double>(q3_)};
}

void BucketedQuantiles::drop_oldest() {
  for (int64_t i = head_ - buckets_; i <= head_; ++i) {
    if (bucket_count(i) == 0) continue;
    --bucket_count(i);
    head_pos_ = (head_pos_ + 1) % capacity_;
    --count_;
    return;
  }
}

void BucketedQuantiles::rotate_to(int64_t head) {
  const uint64_t span = uint64_t{buckets_} + 1;
  if (static_cast<uint64_t>(head) - static_cast<uint64_t>(head_) >= span) {
    std::fill(data_.begin(), data_.begin() + span, uint16_t{0});
    head_pos_ = 0;
    count_ = 0;
  } else {
    // Buckets [head_ - B, head - B) leave: their points are the oldest in the ring.
    for (int64_t i = head_ - buckets_; i < head - static_cast<int64_t>(buckets_); ++i) {
      const uint16_t n = bucket_count(i);
      head_pos_ = (head_pos_ + n) % capacity_;
      count_ -= n;
      bucket_count(i) = 0;
    }
  }
  head_ = head;
  refresh();
}

void BucketedQuantiles::refresh() const {
  // The quartiles of every point held: right after a rotation the head bucket is empty and the ring is the
  // reference; while the ring is not full, every point held (as an exact window would).
  stale_ = false;
  if (count_ == 0) {
    ref_count_ = 0;
    q1_ = median_ = q3_ = 0;
    return;
  }
  // Scratch, reused. On the heap: static TLS comes out of every thread's stack, and civetweb's workers get
  // only 100 kB (a 64 kB TLS block made them overflow on the first /metrics request).
  thread_local std::vector<uint16_t> codes(kMaxPoints);
  thread_local auto select_scratch = std::make_unique<CodeSelectScratch>();
  // The ring in age order, in (at most) two straight copies.
  const uint16_t* ring = data_.begin() + buckets_ + 1;
  const uint32_t first = std::min<uint32_t>(count_, uint32_t{capacity_} - head_pos_);
  std::copy(ring + head_pos_, ring + head_pos_ + first, codes.begin());
  std::copy(ring, ring + (count_ - first), codes.begin() + first);
  // Type 7 interpolates between the order statistics floor(h) and floor(h) + 1, h = (n - 1) q: six ranks,
  // selected at once (features/CodeSelect.h).
  static constexpr double kQ[3] = {0.25, 0.5, 0.75};
  uint32_t ranks[6];
  double frac[3];
  for (int i = 0; i < 3; ++i) {
    const double h = static_cast<double>(count_ - 1) * kQ[i];
    const auto lo = static_cast<uint32_t>(h);
    ranks[2 * i] = lo;
    ranks[2 * i + 1] = std::min<uint32_t>(lo + 1, count_ - 1);
    frac[i] = h - static_cast<double>(lo);
  }
  uint16_t at[6];
  select_codes(codes.data(), count_, ranks, 6, at, *select_scratch);
  float q[3];
  for (int i = 0; i < 3; ++i) {
    const double x = codec_.decode(at[2 * i]), y = codec_.decode(at[2 * i + 1]);
    q[i] = static_cast<float>(x + frac[i] * (y - x));
  }
  ref_count_ = count_;
  q1_ = q[0];
  median_ = q[1];
  q3_ = q[2];
}

void BucketedQuantiles::reanchor(int8_t anchor) {
  const HalfCodec old = codec_;
  codec_.set_anchor(anchor);
  for (uint32_t i = 0; i < count_; ++i) code(i) = codec_.encode(old.decode(code(i)));
}

bool BucketedQuantiles::add(int64_t time_ms, double value) {
  if (!std::isfinite(value)) return false;
  const int64_t idx = floor_div(time_ms, bucket_ms_);
  if (head_ == kNone) {
    head_ = idx;
  } else if (idx > head_) {
    rotate_to(idx);
  } else if (static_cast<uint64_t>(head_) - static_cast<uint64_t>(idx) > buckets_) {
    return false;  // older than the reference
  } else if (count_ == capacity_) {
    // Full: the point is refused if it would be the oldest, else the oldest makes room.
    bool older_held = bucket_count(idx) > 0;
    for (int64_t i = head_ - buckets_; i < idx && !older_held; ++i) older_held = bucket_count(i) > 0;
    if (!older_held) return false;
  }
  // The add that fills the ring leaves the quartiles of the points before it (the cache is next refreshed at
  // a rotation): a selection still pending must see those points, before this one or a re-anchoring.
  if (stale_ && count_ + 1u >= capacity_) refresh();
  if (count_ == 0) codec_.reset();
  if (const int8_t a = codec_.anchor_for(value); a != codec_.anchor()) reanchor(a);
  if (count_ == capacity_) drop_oldest();
  // Ring position: after every point of the buckets up to idx.
  uint32_t pos = count_;
  if (idx < head_) {
    pos = 0;
    for (int64_t i = head_ - buckets_; i <= idx; ++i) pos += bucket_count(i);
    for (uint32_t i = count_; i > pos; --i) code(i) = code(i - 1);
  }
  code(pos) = codec_.encode(value);
  ++bucket_count(idx);
  ++count_;
  if (count_ < capacity_) {  // still filling: the quartiles follow every point held, selected when read
    ref_count_ = count_;
    stale_ = true;
  }
  return true;
}

void BucketedQuantiles::save(StateWriter& w) const {
  // A selection still pending (the ring filling since the last read) is not made here but saved as pending:
  // a checkpoint writes every changed entity, and selecting for each was over a third of its cost. The
  // restored window selects from the same codes when first read, so it scores as this one does.
  w.put<int64_t>(bucket_ms_);
  w.put<uint16_t>(buckets_);
  w.put<uint16_t>(capacity_);
  w.put<int64_t>(head_);
  if (head_ == kNone) return;
  w.put<int8_t>(codec_.anchor());
  w.put<uint16_t>(stale_ ? static_cast<uint16_t>(ref_count_ | kPendingBit) : ref_count_);
  if (ref_count_ > 0 && !stale_) {
    w.put(q1_);
    w.put(median_);
    w.put(q3_);
  }
  for (int64_t i = head_ - buckets_; i <= head_; ++i) w.put<uint16_t>(bucket_count(i));
  for (uint32_t i = 0; i < count_; ++i) w.put<uint16_t>(code(i));
}

bool BucketedQuantiles::restore(StateReader& r) {
  int64_t bucket_ms = 0, head = 0;
  uint16_t buckets = 0, capacity = 0;
  if (!r.get(bucket_ms) || !r.get(buckets) || !r.get(capacity) || !r.get(head)) return false;
  if (bucket_ms != bucket_ms_ || buckets != buckets_ || capacity != capacity_) return false;
  BucketedQuantiles next(bucket_ms_ * buckets_, buckets_, capacity_);
  next.bucket_ms_ = bucket_ms_;
  if (head != kNone) {
    next.head_ = head;
    int8_t anchor = 0;
    uint16_t reference = 0;
    if (!r.get(anchor) || !next.codec_.set_anchor(anchor) || !r.get(reference)) return false;
    // kPendingBit: the quartiles of every point held, not yet selected (the ring was filling): not stored.
    // States written before it existed never set it (capacity < kPendingBit), and read as before.
    const bool pending = (reference & kPendingBit) != 0;
    reference = static_cast<uint16_t>(reference & ~kPendingBit);
    if (reference > capacity_) return false;
    next.ref_count_ = reference;
    next.stale_ = pending;
    if (reference > 0 && !pending) {
      if (!r.get(next.q1_) || !r.get(next.median_) || !r.get(next.q3_)) return false;
      if (!(next.q1_ <= next.median_ && next.median_ <= next.q3_) || !std::isfinite(next.q1_) ||
          !std::isfinite(next.q3_))
        return false;
    }
    uint32_t total = 0;
    for (int64_t i = head - buckets_; i <= head; ++i) {
      uint16_t n = 0;
      if (!r.get(n)) return false;
      next.bucket_count(i) = n;
      total += n;
    }
    if (total > capacity_) return false;
    for (uint32_t i = 0; i < total; ++i) {
      uint16_t c = 0;
      if (!r.get(c) || !HalfCodec::valid(c)) return false;
      next.code(i) = c;
    }
    next.count_ = total;
    // Pending only while filling, and then of every point held (add() keeps ref_count_ = count_).
    if (pending && (total != reference || total >= capacity_)) return false;
    if (total > 0 && !next.codec_.anchored()) {
      for (uint32_t i = 0; i < total; ++i)
        if (next.code(i) != HalfCodec::kZero) return false;
    }
  }
  if (!r.ok()) return false;
  *this = std::move(next);
  return true;
}

}  // namespace gridsentinel::features
