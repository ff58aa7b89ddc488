#include "detectors/SpikeDetector.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace gridsentinel::detectors {

namespace {
constexpr uint8_t kStateVersion = 2;    // 2: compact windows
constexpr double kMadToSigma = 1.4826;  // 1 / Phi^-1(3/4): MAD of a normal sample estimates 0.6745 sigma
constexpr double kFlagScore = 0.5;
constexpr double kMaxStatistic = 1e300;

// Settings that would make the score meaningless fall back to safe values; range checks belong to the config
// loader.
SpikeConfig sanitized(SpikeConfig cfg) {
  cfg.window_points = std::clamp<uint32_t>(cfg.window_points, 3, features::MedianWindow::kMaxPoints);
  cfg.min_samples = std::clamp<uint32_t>(cfg.min_samples, 1, cfg.window_points);
  cfg.confirm_points = std::clamp<uint32_t>(cfg.confirm_points, 1, SpikeDetector::kMaxConfirmPoints);
  if (!(cfg.threshold > 1) || !std::isfinite(cfg.threshold)) cfg.threshold = SpikeConfig{}.threshold;
  if (!(cfg.return_fraction >= 0 && cfg.return_fraction <= 1)) cfg.return_fraction = 0;
  return cfg;
}
}  // namespace

SpikeDetector::SpikeDetector(const SpikeConfig& cfg)
    : cfg_(intern(sanitized(cfg))), window_(cfg_->window_points) {}

SpikeDetector::SpikeDetector(const SpikeDetector& o)
    : cfg_(o.cfg_),
      window_(o.window_),
      armed_(o.armed_),
      state_(o.state_ ? std::make_unique<Episode>(*o.state_) : nullptr) {}

SpikeDetector& SpikeDetector::operator=(const SpikeDetector& o) {
  if (this != &o) *this = SpikeDetector(o);
  return *this;
}

SpikeDetector::Episode& SpikeDetector::episode() {
  if (!state_) state_ = std::make_unique<Episode>();
  return *state_;
}

const std::optional<SpikeVerdict>& SpikeDetector::resolved() const {
  static const std::optional<SpikeVerdict> kNone;
  return state_ ? state_->resolved : kNone;
}

double SpikeDetector::scale() const {
  const double median = window_.median();
  return std::max(
      {kMadToSigma * window_.mad(), cfg_->scale_floor_abs, cfg_->scale_floor_rel * std::abs(median)});
}

double SpikeDetector::robust_z(double value) const {
  if (!std::isfinite(value) || !warmed_up()) return 0.0;
  const double s = scale();
  // Capped so that a huge value (or one whose distance overflows) still squashes to 1 rather than inf / inf.
  return s > 0 ? std::min(std::abs(value - window_.median()) / s, kMaxStatistic) : 0.0;
}

double SpikeDetector::score(const Input& p) const {
  return squash(robust_z(p.value), 1.0, cfg_->threshold);
}

std::optional<int64_t> SpikeDetector::pending_since_ms() const {
  if (!state_ || !state_->pending) return std::nullopt;
  return state_->pending->time_ms;
}

bool SpikeDetector::is_away(const Candidate& c, double value) const {
  return std::abs(value - c.baseline) > cfg_->return_z * c.scale;
}

SpikeVerdict SpikeDetector::resolve(const Candidate& c) const {
  // The level the confirmation ended on: the median of its last half, so a spike may last up to about half of
  // confirm_points and one stray point does not decide.
  const auto& later = state_->later;
  std::array<double, kMaxConfirmPoints> tail{};
  const size_t n = (later.size() + 1) / 2;
  std::copy(later.end() - static_cast<std::ptrdiff_t>(n), later.end(), tail.begin());
  std::sort(tail.begin(), tail.begin() + static_cast<std::ptrdiff_t>(n));
  const double level_after = n % 2 == 1 ? tail[n / 2] : 0.5 * (tail[n / 2 - 1] + tail[n / 2]);
  SpikeVerdict v;
  const bool fell_back =
      cfg_->return_fraction > 0 &&
      std::abs(level_after - c.baseline) <= cfg_->return_fraction * std::abs(c.value - c.baseline);
  v.kind = is_away(c, level_after) && !fell_back ? SpikeKind::kLevelShift : SpikeKind::kSpike;
  v.time_ms = c.time_ms;
  v.value = c.value;
  v.score = c.score;
  v.baseline = c.baseline;
  v.level_after = level_after;
  v.away_points = c.away_points;
  return v;
}

