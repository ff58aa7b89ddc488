#pragma once
// StreamingIsolationForest: an isolation forest over a sliding window of recent points, in the manner of
// iForestASD (Ding & Fei, "An Anomaly Detection Approach Based on Isolation Forest Algorithm for Streaming
// Data using Sliding Window", 2013), with the forest renewed continuously instead of only on drift.
//
// Algorithm:
//   - The window holds the last `window` points (ring buffer). Trees are grown as in scikit-learn
//     (FlatForest.h), each from `subsample` points drawn without replacement from the current window.
//   - Once the window holds `min_points`, all trees are grown. After that, every `rebuild_every` learned
//     points (default window / n_trees) the oldest tree is regrown from a fresh subsample, so the forest
//     turns over once per window and never remembers points older than about two windows. refresh() regrows
//     every tree from the current window at once (call it when a drift detector fires).
//   - Score: s(x) = 2^(-E[h(x)] / c(subsample)) in (0, 1), the sklearn/Liu et al. score itself, unchanged:
//     ~0.5 unremarkable, towards 1 isolated early. 0 before warm-up and for input it cannot judge (wrong
//     dimension, NaN/Inf), per the Detector contract.
//   - Standardisation: per-feature mean/std over the window (Welford add/remove, recomputed once per window
//     turnover; WindowStandardizer.h). Isolation splits are invariant to any per-feature affine rescaling, so
//     standardising does not change which points isolate and trees keep raw-unit thresholds. It serves
//     numerical hygiene: scikit-learn treats a feature as constant in a node when it spans <= 1e-7 in its own
//     units, which is meaningless across units (a feature in GWh would never split, one in mWh always would);
//     here the tolerance is 1e-7 standard deviations of the window. And it gives z-scores (standardise())
//     that an alert can carry beside the attribution.
//   - Alert threshold: the learned points' scores go into a ring of `score_history`; threshold() is their
//     (1 - contamination) quantile, never below `threshold_floor` (0.5: the score of a point no easier to
//     isolate than average, so a quiet stream cannot drive the threshold into normal data). Until the ring
//     holds ceil(1 / contamination) scores (or is full), threshold() is 1, which no score reaches. Note: with
//     LearningGuard skipping flagged points, the ring sees only unflagged scores and the threshold drifts
//     down towards the floor.
//   - Attribution: score_with_attribution() shares the isolation of x among features (FlatForest.h).
// Assumptions: numeric features of a fixed dimension (1..kMaxFeatures); the window is long enough to be
// representative of normal behaviour; anomalies are few and different (the isolation forest premise).
// Warm-up: min_points learned points (default 256). Scores 0 and warmed_up() is false until then.
// Cost per learned point: one forest walk (n_trees x depth branch-free steps, to record its score), O(dim)
// window and standardiser update, and amortised 1/rebuild_every of a tree regrowth (O(subsample x depth)).
// score() is one forest walk. score_then_learn() does both with one walk. Measured (Release, 8 features,
// defaults; bench/iforest_bench.cc, a 2-vCPU Xeon with AVX-512): ~0.8 us per score, ~1.5 us per
// score_then_learn.
// Memory: window x dim doubles + the forest (n_trees x (2 subsample - 1) x 28 bytes, ~1.4 MB at defaults)
// + 2 x score_history doubles; all allocated at construction.
// Determinism: all randomness from Xoshiro256 seeded with `seed`; its state is saved with everything else.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "detectors/iforest/FeatureVector.h"
#include "detectors/iforest/FlatForest.h"
#include "detectors/iforest/RecentScores.h"
#include "detectors/iforest/WindowStandardizer.h"
#include "detectors/iforest/Xoshiro256.h"

