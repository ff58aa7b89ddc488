#pragma once
// Quartiles: the summary that rolling quantile windows (RollingQuantiles, SlidingQuantileSketch) give the
// detectors.
#include <cstdint>
#include <limits>

namespace gridsentinel::features {

struct Quartiles {
  uint64_t count = 0;  // points the summary covers
  double q1 = std::numeric_limits<double>::quiet_NaN();
  double median = std::numeric_limits<double>::quiet_NaN();
  double q3 = std::numeric_limits<double>::quiet_NaN();
};

}  // namespace gridsentinel::features
