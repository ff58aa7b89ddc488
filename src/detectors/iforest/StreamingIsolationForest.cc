#include "detectors/iforest/StreamingIsolationForest.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "common/StateCodec.h"
#include "detectors/iforest/PathLength.h"

namespace gridsentinel::detectors {
namespace {

constexpr uint32_t kStateMagic = 0x46495347;  // "GSIF"
constexpr uint8_t kStateVersion = 1;
constexpr uint32_t kMaxTrees = 4096;
constexpr uint32_t kMaxWindow = 1u << 20;

bool valid_config(const StreamingIsolationForestConfig& c) {
  return c.dim >= 1 && c.dim <= kMaxFeatures && c.n_trees >= 1 && c.n_trees <= kMaxTrees && c.window >= 2 &&
         c.window <= kMaxWindow && c.subsample >= 2 && c.subsample <= c.window &&
         c.min_points >= c.subsample && c.min_points <= c.window && c.rebuild_every <= kMaxWindow &&
         c.contamination > 0.0 && c.contamination <= 0.5 && c.score_history >= 1 &&
         c.score_history <= kMaxWindow && c.threshold_floor >= 0.0 && c.threshold_floor <= 1.0 &&
         FlatForest::fits(c.n_trees, c.subsample);
}

void put_config(StateWriter& w, const StreamingIsolationForestConfig& c) {
  w.put(c.dim);
  w.put(c.n_trees);
  w.put(c.subsample);
  w.put(c.window);
  w.put(c.min_points);
  w.put(c.rebuild_every);
  w.put(c.contamination);
  w.put(c.score_history);
  w.put(c.threshold_floor);
  w.put(c.seed);
}

bool get_config(StateReader& r, StreamingIsolationForestConfig& c) {
  return r.get(c.dim) && r.get(c.n_trees) && r.get(c.subsample) && r.get(c.window) && r.get(c.min_points) &&
         r.get(c.rebuild_every) && r.get(c.contamination) && r.get(c.score_history) &&
         r.get(c.threshold_floor) && r.get(c.seed);
}

// A saved state's header: magic, version and the configuration it was saved under.
bool get_header(StateReader& r, StreamingIsolationForestConfig& c) {
  uint32_t magic = 0;
  uint8_t version = 0;
  return r.get(magic) && magic == kStateMagic && r.get(version) && version == kStateVersion &&
         get_config(r, c);
}

}  // namespace

StreamingIsolationForest::StreamingIsolationForest(const Config& cfg)
    : cfg_(cfg), rng_(cfg.seed), scores_(cfg.score_history, cfg.contamination) {
  if (!valid_config(cfg)) throw std::invalid_argument("StreamingIsolationForest: configuration out of range");
  rebuild_every_ =
      cfg.rebuild_every > 0 ? cfg.rebuild_every : std::max<uint32_t>(1, cfg.window / cfg.n_trees);
  path_norm_ = 1.0 / (static_cast<double>(cfg.n_trees) * average_path_length(cfg.subsample));
  window_.assign(size_t{cfg.window} * cfg.dim, 0.0);
  standardizer_.reset(cfg.dim);
  forest_.reset(cfg.n_trees, cfg.subsample, cfg.dim);
  sample_.assign(cfg.subsample, nullptr);
  tolerance_.assign(cfg.dim, 0.0);
  chosen_.assign((cfg.window + 63) / 64, 0);
}

bool StreamingIsolationForest::judgeable(std::span<const double> x) const {
  if (x.size() != cfg_.dim) return false;
  return std::all_of(x.begin(), x.end(), [](double v) { return std::isfinite(v); });
}

double StreamingIsolationForest::to_score(double total_path) const {
  return std::exp2(-total_path * path_norm_);
}

double StreamingIsolationForest::score(std::span<const double> x) const {
  if (!built_ || !judgeable(x)) return 0.0;
  return to_score(forest_.total_path(x.data()));
}

double StreamingIsolationForest::score_with_attribution(std::span<const double> x,
                                                        std::span<double> out) const {
  std::fill(out.begin(), out.end(), 0.0);
  if (!built_ || !judgeable(x) || out.size() < cfg_.dim) return 0.0;
  return to_score(forest_.total_path_with_credit(x.data(), out.data()));
}

double StreamingIsolationForest::score_then_learn(std::span<const double> x) {
  const double s = score(x);
  learn_scored(x, s);
  return s;
}

void StreamingIsolationForest::learn_scored(std::span<const double> x, double s) {
  if (!judgeable(x)) return;
  if (built_) scores_.push(s);
  double* slot = window_.data() + size_t{next_slot_} * cfg_.dim;
  if (count_ == cfg_.window) {
    standardizer_.remove(slot);
  } else {
    ++count_;
  }
  std::copy(x.begin(), x.end(), slot);
  standardizer_.add(slot);
  next_slot_ = (next_slot_ + 1) % cfg_.window;
  ++learned_;
  if (++since_recompute_ >= cfg_.window) recompute_standardizer();

  if (!built_) {
    if (count_ >= cfg_.min_points) refresh();
  } else if (++since_regrow_ >= rebuild_every_) {
    regrow(next_tree_);
    next_tree_ = (next_tree_ + 1) % cfg_.n_trees;
    since_regrow_ = 0;
  }
}

void StreamingIsolationForest::refresh() {
  if (count_ < cfg_.min_points) return;
  for (uint32_t t = 0; t < cfg_.n_trees; ++t) regrow(t);
  built_ = true;
  next_tree_ = 0;
  since_regrow_ = 0;
}

void StreamingIsolationForest::regrow(uint32_t t) {
  const uint32_t dim = cfg_.dim;
  for (uint32_t f = 0; f < dim; ++f)
    tolerance_[f] = FlatForest::kSklearnConstantTolerance * standardizer_.stddev(f);
  // Floyd's algorithm: a uniform subsample of window slots without replacement in O(subsample) draws. While
  // the window fills, the occupied slots are exactly [0, count_).
  std::fill(chosen_.begin(), chosen_.end(), 0);
  const uint32_t m = cfg_.subsample;
  uint32_t taken = 0;
  for (uint32_t j = count_ - m; j < count_; ++j) {
    auto pick = static_cast<uint32_t>(rng_.below(uint64_t{j} + 1));
    if ((chosen_[pick / 64] >> (pick % 64)) & 1) pick = j;
    chosen_[pick / 64] |= uint64_t{1} << (pick % 64);
    sample_[taken++] = window_.data() + size_t{pick} * dim;
  }
  forest_.grow(t, sample_.data(), m, tolerance_.data(), rng_);
}

void StreamingIsolationForest::recompute_standardizer() {
  standardizer_.reset(cfg_.dim);
  for (uint32_t i = 0; i < count_; ++i) standardizer_.add(window_point(i));
  since_recompute_ = 0;
}

const double* StreamingIsolationForest::window_point(uint32_t age_rank) const {
  const uint32_t oldest = (next_slot_ + cfg_.window - count_) % cfg_.window;
  return window_.data() + size_t{(oldest + age_rank) % cfg_.window} * cfg_.dim;
}

double StreamingIsolationForest::threshold() const {
  const auto needed = static_cast<uint32_t>(
      std::min(std::ceil(1.0 / cfg_.contamination), static_cast<double>(scores_.capacity())));
  if (scores_.size() < needed) return 1.0;
  return std::max(cfg_.threshold_floor, scores_.upper_quantile(cfg_.contamination));
}

void StreamingIsolationForest::standardise(std::span<const double> x, std::span<double> z) const {
  if (x.size() < cfg_.dim || z.size() < cfg_.dim) return;
  standardizer_.standardise(x.data(), z.data());
}

std::string StreamingIsolationForest::save() const {
  StateWriter w;
  w.put(kStateMagic);
  w.put(kStateVersion);
  put_config(w, cfg_);
  w.put(rng_.state());
  w.put(next_slot_);
  w.put(count_);
  w.put(learned_);
  w.put(since_regrow_);
  w.put(since_recompute_);
  w.put(next_tree_);
  w.put(static_cast<uint8_t>(built_));
  // Slots as they lie in the ring: which slot holds which point decides future subsamples.
  for (size_t i = 0; i < size_t{count_} * cfg_.dim; ++i) w.put(window_[i]);
  standardizer_.save(w);
  scores_.save(w);
  forest_.save(w);
  return w.take();
}

std::optional<StreamingIsolationForestConfig> StreamingIsolationForest::saved_config(std::string_view bytes) {
  StateReader r(bytes);
  Config cfg;
  if (!get_header(r, cfg)) return std::nullopt;
  return cfg;
}

bool StreamingIsolationForest::restore(std::string_view bytes) {
  StateReader r(bytes);
  Config cfg;
  if (!get_header(r, cfg) || !valid_config(cfg)) return false;

  StreamingIsolationForest s(cfg);
  Xoshiro256::State rng_state{};
  uint8_t built = 0;
  if (!r.get(rng_state) || !Xoshiro256::valid_state(rng_state)) return false;
  s.rng_.set_state(rng_state);
  if (!r.get(s.next_slot_) || !r.get(s.count_) || !r.get(s.learned_) || !r.get(s.since_regrow_) ||
      !r.get(s.since_recompute_) || !r.get(s.next_tree_) || !r.get(built) || built > 1)
    return false;
  s.built_ = built == 1;
  const bool full = s.count_ == cfg.window;
  if (s.count_ > cfg.window || s.next_slot_ >= cfg.window || (!full && s.next_slot_ != s.count_) ||
      s.learned_ < s.count_ || s.since_recompute_ >= cfg.window || s.next_tree_ >= cfg.n_trees ||
      s.since_regrow_ >= s.rebuild_every_ || s.built_ != (s.count_ >= cfg.min_points) ||
      (!s.built_ && (s.since_regrow_ != 0 || s.next_tree_ != 0)))
    return false;
  for (size_t i = 0; i < size_t{s.count_} * cfg.dim; ++i)
    if (!r.get(s.window_[i]) || !std::isfinite(s.window_[i])) return false;
  if (!s.standardizer_.restore(r, cfg.dim) || s.standardizer_.count() != s.count_) return false;
  if (!s.scores_.restore(r) || !s.forest_.restore(r, cfg.n_trees, cfg.dim)) return false;
  if (s.forest_.n_trees() != cfg.n_trees || s.forest_.max_samples() != cfg.subsample ||
      s.forest_.dim() != cfg.dim)
    return false;
  for (uint32_t t = 0; t < cfg.n_trees; ++t)
    if (s.forest_.grown(t) != s.built_ || (s.built_ && s.forest_.samples(t) != cfg.subsample)) return false;
  if (!r.done()) return false;
  *this = std::move(s);
  return true;
}

}  // namespace gridsentinel::detectors
