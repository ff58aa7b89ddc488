#pragma once
// RecentScores: the last `capacity` scores in a ring, and the largest of them kept sorted, so that an upper
// quantile is one lookup. Why exact rather than a sketch: the ring is small (a few thousand), the quantile is
// read on every point, and an exact nearest-rank quantile makes the alert rate exactly what the
// contamination says. Why only the largest: an alert threshold is a high quantile (contamination 0.0005 of
// 2048 scores is the second largest), so a handful of scores answers it and a push costs a few comparisons
// instead of shifting a third of a sorted copy of the ring (~0.2 us at 2048).
// How: `top` holds the k = min(kept, size()) largest recent scores (as a multiset), ascending. A push that
// evicts a score >= the smallest kept one removes one copy of it from `top`; the new score takes its place
// if it is at least the smallest kept one, else the k-th largest is found in one pass over the ring
// (O(capacity), with probability below k / capacity per push). Otherwise a new score larger than the smallest
// kept one replaces it. Memory: capacity + kept doubles, reserved up front; push never allocates.
#include <cstdint>
#include <vector>

#include "common/StateCodec.h"

namespace gridsentinel::detectors {

class RecentScores {
 public:
  // upper_quantile(q) is answered for every q <= max_q (in (0, 1]; 1 keeps every score sorted).
  explicit RecentScores(uint32_t capacity = 1, double max_q = 1.0);

  void push(double score);
  uint32_t size() const { return count_; }
  uint32_t capacity() const { return static_cast<uint32_t>(ring_.size()); }
  // Scores kept sorted: min(size(), floor(max_q x capacity) + 2).
  uint32_t kept() const { return static_cast<uint32_t>(top_.size()); }
  // The (1 - q) quantile by nearest rank: the smallest recent score s such that at most a fraction q of
  // recent scores lie strictly above it. Requires size() > 0 and q in (0, max_q] (a larger q answers the
  // smallest kept score).
  double upper_quantile(double q) const;

  void save(StateWriter& w) const;
  // Reads what save() wrote; false when it holds more than `capacity` scores or values outside [0, 1].
  bool restore(StateReader& r);

 private:
  void insert_kept(double score);  // into `top`, in order (room reserved)
  void refill_smallest();

  std::vector<double> ring_;
  std::vector<double> top_;  // the largest scores, ascending
  uint32_t keep_ = 1;        // target size of top_ once the ring holds that many
  double max_q_ = 1.0;
  uint32_t next_ = 0;  // slot the next score goes to; when full, also the oldest score
  uint32_t count_ = 0;
};

}  // namespace gridsentinel::detectors
