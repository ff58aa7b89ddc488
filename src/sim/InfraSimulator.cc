#include "sim/InfraSimulator.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <utility>

#include "sim/InjectedAnomaly.h"

namespace gridsentinel::sim {
namespace {

enum Stream : uint64_t {
  kStreamTick = 11,
  kStreamSeries = 12,
  kStreamAnomalyTime = 13,
  kStreamAnomaly = 14,
};

constexpr uint64_t kMaxTicks = 0xFFFFFFF0ULL;
constexpr double kNoiseCorrelationS = 300.0;
enum Metric : size_t { kCpu = 0, kLatency = 1, kQueue = 2 };

void require(bool ok, const char* field, const char* what) {
  if (!ok) throw std::invalid_argument(std::string("infra simulator config: ") + field + " " + what);
}

}  // namespace

std::string_view to_string(InfraAnomalyType t) {
  return t == InfraAnomalyType::kSpike ? "spike" : "level_shift";
}

void InfraSimulatorConfig::validate() const {
  require(step_s >= 1 && step_s <= 3600, "step_s", "must be in [1, 3600]");
  require(max_ticks <= kMaxTicks, "max_ticks", "is too large");
  require(start_time_ms > -(1LL << 52) && start_time_ms < (1LL << 52), "start_time_ms", "is out of range");
  require(!sources.empty() && sources.size() <= 1000, "sources", "must hold 1-1000 names");
  for (const auto& s : sources)
    require(!s.empty() && s.size() <= 100, "sources", "names must be 1-100 bytes");
  require(anomalies_per_series_day >= 0.0 && anomalies_per_series_day <= 10000.0, "anomalies_per_series_day",
          "must be in [0, 10000]");
  for (double w : type_weights)
    require(w >= 0.0 && std::isfinite(w), "type_weights", "must be finite and >= 0");
  require(anomalies_per_series_day == 0.0 || type_weights[0] + type_weights[1] > 0.0, "type_weights",
          "must not all be 0 when anomalies_per_series_day > 0");
  require(warmup_ms >= 0, "warmup_ms", "must be >= 0");
  require(min_gap_samples <= 1'000'000, "min_gap_samples", "must be <= 1000000");
}

InfraSimulator::InfraSimulator(InfraSimulatorConfig config)
    : config_(std::move(config)), tick_rng_(derive_seed(config_.seed, kStreamTick)) {
  config_.validate();
  start_ms_ = config_.start_time_ms;
  step_ms_ = int64_t{config_.step_s} * 1000;
  tick_limit_ = static_cast<uint32_t>(config_.max_ticks != 0 ? config_.max_ticks : kMaxTicks);
  warmup_ticks_ = static_cast<uint32_t>(
      std::min<int64_t>((config_.warmup_ms + step_ms_ - 1) / step_ms_, static_cast<int64_t>(kMaxTicks)));
  series_.resize(config_.sources.size() * kMetrics.size());
  for (size_t k = 0; k < series_.size(); ++k) {
    SplitMix64 r(derive_seed(config_.seed, kStreamSeries, k));
    Series& s = series_[k];
    switch (k % kMetrics.size()) {
      case kCpu:
        s.base = r.uniform(0.2, 0.35);
        break;
      case kLatency:
        s.base = r.uniform(0.02, 0.05);
        break;
      default:
        s.base = r.uniform(20.0, 60.0);
        break;
    }
    s.ar = r.normal();
    s.end_tick = kNone;
    s.factor = 0.0;
    s.next_random = draw_next_random(k, warmup_ticks_);
  }
}

uint32_t InfraSimulator::draw_next_random(size_t series, uint64_t from_tick) const {
  if (config_.anomalies_per_series_day <= 0.0 || from_tick >= tick_limit_) return kNone;
  SplitMix64 r(derive_seed(config_.seed, kStreamAnomalyTime, (uint64_t{series} << 32) | from_tick));
  const double mean_wait = 86400.0 / config_.step_s / config_.anomalies_per_series_day;
  const double next = static_cast<double>(from_tick) + std::floor(r.exponential(mean_wait));
  return next >= static_cast<double>(tick_limit_) ? kNone : static_cast<uint32_t>(next);
}

void InfraSimulator::try_start(size_t series, uint32_t tick) {
  Series& s = series_[series];
  SplitMix64 r(derive_seed(config_.seed, kStreamAnomaly, (uint64_t{series} << 32) | tick));
  const double total = config_.type_weights[0] + config_.type_weights[1];
  const auto type = r.uniform() * total < config_.type_weights[0] ? InfraAnomalyType::kSpike
                                                                  : InfraAnomalyType::kLevelShift;
  const uint32_t len = type == InfraAnomalyType::kSpike ? 1 : r.uniform_int(40, 120);
  const uint64_t end = uint64_t{tick} + len - 1;
  if (end >= tick_limit_) {
    s.next_random = kNone;
    return;
  }
  const size_t metric = series % kMetrics.size();
  if (metric == kCpu) {
    s.factor = type == InfraAnomalyType::kSpike ? r.uniform(0.92, 1.0) : r.uniform(0.25, 0.4);
  } else {
    s.factor = type == InfraAnomalyType::kSpike ? r.uniform(5.0, 10.0) : r.uniform(2.0, 3.0);
  }
  s.type = type;
  s.end_tick = static_cast<uint32_t>(end);
  ground_truth_.push_back(InjectedInfraAnomaly{type, config_.sources[series / kMetrics.size()],
                                               std::string(kMetrics[metric]), start_ms_ + tick * step_ms_,
                                               start_ms_ + static_cast<int64_t>(end) * step_ms_, len});
}

bool InfraSimulator::next_tick(std::vector<gridsentinel::v1::InfraMetric>& out) {
  if (done()) {
    out.clear();
    return false;
  }
  const uint32_t t = tick_;
  const int64_t event_ms = start_ms_ + static_cast<int64_t>(t) * step_ms_;
  const double hour = static_cast<double>(((event_ms % 86'400'000) + 86'400'000) % 86'400'000) / 3.6e6;
  const double daily =
      0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * (hour - 4.0) / 24.0);  // 0 at 04:00, 1 at 16:00
  const double rho = std::exp(-static_cast<double>(config_.step_s) / kNoiseCorrelationS);
  const double innov = std::sqrt(1.0 - rho * rho);

