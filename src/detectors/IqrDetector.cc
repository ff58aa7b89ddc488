#include "detectors/IqrDetector.h"

#include <algorithm>
#include <cmath>

namespace gridsentinel::detectors {

namespace {
constexpr uint8_t kStateVersion = 1;
constexpr double kMaxStatistic = 1e300;

std::variant<features::RollingQuantiles, features::SlidingQuantileSketch> make_window(const IqrConfig& cfg,
                                                                                      uint64_t seed) {
  if (cfg.sketch_buckets == 0) return features::RollingQuantiles(cfg.max_points, cfg.window_ms);
  return features::SlidingQuantileSketch(cfg.window_ms, cfg.sketch_buckets, cfg.sketch_k, seed);
}

// Settings that would make the score meaningless fall back to safe values; range checks belong to the config
// loader.
IqrConfig sanitized(IqrConfig cfg) {
  cfg.min_samples = std::max<uint32_t>(cfg.min_samples, 1);
  if (!(cfg.k > 0) || !std::isfinite(cfg.k)) cfg.k = IqrConfig{}.k;
  return cfg;
}
}  // namespace

IqrDetector::IqrDetector(const IqrConfig& cfg, uint64_t seed)
    : cfg_(sanitized(cfg)), window_(make_window(cfg_, seed)) {}

features::Quartiles IqrDetector::quartiles() const {
  if (const auto* exact = std::get_if<features::RollingQuantiles>(&window_)) return exact->quartiles();
  return std::get<features::SlidingQuantileSketch>(window_).quartiles();
}

std::optional<IqrFences> IqrDetector::fences() const {
  if (!warmed_up()) return std::nullopt;
  IqrFences f;
  f.quartiles = quartiles();
  f.iqr = std::max({f.quartiles.q3 - f.quartiles.q1, cfg_.iqr_floor_abs,
                    cfg_.iqr_floor_rel * std::abs(f.quartiles.median)});
  f.lower = f.quartiles.q1 - cfg_.k * f.iqr;
  f.upper = f.quartiles.q3 + cfg_.k * f.iqr;
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
  return squash(distance(p.value), 0.0, cfg_.k);
}

void IqrDetector::learn(const Input& p) {
  std::visit([&](auto& w) { w.add(p.time_ms, p.value); }, window_);
}

size_t IqrDetector::memory_bytes() const {
  return sizeof(*this) - sizeof(window_) +
         std::visit([](const auto& w) { return w.memory_bytes(); }, window_);
}

std::string IqrDetector::save() const {
  StateWriter w;
  w.put(kStateVersion);
  w.put<uint8_t>(sketched() ? 1 : 0);
  std::visit([&](const auto& window) { window.save(w); }, window_);
  return w.take();
}

bool IqrDetector::restore(std::string_view bytes) {
  StateReader r(bytes);
  uint8_t version = 0, sketched_state = 0;
  if (!r.get(version) || version != kStateVersion || !r.get(sketched_state)) return false;
  if (sketched_state != (sketched() ? 1 : 0)) return false;
  auto next = window_;
  const bool ok = std::visit([&](auto& window) { return window.restore(r); }, next);
  if (!ok || !r.done()) return false;
  window_ = std::move(next);
  return true;
}

}  // namespace gridsentinel::detectors
