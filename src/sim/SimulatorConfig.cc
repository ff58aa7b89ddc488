#include "sim/SimulatorConfig.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace gridsentinel::sim {
namespace {

void require(bool ok, const char* field, const char* what) {
  if (!ok) throw std::invalid_argument(std::string("simulator config: ") + field + " " + what);
}

}  // namespace

void SimulatorConfig::validate() const {
  require(num_meters >= 1 && num_meters <= kMaxMeters, "num_meters", "must be in [1, 10000000]");
  require(interval_s >= 1 && interval_s <= 86400, "interval_s", "must be in [1, 86400]");
  require(max_ticks <= kMaxTicks, "max_ticks", "is too large");
  require(start_time_ms > -(1LL << 52) && start_time_ms < (1LL << 52), "start_time_ms", "is out of range");
  require(utc_offset_minutes >= -1440 && utc_offset_minutes <= 1440, "utc_offset_minutes",
          "must be within a day");
  require(min_meters_per_transformer >= 1 && min_meters_per_transformer <= max_meters_per_transformer &&
              max_meters_per_transformer <= 100000,
          "min/max_meters_per_transformer", "must satisfy 1 <= min <= max <= 100000");
  require(exporter_fraction >= 0.0 && exporter_fraction <= 1.0, "exporter_fraction", "must be in [0, 1]");
  require(median_mean_load_w > 0.0 && median_mean_load_w <= 100000.0, "median_mean_load_w",
          "must be in (0, 100000]");
  require(mean_load_sigma >= 0.0 && mean_load_sigma <= 2.0, "mean_load_sigma", "must be in [0, 2]");
  require(anomalies_per_meter_day >= 0.0 && anomalies_per_meter_day <= 1000.0, "anomalies_per_meter_day",
          "must be in [0, 1000]");
  double weight_sum = 0.0;
  for (double w : type_weights) {
    require(w >= 0.0 && std::isfinite(w), "type_weights", "must be finite and >= 0");
    weight_sum += w;
  }
  require(anomalies_per_meter_day == 0.0 || weight_sum > 0.0, "type_weights",
          "must not all be 0 when anomalies_per_meter_day > 0");
  require(warmup_ms >= 0, "warmup_ms", "must be >= 0");
  require(min_gap_readings <= 1'000'000, "min_gap_readings", "must be <= 1000000");

  const int64_t interval_ms = int64_t{interval_s} * 1000;
  const uint64_t readings_per_day = (86400 + interval_s - 1) / interval_s;
  const uint64_t tick_limit = max_ticks != 0 ? max_ticks : kMaxTicks;
  for (const auto& s : schedule) {
    require(static_cast<size_t>(s.type) < kMeterAnomalyTypeCount, "schedule.type", "is unknown");
    require(s.meter_index < num_meters, "schedule.meter_index", "must be < num_meters");
    require(
        s.start_event_time_ms >= start_time_ms && (s.start_event_time_ms - start_time_ms) % interval_ms == 0,
        "schedule.start_event_time_ms", "must be start_time_ms + k * interval");
    const AnomalyLength len = anomaly_length(s.type);
    const uint64_t min_readings =
        s.type == MeterAnomalyType::kConsumptionDrop ? len.min * readings_per_day : uint64_t{len.min};
    require(s.readings >= min_readings, "schedule.readings",
            "is below the type's minimum (see anomaly_length)");
    require(len.max != 1 || s.readings == 1, "schedule.readings", "must be 1 for spike and tamper");
    const uint64_t start_tick = static_cast<uint64_t>((s.start_event_time_ms - start_time_ms) / interval_ms);
    require(start_tick + s.readings <= tick_limit, "schedule", "entry ends after the last tick");
  }
}

}  // namespace gridsentinel::sim