  out.resize(series_.size());
  for (size_t k = 0; k < series_.size(); ++k) {
    Series& s = series_[k];
    s.ar = rho * s.ar + innov * tick_rng_.normal();
    const size_t metric = k % kMetrics.size();
    double value;
    switch (metric) {
      case kCpu:
        value = std::clamp(s.base + 0.2 * daily + 0.03 * s.ar, 0.01, 0.99);
        break;
      case kLatency:
        value = s.base * (1.0 + 0.5 * daily) * std::exp(0.15 * s.ar);
        break;
      default:
        value = std::max(0.0, s.base * (1.0 + 0.5 * daily) + 5.0 * s.ar);
        break;
    }
    if (s.end_tick == kNone && t == s.next_random) try_start(k, t);
    if (s.end_tick != kNone) {
      const bool spike = s.type == InfraAnomalyType::kSpike;
      if (metric == kCpu) {
        value = spike ? s.factor : std::min(value + s.factor, 0.99);
      } else {
        value = value * s.factor + (metric == kQueue ? (spike ? 50.0 : 20.0) : 0.0);
      }
      if (t == s.end_tick) {
        s.end_tick = kNone;
        s.next_random = draw_next_random(k, uint64_t{t} + 1 + config_.min_gap_samples);
      }
    }
    // Resolution: 0.01% CPU, 1 us, whole queue entries.
    if (metric == kCpu) {
      value = std::round(value * 1e4) / 1e4;
    } else if (metric == kLatency) {
      value = std::round(value * 1e6) / 1e6;
    } else {
      value = std::round(value);
    }
    gridsentinel::v1::InfraMetric& m = out[k];
    m.mutable_source()->assign(config_.sources[k / kMetrics.size()]);
    m.mutable_metric()->assign(kMetrics[metric].data(), kMetrics[metric].size());
    m.set_value(value);
    m.set_event_time_ms(event_ms);
  }
  ++tick_;
  return true;
}

void InfraSimulator::write_ground_truth_csv(std::ostream& os) const {
  write_ground_truth_csv_header(os);
  for (const auto& a : ground_truth_) {
    write_ground_truth_csv_row(os, to_string(a.type), "infra_series", a.entity_id(), a.start_event_time_ms,
                               a.end_event_time_ms, a.samples);
  }
}

}  // namespace gridsentinel::sim
