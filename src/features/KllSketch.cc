#include "features/KllSketch.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "common/StableHash.h"

namespace gridsentinel::features {

namespace {
constexpr uint32_t kMinLevelWidth = 8;  // DataSketches' m: narrower levels compact too often to pay off
}

double KllSketch::rank_error(uint16_t k) {
  return 2.296 / std::pow(static_cast<double>(std::clamp(k, kMinK, kMaxK)), 0.9723);
}

KllSketch::KllSketch(uint16_t k, uint64_t seed) : k_(std::clamp(k, kMinK, kMaxK)), rng_(seed) {
  level_sizes_.assign(1, 0);
  capacity_ = total_capacity();
}

void KllSketch::clear(uint64_t seed) {
  items_.clear();
  level_sizes_.assign(1, 0);
  capacity_ = total_capacity();
  n_ = 0;
  rng_ = seed;
}

uint32_t KllSketch::level_capacity(uint32_t h) const {
  // round(k (2/3)^depth) in integer arithmetic (as DataSketches does, so capacities do not depend on libm);
  // beyond depth 20 every k <= kMaxK is below the minimum width anyway.
  const uint32_t depth = levels() - 1 - h;
  if (depth > 20) return kMinLevelWidth;
  uint64_t pow3 = 1;
  for (uint32_t i = 0; i < depth; ++i) pow3 *= 3;
  const uint64_t twice = (uint64_t{2} * k_ << depth) / pow3;
  return std::max(kMinLevelWidth, static_cast<uint32_t>((twice + 1) >> 1));
}

size_t KllSketch::total_capacity() const {
  size_t total = 0;
  for (uint32_t h = 0; h < levels(); ++h) total += level_capacity(h);
  return total;
}

size_t KllSketch::level_begin(uint32_t h) const {
  size_t begin = 0;
  for (uint32_t j = h + 1; j < levels(); ++j) begin += level_sizes_[j];
  return begin;
}

bool KllSketch::coin_flip() {
  rng_ += 0x9e3779b97f4a7c15ULL;  // SplitMix64
  return (mix64(rng_) >> 63) != 0;
}

void KllSketch::update(double x) {
  if (!std::isfinite(x)) return;
  if (items_.size() >= capacity_) compress_once();
  if (items_.size() == items_.capacity()) {
    // Grow geometrically but never past the capacity, so a full sketch holds exactly what it needs.
    items_.reserve(std::min(std::max<size_t>(16, 2 * items_.capacity()), capacity_));
  }
  items_.push_back(x);
  ++level_sizes_[0];
  ++n_;
}

void KllSketch::compress_once() {
  uint32_t h = 0;
  while (level_sizes_[h] < level_capacity(h)) ++h;  // exists: the sketch holds at least its total capacity
  if (h + 1 == levels()) {
    level_sizes_.push_back(0);  // a new, empty top level: no item moves
    capacity_ = total_capacity();
  }
  compact(h);
}

void KllSketch::compact(uint32_t h) {
  const size_t begin = level_begin(h);
  const uint32_t size = level_sizes_[h];
  const uint32_t odd = size % 2;
  const uint32_t half = size / 2;
  const auto first = items_.begin() + static_cast<std::ptrdiff_t>(begin);
  const double kept = *first;  // with an odd count the first item in storage order stays at level h
  std::sort(first + odd, first + size);
  const size_t from = begin + odd + (coin_flip() ? 1 : 0);
  // Promoted items land at [begin, begin + half), directly after level h + 1; reads run ahead of writes.
  for (uint32_t j = 0; j < half; ++j) items_[begin + j] = items_[from + 2 * j];
  if (odd) items_[begin + half] = kept;
  items_.erase(first + half + odd, first + size);
  level_sizes_[h + 1] += half;
  level_sizes_[h] = odd;
}

void KllSketch::merge(const KllSketch& other) {
  if (other.n_ == 0) return;
  const uint32_t height = std::max(levels(), other.levels());
  std::vector<double> items;
  items.reserve(items_.size() + other.items_.size());
  std::vector<uint32_t> sizes(height, 0);
  for (uint32_t h = height; h-- > 0;) {
    for (const KllSketch* s : std::array<const KllSketch*, 2>{this, &other}) {
      if (h >= s->levels()) continue;
      const auto begin = s->items_.begin() + static_cast<std::ptrdiff_t>(s->level_begin(h));
      items.insert(items.end(), begin, begin + s->level_sizes_[h]);
      sizes[h] += s->level_sizes_[h];
    }
  }
  items_ = std::move(items);
  level_sizes_ = std::move(sizes);
  n_ += other.n_;
  capacity_ = total_capacity();
  while (items_.size() > capacity_) compress_once();
}

size_t KllSketch::memory_bytes() const {
  return sizeof(*this) + items_.capacity() * sizeof(double) + level_sizes_.capacity() * sizeof(uint32_t);
}

KllSketch::SortedView KllSketch::sorted_view() const {
  SortedView view;
  view.items_.reserve(items_.size());
  for (uint32_t h = 0; h < levels(); ++h) {
    const size_t begin = level_begin(h);
    for (size_t i = begin; i < begin + level_sizes_[h]; ++i)
      view.items_.emplace_back(items_[i], uint64_t{1} << h);
  }
  std::sort(view.items_.begin(), view.items_.end());
  uint64_t cumulative = 0;
  for (auto& item : view.items_) item.second = cumulative += item.second;
  return view;
}

double KllSketch::SortedView::quantile(double q) const {
  if (items_.empty()) return std::numeric_limits<double>::quiet_NaN();
  const double target = std::max(1.0, std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(count())));
  const auto it = std::lower_bound(items_.begin(), items_.end(), target, [](const auto& item, double t) {
    return static_cast<double>(item.second) < t;
  });
  return it == items_.end() ? items_.back().first : it->first;
}

void KllSketch::save(StateWriter& w) const {
  w.put<uint16_t>(k_);
  w.put<uint64_t>(n_);
  w.put<uint64_t>(rng_);
  w.put_vector(level_sizes_);
  w.put_vector(items_);
}

bool KllSketch::restore(StateReader& r) {
  KllSketch next(k_, 0);
  uint16_t k = 0;
  if (!r.get(k) || k != k_ || !r.get(next.n_) || !r.get(next.rng_)) return false;
  if (!r.get_vector(next.level_sizes_, kMaxLevels) || next.level_sizes_.empty()) return false;
  next.capacity_ = next.total_capacity();
  if (!r.get_vector(next.items_, static_cast<uint32_t>(next.capacity_))) return false;
  // The level sizes must account for every item, and their weights for the count.
  uint64_t items = 0, weight = 0;
  for (uint32_t h = 0; h < next.levels(); ++h) {
    const uint64_t size = next.level_sizes_[h];
    if (size > (std::numeric_limits<uint64_t>::max() - weight) >> h) return false;
    items += size;
    weight += size << h;
  }
  if (items != next.items_.size() || weight != next.n_) return false;
  for (double x : next.items_)
    if (!std::isfinite(x)) return false;
  *this = std::move(next);
  return true;
}

}  // namespace gridsentinel::features
