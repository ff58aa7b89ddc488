#pragma once
// FeatureVector: one multivariate observation (a meter's feature row) held by value in a fixed-size buffer,
// so that passing, copying and queueing it never allocates. Up to kMaxFeatures values; `dim` says how many
// are used.
#include <algorithm>
#include <array>
#include <cstdint>
#include <span>

namespace gridsentinel::detectors {

inline constexpr uint32_t kMaxFeatures = 64;

struct FeatureVector {
  std::array<double, kMaxFeatures> values{};
  uint32_t dim = 0;

  // A copy of x; longer than kMaxFeatures gives dim = 0, which every detector treats as input it cannot
  // judge.
  static FeatureVector of(std::span<const double> x) {
    FeatureVector v;
    if (x.size() > kMaxFeatures) return v;
    std::copy(x.begin(), x.end(), v.values.begin());
    v.dim = static_cast<uint32_t>(x.size());
    return v;
  }
  std::span<const double> view() const { return {values.data(), dim}; }
};

}  // namespace gridsentinel::detectors
