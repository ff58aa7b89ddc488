#pragma once
// c(n): the average path length of an unsuccessful search in a binary search tree of n points (Liu, Ting &
// Zhou, "Isolation Forest", ICDM 2008, eq. 1), as scikit-learn's `_average_path_length` computes it:
//   c(n) = 0 for n <= 1, 1 for n = 2, else 2 (ln(n - 1) + gamma) - 2 (n - 1) / n.
// It normalises path lengths (s = 2^(-E[h] / c(max_samples))) and estimates the unbuilt subtree below a leaf
// that still holds n > 1 points (h = depth + c(n)).
#include <cmath>
#include <cstdint>

namespace gridsentinel::detectors {

inline double average_path_length(uint64_t n) {
  constexpr double kEulerGamma = 0.57721566490153286061;
  if (n <= 1) return 0.0;
  if (n == 2) return 1.0;
  const auto x = static_cast<double>(n);
  return 2.0 * (std::log(x - 1.0) + kEulerGamma) - 2.0 * (x - 1.0) / x;
}

// The depth limit scikit-learn gives each tree: ceil(log2(max(max_samples, 2))), the height of a balanced
// tree over the subsample. Deeper nodes only separate normal points, which the score does not need.
inline uint32_t isolation_depth_limit(uint64_t max_samples) {
  uint32_t depth = 0;
  while (depth < 63 && (uint64_t{1} << depth) < max_samples) ++depth;
  return depth == 0 ? 1 : depth;
}

}  // namespace gridsentinel::detectors
