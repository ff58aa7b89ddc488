#include "detectors/IqrDetector.h"

#include <algorithm>
#include <cmath>

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
  switch (window_.index()) {
    case kBucketed:
      return std::get<kBucketed>(window_).quartiles();
    case kExact:
      return std::get<kExact>(window_)->quartiles();
    default:
      return std::get<kSketched>(window_)->quartiles();
  }
}

uint64_t IqrDetector::count() const {
  switch (window_.index()) {
    case kBucketed:
      return std::get<kBucketed>(window_).count();
    case kExact:
      return std::get<kExact>(window_)->count();
    default:
      return std::get<kSketched>(window_)->count();
  }
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
  switch (window_.index()) {
    case kBucketed:
      std::get<kBucketed>(window_).add(p.time_ms, p.value);
      break;
    case kExact:
      std::get<kExact>(window_)->add(p.time_ms, p.value);
      break;
    default:
      std::get<kSketched>(window_)->add(p.time_ms, p.value);
  }
}

size_t IqrDetector::memory_bytes() const {
  switch (window_.index()) {
    case kBucketed:
      return sizeof(*this) - sizeof(features::BucketedQuantiles) +
             std::get<kBucketed>(window_).memory_bytes();
    case kExact:
      return sizeof(*this) + std::get<kExact>(window_)->memory_bytes();
    default:
      return sizeof(*this) + std::get<kSketched>(window_)->memory_bytes();
  }
}

// Layout: version, window kind (0 exact, 1 sketched, 2 bucketed), the window's own state.
std::string IqrDetector::save() const {
  StateWriter w;
  w.put(kStateVersion);
  switch (window_.index()) {
    case kBucketed:
      w.put<uint8_t>(2);
      std::get<kBucketed>(window_).save(w);
      break;
    case kExact:
      w.put<uint8_t>(0);
      std::get<kExact>(window_)->save(w);
      break;
    default:
      w.put<uint8_t>(1);
      std::get<kSketched>(window_)->save(w);
  }
  return w.take();
}

bool IqrDetector::restore(std::string_view bytes) {
  StateReader r(bytes);
  uint8_t version = 0, kind = 0;
  if (!r.get(version) || version != kStateVersion || !r.get(kind)) return false;
  constexpr uint8_t kKindOf[] = {2, 0, 1};  // window_.index() -> saved kind
  if (kind != kKindOf[window_.index()]) return false;
  Window next = window_;
  bool ok = false;
  switch (next.index()) {
    case kBucketed:
      ok = std::get<kBucketed>(next).restore(r);
      break;
    case kExact:
      ok = std::get<kExact>(next)->restore(r);
      break;
    default:
      ok = std::get<kSketched>(next)->restore(r);
  }
  if (!ok || !r.done()) return false;
  window_ = std::move(next);
  return true;
}

}  // namespace gridsentinel::detectors