namespace gridsentinel::detectors {

struct StreamingIsolationForestConfig {
  uint32_t dim = 1;               // features per point, 1..kMaxFeatures
  uint32_t n_trees = 100;         // 1..4096
  uint32_t subsample = 256;       // points per tree, 2..window
  uint32_t window = 2048;         // recent points kept, up to 1 << 20
  uint32_t min_points = 256;      // warm-up; subsample..window
  uint32_t rebuild_every = 0;     // learned points between tree regrowths; 0 = max(1, window / n_trees)
  double contamination = 0.01;    // expected share of anomalies among recent scores, in (0, 0.5]
  uint32_t score_history = 2048;  // recent scores kept for threshold(), >= 1
  double threshold_floor = 0.5;   // threshold() never goes below this, in [0, 1]
  uint64_t seed = 0;
  bool operator==(const StreamingIsolationForestConfig&) const = default;
};

class StreamingIsolationForest {
 public:
  using Input = FeatureVector;
  using Config = StreamingIsolationForestConfig;

  // Throws std::invalid_argument on a configuration outside the ranges above (start-up only).
  explicit StreamingIsolationForest(const Config& cfg);

  double score(const Input& in) const { return score(in.view()); }
  double score(std::span<const double> x) const;
  // s(x), and each feature's share of the isolation of x in out[0..dim) (summing to 1; FlatForest.h says
  // how). Before warm-up or for input it cannot judge: 0, and out all zeros.
  double score_with_attribution(std::span<const double> x, std::span<double> out) const;

  void learn(const Input& in) { learn(in.view()); }
  void learn(std::span<const double> x) { (void)score_then_learn(x); }
  // score(x) followed by learn(x), with one walk through the forest instead of two.
  double score_then_learn(std::span<const double> x);
  // learn() for a point whose score(x) the caller already computed on this same state (saves a walk of every
  // tree). Passing any other value corrupts the threshold's score history.
  void learn_scored(std::span<const double> x, double score_of_x);

  // Regrows every tree from the current window (after a drift). No-op before warm-up.
  void refresh();

  bool warmed_up() const { return built_; }
  // Flag a point when its score >= threshold() (see the header comment).
  double threshold() const;
  bool is_alert(double score) const { return score >= threshold(); }
  // Per-feature z-scores of x against the window (dim values each).
  void standardise(std::span<const double> x, std::span<double> z) const;

  const Config& config() const { return cfg_; }
  uint32_t window_size() const { return count_; }
  uint64_t points_learned() const { return learned_; }
  uint32_t next_tree_to_regrow() const { return next_tree_; }
  uint32_t rebuild_every() const { return rebuild_every_; }
  const FlatForest& forest() const { return forest_; }
  const WindowStandardizer& standardizer() const { return standardizer_; }
  const RecentScores& recent_scores() const { return scores_; }

  std::string save() const;
  // Restores a state written by save(), adopting the configuration saved in it. False (and *this unchanged)
  // on malformed input.
  bool restore(std::string_view bytes);
  // The configuration a state written by save() was saved under (nothing else is read or allocated), or
  // nullopt when the bytes do not start as such a state: a caller that must keep its own configuration
  // checks it before restore().
  static std::optional<Config> saved_config(std::string_view bytes);

 private:
  bool judgeable(std::span<const double> x) const;
  double to_score(double total_path) const;
  const double* window_point(uint32_t age_rank) const;  // 0 = oldest point in the window
  void regrow(uint32_t t);
  void recompute_standardizer();

  Config cfg_;
  uint32_t rebuild_every_ = 1;
  double path_norm_ = 1.0;  // 1 / (n_trees x c(subsample))

  // State (saved).
  Xoshiro256 rng_;
  std::vector<double> window_;  // window x dim, ring
  uint32_t next_slot_ = 0;      // ring slot the next point goes to
  uint32_t count_ = 0;          // points in the window
  uint64_t learned_ = 0;
  uint32_t since_regrow_ = 0;     // learned points since the last tree regrowth
  uint32_t since_recompute_ = 0;  // learned points since the standardiser was recomputed
  uint32_t next_tree_ = 0;        // the oldest tree, regrown next
  bool built_ = false;
  WindowStandardizer standardizer_;
  RecentScores scores_;
  FlatForest forest_;

  // Scratch for regrowth (not state).
  std::vector<const double*> sample_;  // the subsample's points, in window_
  std::vector<double> tolerance_;      // dim
  std::vector<uint64_t> chosen_;       // bitmap over window slots
};

}  // namespace gridsentinel::detectors
