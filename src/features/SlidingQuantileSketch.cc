#include "features/SlidingQuantileSketch.h"

#include <algorithm>
#include <cmath>

#include "common/StableHash.h"

namespace gridsentinel::features {

namespace {
// Event times beyond +-2^60 ms (36 million years) are refused, so bucket arithmetic never overflows.
constexpr int64_t kTimeLimitMs = int64_t{1} << 60;

int64_t floor_div(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}
uint64_t derive_seed(uint64_t seed, int64_t index) {
  return mix64(seed ^ mix64(static_cast<uint64_t>(index)));
}
}  // namespace

SlidingQuantileSketch::SlidingQuantileSketch(int64_t window_ms, uint32_t buckets, uint16_t k, uint64_t seed)
    : k_(std::clamp(k, KllSketch::kMinK, KllSketch::kMaxK)), seed_(seed) {
  const uint32_t b = std::clamp<uint32_t>(buckets, 1, kMaxBuckets);
  bucket_ms_ = std::max<int64_t>(1, window_ms / b);
  slots_.assign(b + 1, Slot{kNone, KllSketch(k_, 0)});
}

SlidingQuantileSketch::Slot& SlidingQuantileSketch::slot_for(int64_t index) {
  const auto n = static_cast<int64_t>(slots_.size());
  return slots_[static_cast<size_t>(((index % n) + n) % n)];
}

const SlidingQuantileSketch::Slot& SlidingQuantileSketch::slot_for(int64_t index) const {
  const auto n = static_cast<int64_t>(slots_.size());
  return slots_[static_cast<size_t>(((index % n) + n) % n)];
}

bool SlidingQuantileSketch::add(int64_t time_ms, double value) {
  if (!std::isfinite(value) || time_ms <= -kTimeLimitMs || time_ms >= kTimeLimitMs) return false;
  const int64_t index = floor_div(time_ms, bucket_ms_);
  const bool rotates = head_ == kNone || index > head_;
  if (!rotates && index < head_ - buckets()) return false;  // older than the reference
  if (rotates) head_ = index;
  Slot& s = slot_for(index);
  if (s.index != index) {  // the slot still holds a bucket that has left the window: start this one afresh
    s.index = index;
    s.sketch.clear(derive_seed(seed_, index));
  }
  s.sketch.update(value);
  if (rotates) refresh();
  return true;
}

KllSketch SlidingQuantileSketch::merged() const {
  KllSketch out(k_, derive_seed(~seed_, head_));
  if (head_ == kNone) return out;
  for (int64_t i = head_ - buckets(); i < head_; ++i) {  // oldest first, so the result is deterministic
    const Slot& s = slot_for(i);
    if (s.index == i) out.merge(s.sketch);
  }
  return out;
}

void SlidingQuantileSketch::refresh() {
  const KllSketch::SortedView view = merged().sorted_view();
  cached_ = Quartiles{view.count(), view.quantile(0.25), view.quantile(0.5), view.quantile(0.75)};
}

size_t SlidingQuantileSketch::memory_bytes() const {
  size_t bytes = sizeof(*this);
  for (const Slot& s : slots_) bytes += s.sketch.memory_bytes() + sizeof(Slot) - sizeof(KllSketch);
  return bytes;
}

void SlidingQuantileSketch::save(StateWriter& w) const {
  w.put<int64_t>(bucket_ms_);
  w.put<uint32_t>(static_cast<uint32_t>(slots_.size()));
  w.put<uint16_t>(k_);
  w.put<uint64_t>(seed_);
  w.put<int64_t>(head_);
  // The cache, not re-derived on restore: late points since the last rotation are in the buckets but not in
  // it yet.
  w.put<uint64_t>(cached_.count);
  w.put<double>(cached_.q1);
  w.put<double>(cached_.median);
  w.put<double>(cached_.q3);
  if (head_ == kNone) return;
  // Live buckets only, oldest first: a slot holding an expired bucket is garbage that `add` overwrites.
  for (int64_t i = head_ - buckets(); i <= head_; ++i) {
    const Slot& s = slot_for(i);
    const bool present = s.index == i;
    w.put<uint8_t>(present ? 1 : 0);
    if (present) s.sketch.save(w);
  }
}

bool SlidingQuantileSketch::restore(StateReader& r) {
  int64_t bucket_ms = 0, head = kNone;
  uint32_t slots = 0;
  uint16_t k = 0;
  uint64_t seed = 0;
  Quartiles cached;
  if (!r.get(bucket_ms) || !r.get(slots) || !r.get(k) || !r.get(seed) || !r.get(head) ||
      !r.get(cached.count) || !r.get(cached.q1) || !r.get(cached.median) || !r.get(cached.q3))
    return false;
  if (bucket_ms != bucket_ms_ || slots != slots_.size() || k != k_) return false;
  const bool ordered = cached.q1 <= cached.median && cached.median <= cached.q3 && std::isfinite(cached.q1) &&
                       std::isfinite(cached.q3);
  const bool empty = std::isnan(cached.q1) && std::isnan(cached.median) && std::isnan(cached.q3);
  if (cached.count > 0 ? !ordered : !empty) return false;
  SlidingQuantileSketch next(bucket_ms_ * buckets(), static_cast<uint32_t>(buckets()), k_, seed);
  next.head_ = head;
  next.cached_ = cached;
  uint64_t in_reference = 0;
  if (head != kNone) {
    const int64_t limit = floor_div(kTimeLimitMs, bucket_ms_);
    if (head <= -limit || head >= limit) return false;
    for (int64_t i = head - next.buckets(); i <= head; ++i) {
      uint8_t present = 0;
      if (!r.get(present) || present > 1) return false;
      if (!present) continue;
      Slot& s = next.slot_for(i);
      s.index = i;
      if (!s.sketch.restore(r) || s.sketch.empty()) return false;
      if (i < head) in_reference += s.sketch.count();
    }
  }
  if (cached.count > in_reference) return false;
  *this = std::move(next);
  return true;
}

}  // namespace gridsentinel::features
