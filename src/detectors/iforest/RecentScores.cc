#include "detectors/iforest/RecentScores.h"

#include <algorithm>
#include <cmath>

namespace gridsentinel::detectors {

RecentScores::RecentScores(uint32_t capacity) : ring_(std::max<uint32_t>(capacity, 1), 0.0) {
  sorted_.reserve(ring_.size());
}

void RecentScores::push(double score) {
  if (count_ < ring_.size()) {
    ++count_;
    sorted_.insert(std::upper_bound(sorted_.begin(), sorted_.end(), score), score);
  } else {
    // Replace the evicted score in place, shifting only the scores between its position and the new one's
    // (a third of the array on average, where an erase and an insert would each move half of it).
    const auto out = std::lower_bound(sorted_.begin(), sorted_.end(), ring_[next_]);
    const auto in = std::upper_bound(sorted_.begin(), sorted_.end(), score);
    if (in > out) {
      std::move(out + 1, in, out);
      *(in - 1) = score;
    } else {
      std::move_backward(in, out, out + 1);
      *in = score;
    }
  }
  ring_[next_] = score;
  next_ = (next_ + 1) % static_cast<uint32_t>(ring_.size());
}

double RecentScores::upper_quantile(double q) const {
  const double m = static_cast<double>(count_);
  const auto rank = static_cast<uint32_t>(std::clamp(std::ceil((1.0 - q) * m), 1.0, m));
  return sorted_[rank - 1];
}

void RecentScores::save(StateWriter& w) const {
  w.put(capacity());
  w.put(count_);
  const uint32_t cap = capacity();
  const uint32_t oldest = (next_ + cap - count_) % cap;
  for (uint32_t i = 0; i < count_; ++i) w.put(ring_[(oldest + i) % cap]);
}

bool RecentScores::restore(StateReader& r) {
  uint32_t cap = 0, count = 0;
  if (!r.get(cap) || !r.get(count) || cap != capacity() || count > cap) return false;
  RecentScores restored(cap);
  for (uint32_t i = 0; i < count; ++i) {
    double s = 0.0;
    if (!r.get(s) || !(s >= 0.0 && s <= 1.0)) return false;
    restored.push(s);
  }
  *this = std::move(restored);
  return true;
}

}  // namespace gridsentinel::detectors
