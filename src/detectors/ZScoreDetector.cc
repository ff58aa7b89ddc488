#include "detectors/ZScoreDetector.h"

#include <algorithm>
#include <cmath>

namespace gridsentinel::detectors {

namespace {
// 2: compact windows; 3: buckets without minimum and maximum (version 2 is still read: an upgrade keeps the
// state in the changelog).
constexpr uint8_t kStateVersion = 3;
constexpr uint8_t kStateVersionWithExtremes = 2;
}  // namespace

double ZScoreDetector::effective_std(const features::WindowStats& s) const {
  const double sd = std::isfinite(s.stddev) ? s.stddev : 0.0;
  return std::max({sd, cfg_->std_floor_abs, cfg_->std_floor_rel * std::abs(s.mean)});
}

double ZScoreDetector::signed_z(double value) const {
  if (!std::isfinite(value) || !warmed_up()) return 0.0;
  const auto s = window_.stats();
  return (value - s.mean) / effective_std(s);
}

double ZScoreDetector::z(double value) const {
  return std::abs(signed_z(value));
}

std::pair<double, double> ZScoreDetector::expected_range() const {
  const auto s = window_.stats();
  if (s.count == 0) return {std::nan(""), std::nan("")};
  const double half = cfg_->threshold * effective_std(s);
  return {s.mean - half, s.mean + half};
}

std::string ZScoreDetector::save() const {
  StateWriter w;
  save(w);
  return w.take();
}

void ZScoreDetector::save(StateWriter& w) const {
  w.put(kStateVersion);
  window_.save(w);
}

bool ZScoreDetector::restore(std::string_view bytes) {
  StateReader r(bytes);
  uint8_t version = 0;
  if (!r.get(version) || (version != kStateVersion && version != kStateVersionWithExtremes)) return false;
  features::RollingWindow next = window_;
  if (!next.restore(r, version == kStateVersionWithExtremes) || !r.done()) return false;
  window_ = std::move(next);
  return true;
}

}  // namespace gridsentinel::detectors
