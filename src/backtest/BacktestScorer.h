#pragma once
// BacktestScorer: a strictly online anomaly score in [0, 1] for one univariate series, built from the
// detector classes of the streaming path (ZScoreDetector at two event-time scales, IqrDetector, SpikeDetector
// and a StreamingIsolationForest over a small multi-scale feature vector). Used by `gridsentinel backtest` to
// score the NAB corpus; generic (no per-series special cases).
//
// Online: the score of row t depends on rows <= t only. Each row is scored, then learned (prequential).
//
// Scales: the series' typical step is estimated from its first `step_estimate_rows` rows (median positive
// step; scores are 0 meanwhile, the rows are then replayed into the detectors), and every event-time window
// is stretched to hold at least `min_window_steps` steps, so hourly data does not leave a 1 h window with one
// point.
//
// Components (each a score in [0, 1], 0.5 at its own alert level):
//   z_short   |z| against a short window (default 1 h)          ZScoreDetector
//   z_long    |z| against a long window (default 1 d)           ZScoreDetector
//   iqr       distance outside [Q1, Q3] in IQRs (last N points)  IqrDetector
//   spike     robust z against the median/MAD of the last N      SpikeDetector
//   forest    isolation score of (z_short, z_long, robust z, step change / long std, IQR distance)
//             StreamingIsolationForest; squashed so that forest_half maps to 0.5
// Calibration (calibration_points = N > 0, the default): each component becomes its rank among its own last N
// values (before this row joins them; a value beyond all of them ranks between 1 - 1/N and 1 by how far
// beyond), which puts components of very different tails on one scale. Raw score = the mean of the ranks
// (combine = 1) or their max (combine = 0), then mapped monotonically so that a mean rank of `output_pivot`
// gives 0.5: u = (1 - pivot) / (1 - mean), score u / (1 + u). Without calibration, raw = max of the
// components. Learning: "flagged" is decided on the components' own alert levels (their max >=
// policy.threshold, before calibration); flagged rows are not learned by the z, IQR and forest components
// unless policy.adopt_after consecutive rows were flagged (a lasting shift becomes the new normal). The spike
// detector learns every row (median and MAD tolerate what they learn). Output: one alarm per episode. A row's
// output is its raw score only when the raw score exceeds every raw score of the preceding `episode_steps`
// steps (event time); otherwise it is damped by `repeat_factor`. For any threshold, a burst of high scores
// thus fires once at its rising edge, not for every row.
//
// Per-row calls never throw; non-finite values score 0 and are not learned.
#include <array>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "detectors/Detector.h"
#include "detectors/IqrDetector.h"
#include "detectors/SpikeDetector.h"
#include "detectors/ZScoreDetector.h"
#include "detectors/iforest/StreamingIsolationForest.h"
#include "features/RollingQuantiles.h"

namespace gridsentinel::backtest {

struct BacktestScorerConfig {
  int64_t short_window_ms = 3600LL * 1000;
  int64_t long_window_ms = 24LL * 3600 * 1000;
  uint32_t min_window_steps = 12;    // each event-time window holds at least this many typical steps
  uint32_t step_estimate_rows = 16;  // rows used to estimate the typical step
  double z_short_threshold = 10.0;
  double z_long_threshold = 10.0;
  uint32_t iqr_points = 288;
  double iqr_k = 5.0;
  uint32_t spike_points = 31;
  double spike_threshold = 12.0;
  uint32_t forest_trees = 64;
  uint32_t forest_subsample = 128;
  uint32_t forest_window = 1024;
  uint32_t forest_min_points = 256;
  double forest_half = 0.70;           // forest score mapped to 0.5
  double episode_steps = 600;          // typical steps during which a raw score must beat its predecessors
  double repeat_factor = 0.0;          // output multiplier of a row that does not beat them
  uint32_t calibration_points = 4000;  // > 0: each component becomes its rank among its last N values
  double output_pivot = 0.99;          // calibrated: the combined rank that maps to 0.5
  std::array<double, 5> weights{1, 1, 1, 1, 1};  // combine = 1: z_short, z_long, iqr, spike, forest
  int combine = 1;                               // 0 = max of the components, 1 = mean
  detectors::LearningPolicy policy{0.5, true, 12};
  uint64_t seed = 42;
};

struct BacktestComponents {
  double z_short = 0, z_long = 0, iqr = 0, spike = 0, forest = 0, raw = 0;
};

class BacktestScorer {
 public:
  // Throws std::invalid_argument on an invalid configuration (construction only).
  explicit BacktestScorer(const BacktestScorerConfig& cfg = {});

  // Scores the next row, then learns it. Never throws.
  double step(int64_t time_ms, double value);

  const BacktestComponents& last_components() const { return last_; }
  // The estimated typical step (0 until estimated).
  int64_t typical_step_ms() const { return step_ms_; }

 private:
  void build_detectors();
  double score_and_learn(int64_t time_ms, double value, bool emit);

  BacktestScorerConfig cfg_;
  std::vector<std::pair<int64_t, double>> pending_;  // rows before the step estimate
  int64_t step_ms_ = 0;
  std::optional<detectors::ZScoreDetector> z_short_, z_long_;
  std::optional<detectors::IqrDetector> iqr_;
  std::optional<detectors::SpikeDetector> spike_;
  detectors::StreamingIsolationForest forest_;
  detectors::LearningGuard guard_;
  double prev_value_ = 0;
  bool has_prev_ = false;
  std::deque<std::pair<int64_t, double>> recent_raw_;  // (time, raw) within the episode span, max-queue
  BacktestComponents last_;
  std::vector<features::RollingQuantiles> history_;
};

// Scores a whole series row by row (scores[i] for row i).
std::vector<double> backtest_score_series(std::span<const int64_t> timestamps_ms,
                                          std::span<const double> values,
                                          const BacktestScorerConfig& cfg = {});

}  // namespace gridsentinel::backtest
