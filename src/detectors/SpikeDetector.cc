#include "detectors/SpikeDetector.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

namespace gridsentinel::detectors {

namespace {
constexpr uint8_t kStateVersion = 3;           // 2: compact windows; 3: level, step profile
constexpr uint8_t kCompactWindowsVersion = 2;  // restorable when the step profile is off
constexpr double kStepClip = 4.0;              // a step counts at most this many bucket means

// bfloat16: the upper half of a float, rounded to nearest even; finite non-negative inputs stay finite.
uint16_t to_bfloat16(double v) {
  const float f = static_cast<float>(std::clamp(v, 0.0, 1e38));
  uint32_t u = 0;
  std::memcpy(&u, &f, sizeof u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
double from_bfloat16(uint16_t h) {
  const uint32_t u = uint32_t{h} << 16;
  float f = 0;
  std::memcpy(&f, &u, sizeof f);
  return static_cast<double>(f);
}
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
  cfg.level_points = std::min(cfg.level_points, cfg.window_points);
  cfg.daily_step_buckets = std::min<uint32_t>(cfg.daily_step_buckets, 1440);
  if (!(cfg.daily_step_period_ms > 0)) cfg.daily_step_buckets = 0;
  if (!(cfg.daily_step_factor >= 0) || !std::isfinite(cfg.daily_step_factor)) cfg.daily_step_factor = 0;
  if (!(cfg.daily_step_alpha > 0 && cfg.daily_step_alpha <= 1))
    cfg.daily_step_alpha = SpikeConfig{}.daily_step_alpha;
  return cfg;
}
}  // namespace

SpikeDetector::SpikeDetector(const SpikeConfig& cfg)
    : cfg_(intern(sanitized(cfg))), window_(cfg_->window_points), step_(cfg_->daily_step_buckets) {}

SpikeDetector::SpikeDetector(const SpikeDetector& o)
    : cfg_(o.cfg_),
      window_(o.window_),
      armed_(o.armed_),
      state_(o.state_ ? std::make_unique<Episode>(*o.state_) : nullptr),
      step_(o.step_) {}

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

double SpikeDetector::level() const {
  return cfg_->level_points == 0 ? window_.median() : window_.recent_median(cfg_->level_points);
}

size_t SpikeDetector::step_bucket(int64_t time_ms) const {
  const int64_t period = cfg_->daily_step_period_ms;
  const int64_t phase = ((time_ms % period) + period) % period;
  return static_cast<size_t>(static_cast<double>(phase) / static_cast<double>(period) *
                             static_cast<double>(step_.size())) %
         step_.size();
}

double SpikeDetector::scale_at(int64_t time_ms) const {
  double s = std::max(
      {kMadToSigma * window_.mad(), cfg_->scale_floor_abs, cfg_->scale_floor_rel * std::abs(level())});
  if (step_.size() > 0) s = std::max(s, cfg_->daily_step_factor * step_mean(step_bucket(time_ms)));
  return s;
}

double SpikeDetector::step_mean(size_t bucket) const {
  return from_bfloat16(step_[bucket]);
}

double SpikeDetector::scale() const {
  const int64_t newest = window_.newest_time_ms();
  return scale_at(newest == std::numeric_limits<int64_t>::min() ? 0 : newest);
}

double SpikeDetector::robust_z(double value, int64_t time_ms) const {
  if (!std::isfinite(value) || !warmed_up()) return 0.0;
  const double s = scale_at(time_ms);
  // Capped so that a huge value (or one whose distance overflows) still squashes to 1 rather than inf / inf.
  return s > 0 ? std::min(std::abs(value - level()) / s, kMaxStatistic) : 0.0;
}

double SpikeDetector::robust_z(double value) const {
  const int64_t newest = window_.newest_time_ms();
  return robust_z(value, newest == std::numeric_limits<int64_t>::min() ? 0 : newest);
}

double SpikeDetector::score(const Input& p) const {
  return squash(robust_z(p.value, p.time_ms), 1.0, cfg_->threshold);
}

void SpikeDetector::learn_step(int64_t time_ms, double value) {
  if (step_.size() == 0 || window_.count() == 0) return;
  if (time_ms <= window_.newest_time_ms()) return;  // out of order: no step to measure
  const double step = std::abs(value - window_.newest_value());
  const size_t b = step_bucket(time_ms);
  const double m = step_mean(b);
  step_[b] = to_bfloat16(m == 0 ? step : m + cfg_->daily_step_alpha * (std::min(step, kStepClip * m) - m));
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
    e.pending = Candidate{p.time_ms, p.value, s, level(), scale_at(p.time_ms)};
    e.later.reserve(cfg_->confirm_points);
    armed_ = false;
  }
  if (!flagged && !(state_ && state_->pending)) armed_ = true;
  // Every step is learned, flagged ones too (a profile that skipped them could never learn a time of day
  // whose normal steps exceed the threshold); the clip at kStepClip bucket means bounds what a spike adds.
  learn_step(p.time_ms, p.value);
  window_.add(p.time_ms, p.value);
}

size_t SpikeDetector::memory_bytes() const {
  return sizeof(*this) - sizeof(window_) + window_.memory_bytes() + step_.heap_bytes() +
         (state_ ? sizeof(Episode) + state_->later.capacity() * sizeof(double) : 0);
}

std::string SpikeDetector::save() const {
  StateWriter w;
  save(w);
  return w.take();
}

void SpikeDetector::save(StateWriter& w) const {
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
  for (const uint16_t m : step_) w.put(m);
}

bool SpikeDetector::restore(std::string_view bytes) {
  StateReader r(bytes);
  uint8_t version = 0, armed = 0, has_pending = 0;
  if (!r.get(version) ||
      !(version == kStateVersion || (version == kCompactWindowsVersion && step_.size() == 0)))
    return false;
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
  features::HeapArray<uint16_t> step(step_.size());
  for (uint16_t& m : step)
    if (!r.get(m) || !(from_bfloat16(m) >= 0) || !std::isfinite(from_bfloat16(m))) return false;
  if (!r.done()) return false;
  window_ = std::move(window);
  step_ = std::move(step);
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