void SpikeDetector::learn(const Input& p) {
  if (!std::isfinite(p.value)) return;
  if (state_) {
    state_->resolved.reset();
    if (!state_->pending) state_.reset();
  }
  const double s = score(p);
  const bool flagged = s >= kFlagScore;
  if (state_ && state_->pending) {
    Candidate& c = *state_->pending;
    if (p.time_ms >= c.time_ms) {
      state_->later.push_back(p.value);
      if (c.still_away && is_away(c, p.value)) {
        ++c.away_points;
      } else {
        c.still_away = false;
      }
      if (state_->later.size() == cfg_->confirm_points) {
        state_->resolved = resolve(c);
        state_->pending.reset();
        std::vector<double>().swap(state_->later);
      }
    }
  } else if (flagged && armed_) {
    Episode& e = episode();
    e.pending = Candidate{p.time_ms, p.value, s, window_.median(), scale()};
    e.later.reserve(cfg_->confirm_points);
    armed_ = false;
  }
  if (!flagged && !(state_ && state_->pending)) armed_ = true;
  window_.add(p.time_ms, p.value);
}

size_t SpikeDetector::memory_bytes() const {
  return sizeof(*this) - sizeof(window_) + window_.memory_bytes() +
         (state_ ? sizeof(Episode) + state_->later.capacity() * sizeof(double) : 0);
}

std::string SpikeDetector::save() const {
  StateWriter w;
  w.put(kStateVersion);
  window_.save(w);
  w.put<uint8_t>(armed_ ? 1 : 0);
  const Candidate* pending = state_ && state_->pending ? &*state_->pending : nullptr;
  w.put<uint8_t>(pending ? 1 : 0);
  if (pending) {
    w.put(pending->time_ms);
    w.put(pending->value);
    w.put(pending->score);
    w.put(pending->baseline);
    w.put(pending->scale);
    w.put(pending->away_points);
    w.put<uint8_t>(pending->still_away ? 1 : 0);
    w.put_vector(state_->later);
  }
  return w.take();
}

bool SpikeDetector::restore(std::string_view bytes) {
  StateReader r(bytes);
  uint8_t version = 0, armed = 0, has_pending = 0;
  if (!r.get(version) || version != kStateVersion) return false;
  features::MedianWindow window = window_;
  if (!window.restore(r) || !r.get(armed) || armed > 1 || !r.get(has_pending) || has_pending > 1)
    return false;
  std::optional<Candidate> pending;
  std::vector<double> later;
  if (has_pending) {
    Candidate c;
    uint8_t still_away = 0;
    if (!r.get(c.time_ms) || !r.get(c.value) || !r.get(c.score) || !r.get(c.baseline) || !r.get(c.scale) ||
        !r.get(c.away_points) || !r.get(still_away) || still_away > 1 ||
        !r.get_vector(later, cfg_->confirm_points - 1))
      return false;
    c.still_away = still_away == 1;
    for (double x : later)
      if (!std::isfinite(x)) return false;
    if (!std::isfinite(c.value) || !std::isfinite(c.baseline) || !(c.scale > 0) || !std::isfinite(c.scale) ||
        !(c.score >= 0 && c.score <= 1) || c.away_points < 1 || c.away_points > later.size() + 1)
      return false;
    pending = c;
  }
  if (!r.done()) return false;
  window_ = std::move(window);
  armed_ = armed == 1;
  state_.reset();
  if (pending) {
    Episode& e = episode();
    e.pending = pending;
    e.later = std::move(later);
    e.later.reserve(cfg_->confirm_points);
  }
  return true;
}

}  // namespace gridsentinel::detectors
