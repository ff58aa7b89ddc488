#include "detectors/iforest/IsolationForest.h"

#include <cmath>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "detectors/iforest/PathLength.h"

namespace gridsentinel::detectors {

IsolationForest::IsolationForest(const IsolationForestConfig& cfg) : cfg_(cfg) {
  if (cfg.n_trees == 0) throw std::invalid_argument("IsolationForest: n_trees must be >= 1");
  if (cfg.max_samples == 0) throw std::invalid_argument("IsolationForest: max_samples must be >= 1");
}

void IsolationForest::fit(const Eigen::Ref<const RowMatrix>& X) {
  if (X.rows() == 0 || X.cols() == 0) throw std::invalid_argument("IsolationForest::fit: empty data");
  if (!X.allFinite()) throw std::invalid_argument("IsolationForest::fit: non-finite values");
  const auto n = static_cast<uint32_t>(X.rows());
  const auto dim = static_cast<uint32_t>(X.cols());
  const uint32_t m = std::min(cfg_.max_samples, n);
  forest_.reset(cfg_.n_trees, m, dim);

  Xoshiro256 rng(cfg_.seed);
  const std::vector<double> tolerance(dim, FlatForest::kSklearnConstantTolerance);
  std::vector<uint32_t> rows(n);
  std::iota(rows.begin(), rows.end(), 0u);
  std::vector<double> sample(size_t{m} * dim);
  for (uint32_t t = 0; t < cfg_.n_trees; ++t) {
    // Partial Fisher-Yates: rows[0, m) becomes a uniform m-subset whatever order `rows` was left in, so there
    // is no need to reset it between trees.
    for (uint32_t i = 0; i < m; ++i) {
      const auto j = i + static_cast<uint32_t>(rng.below(n - i));
      std::swap(rows[i], rows[j]);
      const double* src = X.data() + size_t{rows[i]} * static_cast<size_t>(X.outerStride());
      std::copy(src, src + dim, sample.begin() + size_t{i} * dim);
    }
    forest_.grow(t, sample.data(), m, tolerance.data(), rng);
  }
  fitted_ = true;
}

double IsolationForest::to_score(double total_path) const {
  const double c = average_path_length(forest_.max_samples());
  if (c == 0.0) return 1.0;
  return std::exp2(-(total_path / static_cast<double>(forest_.n_trees())) / c);
}

Eigen::VectorXd IsolationForest::score_samples(const Eigen::Ref<const RowMatrix>& X) const {
  Eigen::VectorXd out(X.rows());
  score_samples(X, out);
  return out;
}

void IsolationForest::score_samples(const Eigen::Ref<const RowMatrix>& X,
                                    Eigen::Ref<Eigen::VectorXd> out) const {
  if (!fitted_ || X.cols() != static_cast<Eigen::Index>(dim()) || out.size() != X.rows()) {
    out.setZero();
    return;
  }
  out.setZero();
  forest_.accumulate_paths(X.data(), static_cast<size_t>(X.rows()), static_cast<size_t>(X.outerStride()),
                           out.data());
  for (Eigen::Index i = 0; i < out.size(); ++i) out[i] = to_score(out[i]);
}

double IsolationForest::score(std::span<const double> x) const {
  if (!fitted_ || x.size() != dim()) return 0.0;
  return to_score(forest_.total_path(x.data()));
}

double IsolationForest::score_with_attribution(std::span<const double> x, std::span<double> out) const {
  std::fill(out.begin(), out.end(), 0.0);
  if (!fitted_ || x.size() != dim() || out.size() < dim()) return 0.0;
  return to_score(forest_.total_path_with_credit(x.data(), out.data()));
}

}  // namespace gridsentinel::detectors
