#include "detectors/IqrDetector.h"

#include <algorithm>
#include <cmath>
#include <variant>

namespace gridsentinel::detectors {

namespace {
constexpr uint8_t kStateVersion = 2;  // 2: compact windows
constexpr double kMaxStatistic = 1e300;

// Settings that would make the score meaningless fall back to safe values; range checks belong to the config
// loader.
IqrConfig sanitized(IqrConfig cfg) {
  cfg.min_samples = std::max<uint32_t>(cfg.min_samples, 1);
  if (!(cfg.k > 0) || !std::isfinite(cfg.k)) cfg.k = IqrConfig{}.k;
  return cfg;
}

// The window behind a Window alternative: the bucketed one is held inline, the others boxed.
template <class W>
W& unboxed(W& w) {
  return w;
}
template <class T>
T& unboxed(features::Boxed<T>& b) {
  return *b;
}
template <class T>
const T& unboxed(const features::Boxed<T>& b) {
  return *b;
}

constexpr uint8_t kKindOf[] = {2, 0, 1};  // window_.index() -> saved window kind
}  // namespace

IqrDetector::Window IqrDetector::make_window(const IqrConfig& cfg, uint64_t seed) {
  if (cfg.sketch_buckets > 0)
    return features::Boxed(
        features::SlidingQuantileSketch(cfg.window_ms, cfg.sketch_buckets, cfg.sketch_k, seed));
  if (cfg.window_ms > 0 && cfg.buckets > 0)
    return features::BucketedQuantiles(cfg.window_ms, cfg.buckets, cfg.max_points);
  return features::Boxed(features::RollingQuantiles(cfg.max_points, cfg.window_ms));
}

IqrDetector::IqrDetector(const IqrConfig& cfg, uint64_t seed)
    : cfg_(intern(sanitized(cfg))), window_(make_window(*cfg_, seed)) {}

features::Quartiles IqrDetector::quartiles() const {
  return std::visit([](const auto& w) { return unboxed(w).quartiles(); }, window_);
}

uint64_t IqrDetector::count() const {
  return std::visit([](const auto& w) -> uint64_t { return unboxed(w).count(); }, window_);
}

std::optional<IqrFences> IqrDetector::fences() const {
  if (!warmed_up()) return std::nullopt;
  IqrFences f;
  f.quartiles = quartiles();
  f.iqr = std::max({f.quartiles.q3 - f.quartiles.q1, cfg_->iqr_floor_abs,
                    cfg_->iqr_floor_rel * std::abs(f.quartiles.median)});
  f.lower = f.quartiles.q1 - cfg_->k * f.iqr;
  f.upper = f.quartiles.q3 + cfg_->k * f.iqr;
  return f;
}

double IqrDetector::distance(double value) const {
  if (!std::isfinite(value)) return 0.0;
  const auto f = fences();
  if (!f || !(f->iqr > 0)) return 0.0;  // a zero or negative floor configured: nothing to measure with
  // Capped so that a huge value (or one whose distance overflows) still squashes to 1 rather than inf / inf.
  if (value > f->quartiles.q3) return std::min((value - f->quartiles.q3) / f->iqr, kMaxStatistic);
  if (value < f->quartiles.q1) return std::min((f->quartiles.q1 - value) / f->iqr, kMaxStatistic);
  return 0.0;
}

double IqrDetector::score(const Input& p) const {
  return squash(distance(p.value), 0.0, cfg_->k);
}

void IqrDetector::learn(const Input& p) {
  std::visit([&](auto& w) { unboxed(w).add(p.time_ms, p.value); }, window_);
}

size_t IqrDetector::memory_bytes() const {
  // The bucketed window's object is inside this one; the boxed ones are not.
  const size_t inline_part = bucketed() ? sizeof(features::BucketedQuantiles) : 0;
  return sizeof(*this) - inline_part +
         std::visit([](const auto& w) -> size_t { return unboxed(w).memory_bytes(); }, window_);
}

// Layout: version, window kind (0 exact, 1 sketched, 2 bucketed), the window's own state.
std::string IqrDetector::save() const {
  StateWriter w;
  save(w);
  return w.take();
}

void IqrDetector::save(StateWriter& w) const {
  w.put(kStateVersion);
  w.put<uint8_t>(kKindOf[window_.index()]);
  std::visit([&](const auto& win) { unboxed(win).save(w); }, window_);
}

bool IqrDetector::restore(std::string_view bytes) {
  StateReader r(bytes);
  uint8_t version = 0, kind = 0;
  if (!r.get(version) || version != kStateVersion || !r.get(kind)) return false;
  if (kind != kKindOf[window_.index()]) return false;
  Window next = window_;
  const bool ok = std::visit([&](auto& w) { return unboxed(w).restore(r); }, next);
  if (!ok || !r.done()) return false;
  window_ = std::move(next);
  return true;
}

}  // namespace gridsentinel::detectors
