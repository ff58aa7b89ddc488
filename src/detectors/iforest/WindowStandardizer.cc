#include "detectors/iforest/WindowStandardizer.h"

#include <algorithm>
#include <cmath>

namespace gridsentinel::detectors {

void WindowStandardizer::reset(uint32_t dim) {
  n_ = 0;
  mean_.assign(dim, 0.0);
  m2_.assign(dim, 0.0);
}

void WindowStandardizer::add(const double* x) {
  ++n_;
  const double inv_n = 1.0 / static_cast<double>(n_);
  for (size_t f = 0; f < mean_.size(); ++f) {
    const double delta = x[f] - mean_[f];
    mean_[f] += delta * inv_n;
    m2_[f] += delta * (x[f] - mean_[f]);
  }
}

void WindowStandardizer::remove(const double* x) {
  if (n_ <= 1) {
    reset(static_cast<uint32_t>(mean_.size()));
    return;
  }
  --n_;
  const double inv_n = 1.0 / static_cast<double>(n_);
  for (size_t f = 0; f < mean_.size(); ++f) {
    const double delta = x[f] - mean_[f];
    mean_[f] -= delta * inv_n;
    // Rounding can push a (near-)constant feature's sum of squares just below zero.
    m2_[f] = std::max(0.0, m2_[f] - delta * (x[f] - mean_[f]));
  }
}

double WindowStandardizer::stddev(uint32_t f) const {
  return n_ == 0 ? 0.0 : std::sqrt(m2_[f] / static_cast<double>(n_));
}

void WindowStandardizer::standardise(const double* x, double* z) const {
  for (uint32_t f = 0; f < mean_.size(); ++f) {
    const double sd = stddev(f);
    z[f] = sd > 0.0 ? (x[f] - mean_[f]) / sd : x[f] - mean_[f];
  }
}

void WindowStandardizer::save(StateWriter& w) const {
  w.put(n_);
  w.put_vector(mean_);
  w.put_vector(m2_);
}

bool WindowStandardizer::restore(StateReader& r, uint32_t dim) {
  uint64_t n = 0;
  std::vector<double> mean, m2;
  if (!r.get(n) || !r.get_vector(mean, dim) || !r.get_vector(m2, dim)) return false;
  if (mean.size() != dim || m2.size() != dim) return false;
  for (uint32_t f = 0; f < dim; ++f)
    // +inf is reachable (squares of values beyond ~1e154 overflow) and harmless; NaN and negatives are not.
    if (std::isnan(mean[f]) || !(m2[f] >= 0.0)) return false;
  n_ = n;
  mean_ = std::move(mean);
  m2_ = std::move(m2);
  return true;
}

}  // namespace gridsentinel::detectors
