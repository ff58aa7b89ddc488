#include "detectors/rules/FleetWatermark.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace gridsentinel::detectors {

std::string FleetWatermarkConfig::validate() const {
  if (sample_size == 0 || sample_size > (1u << 24)) return "sample_size must be 1-16777216";
  if (!(quantile >= 0.0 && quantile <= 1.0)) return "quantile must be in [0, 1]";
  if (allowed_lateness_ms < 0) return "allowed_lateness_ms must be >= 0";
  if (min_samples == 0 || min_samples > sample_size) return "min_samples must be 1-sample_size";
  return "";
}

FleetWatermark::FleetWatermark(FleetWatermarkConfig cfg) : cfg_(cfg) {
  if (const std::string err = cfg_.validate(); !err.empty())
    throw std::invalid_argument("fleet watermark config: " + err);
  ring_.resize(cfg_.sample_size);
  scratch_.reserve(cfg_.sample_size);
}

void FleetWatermark::observe(int64_t event_time_ms) {
  ring_[next_] = event_time_ms;
  next_ = next_ + 1 == ring_.size() ? 0 : next_ + 1;
  ++observed_;
}

int64_t FleetWatermark::watermark() {
  if (observed_ < cfg_.min_samples || observed_ == observed_at_last_) return watermark_;
  observed_at_last_ = observed_;
  const size_t n = static_cast<size_t>(std::min<uint64_t>(observed_, ring_.size()));
  scratch_.assign(ring_.begin(), ring_.begin() + static_cast<std::ptrdiff_t>(n));
  const auto k = static_cast<size_t>(std::floor(cfg_.quantile * static_cast<double>(n - 1)));
  std::nth_element(scratch_.begin(), scratch_.begin() + static_cast<std::ptrdiff_t>(k), scratch_.end());
  const int64_t progress = scratch_[k];
  const int64_t candidate = progress < std::numeric_limits<int64_t>::min() + cfg_.allowed_lateness_ms
                                ? kUnknown
                                : progress - cfg_.allowed_lateness_ms;
  watermark_ = std::max(watermark_, candidate);
  return watermark_;
}

}  // namespace gridsentinel::detectors
