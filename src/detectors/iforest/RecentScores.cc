#include "detectors/iforest/RecentScores.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace gridsentinel::detectors {

RecentScores::RecentScores(uint32_t capacity, double max_q)
    : ring_(std::max<uint32_t>(capacity, 1), 0.0), max_q_(std::clamp(max_q, 0.0, 1.0)) {
  // upper_quantile(q) reads the floor(q x size())-th largest score (0-based; see there); one more for the
  // rounding of (1 - q) x size().
  const double needed = std::floor(max_q_ * static_cast<double>(ring_.size())) + 2.0;
  keep_ = static_cast<uint32_t>(std::min(needed, static_cast<double>(ring_.size())));
  top_.reserve(keep_);
}

void RecentScores::push(double score) {
  bool lost_one = false;
  if (count_ == ring_.size()) {
    // Evict the oldest: if it may be among the kept ones, one copy of its value leaves `top` (as a multiset
    // of the largest scores this is right whichever copy was evicted).
    const double old = ring_[next_];
    if (top_.size() == count_) {
      // Every score kept: the evicted one is replaced in place, shifting only the scores between its
      // position and the new one's (a third on average, where an erase and an insert move half each).
      const auto out = std::lower_bound(top_.begin(), top_.end(), old);
      const auto in = std::upper_bound(top_.begin(), top_.end(), score);
      if (in > out) {
        std::move(out + 1, in, out);
        *(in - 1) = score;
      } else {
        std::move_backward(in, out, out + 1);
        *in = score;
      }
      ring_[next_] = score;
      next_ = (next_ + 1) % static_cast<uint32_t>(ring_.size());
      return;
    }
    if (!top_.empty() && old >= top_.front()) {
      const auto at = std::lower_bound(top_.begin(), top_.end(), old);
      if (at != top_.end() && *at == old) {
        top_.erase(at);
        lost_one = true;
      }
    }
  } else {
    ++count_;
  }
  ring_[next_] = score;
  next_ = (next_ + 1) % static_cast<uint32_t>(ring_.size());
  if (lost_one) {
    // The kept ones are now the largest but one: the new score completes them if it is at least their
    // smallest; else the next largest is not known and they are found again.
    if (!top_.empty() && score >= top_.front())
      insert_kept(score);
    else
      refill_smallest();
    return;
  }
  if (top_.size() < std::min<size_t>(keep_, count_)) {
    insert_kept(score);
  } else if (score > top_.front()) {
    // Replaces the smallest kept score, which stays in the ring below the kept ones.
    const auto at = std::upper_bound(top_.begin(), top_.end(), score);
    std::move(top_.begin() + 1, at, top_.begin());
    *(at - 1) = score;
  }
}

void RecentScores::insert_kept(double score) {
  top_.insert(std::upper_bound(top_.begin(), top_.end(), score), score);
}

void RecentScores::refill_smallest() {
  // `top` holds the k - 1 largest scores of the (full) ring and the newest score is below them: the k-th
  // largest is another copy of their smallest if the ring holds more copies of it than `top` does, else the
  // largest score below it. One pass over the ring.
  if (top_.empty()) {
    top_.push_back(*std::max_element(ring_.begin(), ring_.end()));
    return;
  }
  const double smallest = top_.front();
  size_t at_least = 0;
  double below = -std::numeric_limits<double>::infinity();
  for (const double s : ring_) {
    at_least += s >= smallest ? 1 : 0;
    below = s < smallest ? std::max(below, s) : below;
  }
  top_.insert(top_.begin(), at_least > top_.size() ? smallest : below);
}

double RecentScores::upper_quantile(double q) const {
  const double m = static_cast<double>(count_);
  const auto rank = static_cast<uint32_t>(std::clamp(std::ceil((1.0 - q) * m), 1.0, m));
  // The rank-th smallest is the (count_ - rank)-th largest (0-based).
  const uint32_t from_top = std::min<uint32_t>(count_ - rank, static_cast<uint32_t>(top_.size()) - 1);
  return top_[top_.size() - 1 - from_top];
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
  RecentScores restored(cap, max_q_);
  for (uint32_t i = 0; i < count; ++i) {
    double s = 0.0;
    if (!r.get(s) || !(s >= 0.0 && s <= 1.0)) return false;
    restored.push(s);
  }
  *this = std::move(restored);
  return true;
}

}  // namespace gridsentinel::detectors
