#pragma once
// RecentScores: the last `capacity` scores in a ring, mirrored in a sorted array so that an upper quantile is
// one lookup. Why sorted rather than a sketch: the ring is small (a few thousand), the quantile is read on
// every point, and an exact nearest-rank quantile makes the alert rate exactly what the contamination says.
// Cost per push: two binary searches and one shift of the scores between the evicted and the new score
// (a third of the array on average: ~5 KB for 2048, ~0.15 us).
// Memory: 2 x capacity doubles, reserved up front; push never allocates.
#include <cstdint>
#include <vector>

#include "common/StateCodec.h"

namespace gridsentinel::detectors {

class RecentScores {
 public:
  explicit RecentScores(uint32_t capacity = 1);

  void push(double score);
  uint32_t size() const { return count_; }
  uint32_t capacity() const { return static_cast<uint32_t>(ring_.size()); }
  // The (1 - q) quantile by nearest rank: the smallest recent score s such that at most a fraction q of
  // recent scores lie strictly above it. Requires size() > 0 and q in (0, 1).
  double upper_quantile(double q) const;

  void save(StateWriter& w) const;
  // Reads what save() wrote; false when it holds more than `capacity` scores or values outside [0, 1].
  bool restore(StateReader& r);

 private:
  std::vector<double> ring_;
  std::vector<double> sorted_;
  uint32_t next_ = 0;  // slot the next score goes to; when full, also the oldest score
  uint32_t count_ = 0;
};

}  // namespace gridsentinel::detectors
