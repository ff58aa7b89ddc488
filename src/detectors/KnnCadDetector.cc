#include "detectors/KnnCadDetector.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "common/StateCodec.h"

namespace gridsentinel::detectors {

namespace {
constexpr uint8_t kStateVersion = 1;
constexpr uint32_t kMaxDim = 256;
constexpr double kRidge = 1e-9;  // of the scatter matrix's mean diagonal

bool all_finite(const std::vector<double>& v) {
  return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
}
}  // namespace

KnnCadDetector::KnnCadDetector(const KnnCadConfig& cfg, uint64_t /*seed*/) : cfg_(cfg) {
  if (cfg_.dim < 1 || cfg_.dim > kMaxDim) throw std::invalid_argument("knn-cad: dim must be in [1, 256]");
  if (cfg_.k < 1) throw std::invalid_argument("knn-cad: k must be >= 1");
  if (cfg_.train_points < cfg_.dim + cfg_.k + 2)
    throw std::invalid_argument("knn-cad: train_points must be >= dim + k + 2");
}

void KnnCadDetector::whiten(const double* x, double* out) const {
  const uint32_t d = cfg_.dim;
  if (chol_.empty()) {
    std::copy(x, x + d, out);
    return;
  }
  for (uint32_t i = 0; i < d; ++i) {
    double s = x[i];
    const double* row = &chol_[static_cast<size_t>(i) * d];
    for (uint32_t j = 0; j < i; ++j) s -= row[j] * out[j];
    out[i] = s / row[i];
  }
}

void KnnCadDetector::store_whitened(uint64_t item) {
  const uint32_t n = train_items(), d = cfg_.dim;
  std::vector<double> x(d), z(d);
  for (uint32_t i = 0; i < d; ++i) x[i] = value_at(item + i);
  whiten(x.data(), z.data());
  const size_t slot = item % n;
  for (uint32_t i = 0; i < d; ++i) whitened_[static_cast<size_t>(i) * n + slot] = z[i];
}

double KnnCadDetector::ncm(const double* z, uint32_t take) const {
  // Squared distances to every training item, one coordinate at a time over all items (the layout is
  // coordinate-major so that this loop vectorises; each distance still sums its coordinates in order).
  const uint32_t n = train_items(), d = cfg_.dim;
  std::vector<double> dist(n, 0.0);
  for (uint32_t i = 0; i < d; ++i) {
    const double* col = &whitened_[static_cast<size_t>(i) * n];
    const double zi = z[i];
    for (uint32_t s = 0; s < n; ++s) {
      const double diff = col[s] - zi;
      dist[s] += diff * diff;
    }
  }
  take = std::min(take, n);
  std::nth_element(dist.begin(), dist.begin() + (take - 1), dist.end());
  std::sort(dist.begin(), dist.begin() + take);  // a fixed summation order
  double sum = 0;
  for (uint32_t i = 0; i < take; ++i) sum += dist[i];
  return sum;
}

double KnnCadDetector::ncm_of_next(double value) const {
  const uint32_t d = cfg_.dim;
  std::vector<double> x(d), z(d);
  for (uint32_t i = 0; i + 1 < d; ++i) x[i] = values_[values_.size() - (d - 1) + i];
  x[d - 1] = value;
  whiten(x.data(), z.data());
  return ncm(z.data(), cfg_.k);
}

double KnnCadDetector::rank(double s) const {
  if (!(s >= 0) || calibration_.empty()) return 0.0;  // NaN
  size_t below = 0;
  double mx = 0;
  for (double c : calibration_) {
    below += c < s ? 1 : 0;
    mx = std::max(mx, c);
  }
  const auto n = static_cast<double>(calibration_.size());
  if (s > mx && mx > 0) return 1.0 - (mx / s) / n;  // beyond every calibration NCM: ordered by how far
  return static_cast<double>(below) / n;
}

double KnnCadDetector::score(const Input& p) const {
  if (!std::isfinite(p.value) || !warmed_up()) return 0.0;
  return rank(ncm_of_next(p.value));
}

void KnnCadDetector::refit_metric() {
  const uint32_t n = train_items(), d = cfg_.dim;
  std::vector<double> items(static_cast<size_t>(n) * d), mean(d, 0.0);
  for (uint32_t j = 0; j < n; ++j)
    for (uint32_t i = 0; i < d; ++i) items[static_cast<size_t>(j) * d + i] = value_at(train_begin_ + j + i);
  if (cfg_.centered) {
    for (uint32_t j = 0; j < n; ++j)
      for (uint32_t i = 0; i < d; ++i) mean[i] += items[static_cast<size_t>(j) * d + i];
    for (double& m : mean) m /= static_cast<double>(n);
  }
  std::vector<double> m(static_cast<size_t>(d) * d, 0.0);  // lower triangle used
  for (uint32_t j = 0; j < n; ++j) {
    const double* x = &items[static_cast<size_t>(j) * d];
    for (uint32_t r = 0; r < d; ++r) {
      const double xr = x[r] - mean[r];
      for (uint32_t c = 0; c <= r; ++c) m[static_cast<size_t>(r) * d + c] += xr * (x[c] - mean[c]);
    }
  }
  double trace = 0;
  for (uint32_t i = 0; i < d; ++i) trace += m[static_cast<size_t>(i) * d + i];
  if (!(trace > 0) || !std::isfinite(trace)) return;  // a constant training set: keep the metric
  const double ridge = kRidge * trace / d;
  for (uint32_t i = 0; i < d; ++i) m[static_cast<size_t>(i) * d + i] += ridge;
  // Cholesky, in place on the lower triangle.
  std::vector<double> c(static_cast<size_t>(d) * d, 0.0);
  for (uint32_t r = 0; r < d; ++r) {
    for (uint32_t col = 0; col <= r; ++col) {
      double s = m[static_cast<size_t>(r) * d + col];
      for (uint32_t t = 0; t < col; ++t)
        s -= c[static_cast<size_t>(r) * d + t] * c[static_cast<size_t>(col) * d + t];
      if (r == col) {
        if (!(s > 0) || !std::isfinite(s)) return;  // not positive definite: keep the metric
        c[static_cast<size_t>(r) * d + r] = std::sqrt(s);
      } else {
        c[static_cast<size_t>(r) * d + col] = s / c[static_cast<size_t>(col) * d + col];
      }
    }
  }
  chol_ = std::move(c);
}

void KnnCadDetector::rebuild_whitened() {
  const uint32_t n = train_items(), d = cfg_.dim;
  whitened_.assign(static_cast<size_t>(n) * d, 0.0);
  for (uint64_t j = train_begin_; j < train_begin_ + n; ++j) store_whitened(j);
}

// After a value was appended: refit the metric on its schedule, and calibrate once at warm-up.
void KnnCadDetector::on_row_learned() {
  const uint64_t p = cfg_.train_points, next = learned_ + 1;
  if (next < p || (next % p != 0 && next % p != p / 2)) return;
  refit_metric();
  rebuild_whitened();
  if (!calibration_.empty()) return;
  // Warm-up: each training item's leave-one-out NCM (its own zero distance is among the k + 1 smallest).
  const uint32_t n = train_items(), d = cfg_.dim;
  std::vector<double> z(d);
  for (uint32_t j = 0; j < n; ++j) {
    for (uint32_t i = 0; i < d; ++i) z[i] = whitened_[static_cast<size_t>(i) * n + j];
    calibration_.push_back(ncm(z.data(), cfg_.k + 1));
  }
}

double KnnCadDetector::score_and_learn(const Input& p) {
  if (!std::isfinite(p.value)) return 0.0;
  double r = 0.0;
  if (warmed_up()) {
    const double s = ncm_of_next(p.value);
    r = rank(s);
    const uint64_t row = learned_ + 1;  // this row's 1-based count
    if (row >= 2ULL * cfg_.train_points) {
      // The oldest training item leaves; the oldest calibration-span item enters (slot reuse).
      ++train_begin_;
      const uint64_t entering = train_begin_ + train_items() - 1;
      store_whitened(entering);
    }
    calibration_.pop_front();
    calibration_.push_back(s);
  }
  values_.push_back(p.value);
  ++learned_;
  while (values_.size() > 2ULL * cfg_.train_points) values_.pop_front();
  on_row_learned();
  return r;
}

void KnnCadDetector::learn(const Input& p) {
  (void)score_and_learn(p);
}

size_t KnnCadDetector::memory_bytes() const {
  return sizeof(*this) +
         sizeof(double) * (values_.size() + chol_.capacity() + whitened_.capacity() + calibration_.size());
}

std::string KnnCadDetector::save() const {
  StateWriter w;
  w.put(kStateVersion);
  w.put(cfg_.dim);
  w.put(cfg_.k);
  w.put(cfg_.train_points);
  w.put(static_cast<uint8_t>(cfg_.centered ? 1 : 0));
  w.put(learned_);
  w.put_vector(std::vector<double>(values_.begin(), values_.end()));
  w.put_vector(chol_);
  w.put_vector(std::vector<double>(calibration_.begin(), calibration_.end()));
  return w.take();
}

bool KnnCadDetector::restore(std::string_view bytes) {
  StateReader r(bytes);
  uint8_t version = 0, centered = 0;
  KnnCadConfig c;
  uint64_t learned = 0;
  std::vector<double> values, chol, calibration;
  if (!r.get(version) || version != kStateVersion) return false;
  r.get(c.dim);
  r.get(c.k);
  r.get(c.train_points);
  r.get(centered);
  r.get(learned);
  r.get_vector(values);
  r.get_vector(chol);
  r.get_vector(calibration);
  if (!r.done() || centered > 1) return false;
  c.centered = centered == 1;
  if (!(c == cfg_)) return false;  // a state of another configuration
  const uint64_t p = cfg_.train_points, n = train_items(), d = cfg_.dim;
  if (values.size() != std::min<uint64_t>(learned, 2 * p) || !all_finite(values)) return false;
  if ((!chol.empty() && chol.size() != d * d) || !all_finite(chol)) return false;
  for (uint64_t i = 0; i < (chol.empty() ? 0 : d); ++i)
    if (!(chol[i * d + i] > 0)) return false;
  if (calibration.size() != (learned + 1 >= p ? n : 0)) return false;
  if (!std::all_of(calibration.begin(), calibration.end(),
                   [](double x) { return x >= 0 && std::isfinite(x); }))
    return false;
  learned_ = learned;
  train_begin_ = learned >= 2 * p ? learned - 2 * p + 1 : 0;
  values_.assign(values.begin(), values.end());
  chol_ = std::move(chol);
  calibration_.assign(calibration.begin(), calibration.end());
  whitened_.clear();
  if (!calibration_.empty()) rebuild_whitened();
  return true;
}

}  // namespace gridsentinel::detectors
