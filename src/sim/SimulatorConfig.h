#pragma once
// Configuration of FleetSimulator. Every field has a working default; validate() checks the limits in one
// place and throws std::invalid_argument naming the field (start-up only).
#include <array>
#include <cstdint>
#include <vector>

#include "sim/InjectedAnomaly.h"

namespace gridsentinel::sim {

struct SimulatorConfig {
  static constexpr uint32_t kMaxMeters = 10'000'000;
  static constexpr uint64_t kMaxTicks = 0xFFFFFFF0ULL;  // tick indices are 32-bit in the per-meter state

  uint64_t seed = 1;
  uint32_t num_meters = 1000;             // ids "MTR-000001" .. (at least 6 digits)
  int64_t start_time_ms = 1704067200000;  // event time of the first tick (2024-01-01T00:00:00Z)
  uint32_t interval_s = 900;              // reading interval; event times are start_time_ms + k * interval
  uint64_t max_ticks = 0;                 // ticks to produce; 0 = until the caller stops (up to kMaxTicks)
  int32_t utc_offset_minutes = 0;         // local time of the fleet, for the daily shapes (no DST)

  // Fleet shape.
  uint32_t min_meters_per_transformer = 20;  // consecutive meters share a transformer ("TX-00001"); the last
  uint32_t max_meters_per_transformer = 50;  // transformer takes the remainder
  double exporter_fraction = 0.05;           // prosumers with rooftop PV; see FleetSimulator::is_exporter
  double median_mean_load_w = 550.0;         // per-meter mean load is lognormal(median, sigma)
  double mean_load_sigma = 0.3;              // 90% of meters between ~340 and ~900 W
  bool weekend_profile = true;               // Saturdays and Sundays (local) use the weekend shape

  // Random injections: a Poisson process per meter (exponential waiting times, restarted after each anomaly
  // plus min_gap_readings), so anomalies never overlap on a meter. None starts before warmup_ms has passed,
  // and in a bounded run none runs past the last tick.
  double anomalies_per_meter_day = 0.01;
  std::array<double, kMeterAnomalyTypeCount> type_weights = {1, 1, 1, 1, 1,
                                                             1, 1, 1, 1, 1};  // by MeterAnomalyType
  int64_t warmup_ms = 2 * 86'400'000LL;
  uint32_t min_gap_readings = 8;

  // Explicit injections, on top of the random ones (set anomalies_per_meter_day = 0 for a schedule alone).
  // They must not overlap each other on a meter; random ones keep min_gap_readings away from them. The
  // warm-up does not apply to them.
  std::vector<ScheduledAnomaly> schedule;

  // Throws std::invalid_argument on the first bad field.
  void validate() const;
};

}  // namespace gridsentinel::sim
