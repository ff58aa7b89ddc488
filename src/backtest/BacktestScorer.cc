#include "backtest/BacktestScorer.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>

namespace gridsentinel::backtest {

namespace {

constexpr uint32_t kForestDim = 5;
constexpr int64_t kDefaultStepMs = 5LL * 60 * 1000;
constexpr double kFeatureClip = 1e6;

detectors::StreamingIsolationForestConfig forest_config(const BacktestScorerConfig& c) {
  detectors::StreamingIsolationForestConfig f;
  f.dim = kForestDim;
  f.n_trees = c.forest_trees;
  f.subsample = c.forest_subsample;
  f.window = c.forest_window;
  f.min_points = c.forest_min_points;
  f.seed = c.seed;
  return f;
}

// A window of at least `min_steps` typical steps, split into `buckets` equal buckets of >= 1 ms.
int64_t stretched(int64_t window_ms, int64_t step_ms, uint32_t min_steps, uint32_t buckets) {
  const int64_t w = std::max(window_ms, step_ms * static_cast<int64_t>(min_steps));
  const int64_t b = std::max<int64_t>(1, w / buckets);
  return b * buckets;
}

detectors::KnnCadConfig knn_config(const BacktestScorerConfig& c, uint32_t dim) {
  detectors::KnnCadConfig k;
  k.dim = dim;
  k.k = c.knn_k;
  k.train_points = c.knn_train;
  k.centered = true;
  return k;
}

// Monotone map putting `pivot` at 0.5: u = (1 - pivot) / (1 - raw), score u / (1 + u).
double pivot_map(double raw, double pivot) {
  if (!(pivot > 0 && pivot < 1)) return raw;
  if (raw >= 1.0) return 1.0;
  const double u = (1.0 - pivot) / (1.0 - raw);
  return u / (1.0 + u);
}

double clip(double x) {
  if (!std::isfinite(x)) return 0.0;
  return std::clamp(x, -kFeatureClip, kFeatureClip);
}

}  // namespace

BacktestScorer::BacktestScorer(const BacktestScorerConfig& cfg) : cfg_(cfg), forest_(forest_config(cfg)) {
  if (cfg_.step_estimate_rows < 2) throw std::invalid_argument("step_estimate_rows must be >= 2");
  if (cfg_.short_window_ms <= 0 || cfg_.long_window_ms <= 0)
    throw std::invalid_argument("windows must be positive");
  if (!(cfg_.forest_half > 0.5 && cfg_.forest_half < 1.0))
    throw std::invalid_argument("forest_half must be in (0.5, 1)");
  if (!(cfg_.episode_steps >= 0) || !(cfg_.repeat_factor >= 0 && cfg_.repeat_factor <= 1))
    throw std::invalid_argument("episode_steps >= 0 and repeat_factor in [0, 1] required");
  if (cfg_.combine < 0 || cfg_.combine > 2) throw std::invalid_argument("combine must be 0, 1 or 2");
  if (!(cfg_.episode_floor > 0)) throw std::invalid_argument("episode_floor must be > 0");
  if (cfg_.combine == 2) {
    if (cfg_.knn_dims.empty()) throw std::invalid_argument("knn_dims must not be empty");
    for (uint32_t d : cfg_.knn_dims) knn_.emplace_back(knn_config(cfg_, d), cfg_.seed);  // validates
  }
  pending_.reserve(cfg_.step_estimate_rows);
  if (cfg_.combine != 2 && cfg_.calibration_points > 0)
    history_.assign(5, features::RollingQuantiles(cfg_.calibration_points, 0));
}

void BacktestScorer::build_detectors() {
  // Median positive step of the buffered rows; the default when there is none.
  std::vector<int64_t> steps;
  for (size_t i = 1; i < pending_.size(); ++i) {
    const int64_t d = pending_[i].first - pending_[i - 1].first;
    if (d > 0) steps.push_back(d);
  }
  step_ms_ = kDefaultStepMs;
  if (!steps.empty()) {
    std::nth_element(steps.begin(), steps.begin() + static_cast<std::ptrdiff_t>(steps.size() / 2),
                     steps.end());
    step_ms_ = steps[steps.size() / 2];
  }
  if (cfg_.combine == 2) return;  // the k-NN detectors need no time scale
  constexpr uint32_t kShortBuckets = 12, kLongBuckets = 24;
  detectors::ZScoreConfig zs;
  zs.window_ms = stretched(cfg_.short_window_ms, step_ms_, cfg_.min_window_steps, kShortBuckets);
  zs.buckets = kShortBuckets;
  zs.min_samples = std::max<uint32_t>(4, cfg_.min_window_steps / 2);
  zs.threshold = cfg_.z_short_threshold;
  zs.std_floor_rel = 0.001;
  detectors::ZScoreConfig zl = zs;
  zl.window_ms = stretched(cfg_.long_window_ms, step_ms_, cfg_.min_window_steps, kLongBuckets);
  zl.buckets = kLongBuckets;
  zl.min_samples = std::max<uint32_t>(16, cfg_.min_window_steps);
  zl.threshold = cfg_.z_long_threshold;
  z_short_.emplace(zs);
  z_long_.emplace(zl);

  detectors::IqrConfig iq;
  iq.window_ms = 0;  // count only: the last iqr_points rows
  iq.max_points = cfg_.iqr_points;
  iq.min_samples = 16;
  iq.k = cfg_.iqr_k;
  iq.iqr_floor_rel = 0.001;
  iqr_.emplace(iq, cfg_.seed);

  detectors::SpikeConfig sp;
  sp.window_points = cfg_.spike_points;
  sp.min_samples = std::min<uint32_t>(15, cfg_.spike_points);
  sp.threshold = cfg_.spike_threshold;
  spike_.emplace(sp);
}

double BacktestScorer::step(int64_t time_ms, double value) {
  if (!std::isfinite(value)) {
    last_ = {};
    return 0.0;
  }
  if (step_ms_ == 0) {
    pending_.emplace_back(time_ms, value);
    if (pending_.size() < cfg_.step_estimate_rows) {
      last_ = {};
      return 0.0;
    }
    build_detectors();
    for (size_t i = 0; i + 1 < pending_.size(); ++i)
      (void)score_and_learn(pending_[i].first, pending_[i].second, false);
    pending_.clear();
    pending_.shrink_to_fit();
  }
  return score_and_learn(time_ms, value, true);
}

double BacktestScorer::score_and_learn(int64_t time_ms, double value, bool emit) {
  const detectors::Point p{time_ms, value};
  BacktestComponents c;
  if (cfg_.combine == 2) {
    score_knn(p, c);
  } else {
    score_components(p, c);
  }
  if (!std::isfinite(c.raw)) c.raw = 0.0;
  c.raw = std::clamp(c.raw, 0.0, 1.0);
  last_ = c;
  return emit_episode(time_ms, c.raw, emit);
}

void BacktestScorer::score_knn(const detectors::Point& p, BacktestComponents& c) {
  // Every detector scores and learns every row; the raw score is the mean of the conformal ranks.
  double sum = 0;
  for (auto& d : knn_) sum += d.score_and_learn(p);
  c.knn = sum / static_cast<double>(knn_.size());
  c.raw = pivot_map(c.knn, cfg_.output_pivot);
}

void BacktestScorer::score_components(const detectors::Point& p, BacktestComponents& c) {
  const int64_t time_ms = p.time_ms;
  const double value = p.value;
  c.z_short = z_short_->score(p);
  c.z_long = z_long_->score(p);
  c.iqr = iqr_->score(p);
  c.spike = spike_->score(p);

  // The forest's vector: the same statistics, signed, at several scales.
  std::array<double, kForestDim> x{};
  x[0] = clip(z_short_->signed_z(value));
  x[1] = clip(z_long_->signed_z(value));
  const double scale = spike_->scale();
  x[2] = spike_->warmed_up() && scale > 0 ? clip((value - spike_->level()) / scale) : 0.0;
  const auto ls = z_long_->stats();
  const double lsd = std::max({std::isfinite(ls.stddev) ? ls.stddev : 0.0, 1e-9,
                               std::isfinite(ls.mean) ? 0.001 * std::abs(ls.mean) : 0.0});
  x[3] = has_prev_ ? clip((value - prev_value_) / lsd) : 0.0;
  x[4] = clip(iqr_->distance(value));
  const bool forest_ready = forest_.warmed_up() && z_long_->warmed_up() && spike_->warmed_up();
  if (forest_ready) c.forest = detectors::squash(forest_.score(x), 0.5, cfg_.forest_half);

  // "Flagged" (the learning policy) is decided on the detectors' own alert levels, before calibration.
  const double alert = std::max({c.z_short, c.z_long, c.iqr, c.spike, c.forest});
  if (!history_.empty()) {
    // Each component as its rank among its own recent values (before learning this one).
    std::array<double*, 5> comps{&c.z_short, &c.z_long, &c.iqr, &c.spike, &c.forest};
    for (size_t k = 0; k < comps.size(); ++k) {
      const double v = *comps[k];
      const auto sorted = history_[k].sorted();
      double rank = 0.0;
      if (!sorted.empty()) {
        const auto n = static_cast<double>(sorted.size());
        rank = static_cast<double>(std::lower_bound(sorted.begin(), sorted.end(), v) - sorted.begin()) / n;
        // Beyond the largest value seen: between 1 - 1/n and 1, ordered by how far beyond.
        if (v > sorted.back() && sorted.back() > 0) rank = 1.0 - (sorted.back() / v) / n;
      }
      (void)history_[k].add(time_ms, v);
      *comps[k] = v > 0 ? rank : 0.0;
    }
  }
  if (cfg_.combine == 1) {
    const auto& w = cfg_.weights;
    const double total = w[0] + w[1] + w[2] + w[3] + w[4];
    c.raw =
        total > 0
            ? (w[0] * c.z_short + w[1] * c.z_long + w[2] * c.iqr + w[3] * c.spike + w[4] * c.forest) / total
            : 0.0;
  } else {
    c.raw = std::max({c.z_short, c.z_long, c.iqr, c.spike, c.forest});
  }
  if (cfg_.calibration_points > 0) c.raw = pivot_map(c.raw, cfg_.output_pivot);

  // Learn (prequential), with the skip-flagged policy.
  const bool flagged = std::isfinite(alert) && alert >= cfg_.policy.threshold;
  const bool learn = guard_.should_learn(flagged, cfg_.policy);
  if (learn) {
    z_short_->learn(p);
    z_long_->learn(p);
    iqr_->learn(p);
  }
  spike_->learn(p);
  if (z_long_->warmed_up() && spike_->warmed_up() && (learn || !forest_.warmed_up())) forest_.learn(x);
  prev_value_ = value;
  has_prev_ = true;
}

double BacktestScorer::emit_episode(int64_t time_ms, double raw, bool emit) {
  // One alarm per episode: the output is the raw score only where it beats the recent raw scores and those
  // stayed below the alert level.
  const auto span = static_cast<int64_t>(cfg_.episode_steps * static_cast<double>(step_ms_));
  while (!recent_raw_.empty() && recent_raw_.front().first < time_ms - span) recent_raw_.pop_front();
  const double recent_max = recent_raw_.empty() ? 0.0 : recent_raw_.front().second;
  while (!recent_raw_.empty() && recent_raw_.back().second <= raw) recent_raw_.pop_back();
  recent_raw_.emplace_back(time_ms, raw);
  if (!emit) return 0.0;
  return raw > recent_max && recent_max < cfg_.episode_floor ? raw : raw * cfg_.repeat_factor;
}

std::vector<double> backtest_score_series(std::span<const int64_t> timestamps_ms,
                                          std::span<const double> values, const BacktestScorerConfig& cfg) {
  BacktestScorer scorer(cfg);
  std::vector<double> out(std::min(timestamps_ms.size(), values.size()));
  for (size_t i = 0; i < out.size(); ++i) out[i] = scorer.step(timestamps_ms[i], values[i]);
  return out;
}

}  // namespace gridsentinel::backtest
