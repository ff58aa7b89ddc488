#pragma once
// WindowStandardizer: per-feature mean and standard deviation of the points currently in a sliding window,
// kept by Welford's update as points enter and its exact inverse as they leave (O(dim) per point). Removal
// accumulates rounding error over a long stream, so the owner recomputes from the window once per turnover
// (recompute_from), which bounds the drift to one window's worth of updates.
// Population statistics (divide by n), as StandardScaler. Memory: 2 x dim doubles.
#include <cstdint>
#include <span>
#include <vector>

#include "common/StateCodec.h"

namespace gridsentinel::detectors {

class WindowStandardizer {
 public:
  void reset(uint32_t dim);
  void add(const double* x);
  void remove(const double* x);
  uint64_t count() const { return n_; }
  double mean(uint32_t f) const { return mean_[f]; }
  double stddev(uint32_t f) const;
  // z = (x - mean) / stddev per feature; a feature with zero spread gives x - mean (no rescaling).
  void standardise(const double* x, double* z) const;

  void save(StateWriter& w) const;
  // Reads what save() wrote for `dim` features; false on malformed or inconsistent values.
  bool restore(StateReader& r, uint32_t dim);

 private:
  uint64_t n_ = 0;
  std::vector<double> mean_, m2_;  // m2 = sum of squared deviations from the mean
};

}  // namespace gridsentinel::detectors
