#pragma once
// KnnCadDetector: conformal k-nearest-neighbour anomaly detection on lagged windows of one univariate series
// (KNN-CAD: Burnaev and Ishimtsev, "Conformalized density- and distance-based anomaly detection in
// time-series data", arXiv:1608.04585, 2016; the detector NAB lists as "KNN CAD").
//
// Algorithm. An item is the vector of the last D values (a lagged window, in arrival order; timestamps are
// not used). Its nonconformity measure (NCM) is the sum of its k smallest squared Mahalanobis distances to
// the training items, with the metric M^-1, M the scatter matrix of the training items (centred: their
// covariance times their count; uncentred: X^T X as the paper's code has it). The score is the conformal rank
// of the new item's NCM among the NCMs of the calibration items: the fraction of them it exceeds. An NCM
// beyond all of them scores between 1 - 1/n and 1 by how far beyond (1 - (max / NCM) / n), so the largest
// deviations keep their order instead of tying at 1. Scores are uniform-ish on [0, 1] for data like the
// training data; an alert level is a high rank (e.g. 0.995): the caller chooses it.
//
// Sets, with P = train_points and n = P - D:
//   training     n items, the oldest of the last 2P rows (before the first P - 1 values: the first n items);
//   calibration  the NCMs of the n most recent items (at warm-up: each training item's leave-one-out NCM).
// Every learned row moves one NCM into the calibration set, and from row 2P on one item from the calibration
// span into the training set (the oldest leaves). The metric is refitted from the training items every P / 2
// rows; the training items are whitened with its Cholesky factor C (M + ridge = C C^T, distances become
// Euclidean between C^-1 x), so a row costs O(n D) for the distances, O(D^2) for the item entering the
// training set, and O(n D^2) every P / 2 rows for the refit. A scatter matrix that is not positive definite
// even with a small ridge (1e-9 of its mean diagonal; a constant series) keeps the previous metric (the
// identity at first).
//
// Warm-up: scores 0 until P - 1 values are learned. Non-finite values score 0 and are not learned.
// Learning policy: learn every row (LearningPolicy::skip_flagged = false). The lagged windows need the
// series as it came; an anomaly enters the calibration NCMs at once (raising the bar for a repeat within the
// next n rows) and the training set only P rows later.
// Memory: 8 bytes x (2P values + n D whitened items + n NCMs + D^2): 96 kB at D = 19, P = 600. Meant for the
// backtest and for a handful of series, not for one detector per meter.
// Thread-safety: none needed beyond const-correctness: `score` does not change state.
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "detectors/Detector.h"

namespace gridsentinel::detectors {

struct KnnCadConfig {
  uint32_t dim = 19;            // D, values per item: how much of the recent shape is compared
  uint32_t k = 10;              // neighbours whose squared distances sum to the NCM
  uint32_t train_points = 600;  // P: warm-up length; training and calibration sets hold P - D items each
  bool centered = true;         // metric from the centred scatter matrix (covariance), not X^T X

  bool operator==(const KnnCadConfig&) const = default;
};

class KnnCadDetector {
 public:
  using Input = Point;
  // Throws std::invalid_argument unless 1 <= dim <= 256, k >= 1 and train_points >= dim + k + 2 (the
  // training set must hold more than k + 1 items). `seed` is unused: the detector draws no random numbers.
  explicit KnnCadDetector(const KnnCadConfig& cfg = {}, uint64_t seed = 0);

  double score(const Input& p) const;
  void learn(const Input& p);
  // score(p) followed by learn(p), computing the NCM once. Returns the score.
  double score_and_learn(const Input& p);
  bool warmed_up() const { return !calibration_.empty(); }

  const KnnCadConfig& config() const { return cfg_; }
  size_t memory_bytes() const;

  std::string save() const;
  bool restore(std::string_view bytes);

 private:
  uint32_t train_items() const { return cfg_.train_points - cfg_.dim; }
  // Value of absolute row r (must be held).
  double value_at(uint64_t row) const {
    return values_[static_cast<size_t>(row - (learned_ - values_.size()))];
  }
  // C^-1 x into out (x: D values); the identity when no metric is fitted.
  void whiten(const double* x, double* out) const;
  void store_whitened(uint64_t item);  // whitens training item `item` into its slot
  // NCM of a whitened item against the training set: the sum of its `take` smallest squared distances.
  double ncm(const double* z, uint32_t take) const;
  double ncm_of_next(double value) const;  // NCM of the item ending with `value` as the next row
  double rank(double ncm) const;
  void refit_metric();
  void rebuild_whitened();
  void on_row_learned();

  KnnCadConfig cfg_;
  uint64_t learned_ = 0;            // finite values learned
  uint64_t train_begin_ = 0;        // first training item (item j = rows j .. j + D - 1)
  std::deque<double> values_;       // the last 2P values
  std::vector<double> chol_;        // C, row-major D x D lower triangle; empty = identity
  std::vector<double> whitened_;    // coordinate i of training item j at [i n + j % n]
  std::deque<double> calibration_;  // the last n NCMs (empty before warm-up)
};

}  // namespace gridsentinel::detectors
