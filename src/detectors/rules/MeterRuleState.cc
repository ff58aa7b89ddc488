#include "detectors/rules/MeterRuleState.h"

#include <cmath>

namespace gridsentinel::detectors {
namespace {

// Non-negative and finite: accumulators and durations.
bool non_negative(float v) {
  return std::isfinite(v) && v >= 0.0F;
}
// Finite or NaN (= unknown), never infinite.
bool finite_or_unknown(double v) {
  return !std::isinf(v);
}

// The rules never open a missing_readings episode: that one belongs to SilenceTracker.
constexpr uint16_t kRuleEpisodeBits = static_cast<uint16_t>((1u << index(RuleType::kMissingReadings)) - 1u);
constexpr uint8_t kKnownFlags = MeterRuleState::kLearnedExporter;

}  // namespace

void encode(const MeterRuleState& s, StateWriter& w) {
  w.put(s.last_time_ms);
  w.put(s.last_energy_kwh);
  for (float v : {s.baseline_sum_w, s.baseline_weight, s.fast_w, s.baseline_hours, s.age_hours, s.drop_hours,
                  s.last_voltage_v, s.last_power_w, s.unregistered_kwh, s.window_expected_kwh,
                  s.window_measured_kwh, s.window_hours, s.register_shortfall})
    w.put(v);
  w.put(s.readings);
  for (uint16_t v : {s.drop_run, s.stuck_energy_run, s.stuck_power_run, s.stuck_voltage_run,
                     s.export_readings, s.episodes})
    w.put(v);
  w.put(s.flags);
  for (uint8_t v : s.export_hours) w.put(v);
}

bool decode(StateReader& r, MeterRuleState& out) {
  MeterRuleState s;
  r.get(s.last_time_ms);
  r.get(s.last_energy_kwh);
  for (float* v : {&s.baseline_sum_w, &s.baseline_weight, &s.fast_w, &s.baseline_hours, &s.age_hours,
                   &s.drop_hours, &s.last_voltage_v, &s.last_power_w, &s.unregistered_kwh,
                   &s.window_expected_kwh, &s.window_measured_kwh, &s.window_hours, &s.register_shortfall})
    r.get(*v);
  r.get(s.readings);
  for (uint16_t* v : {&s.drop_run, &s.stuck_energy_run, &s.stuck_power_run, &s.stuck_voltage_run,
                      &s.export_readings, &s.episodes})
    r.get(*v);
  r.get(s.flags);
  for (uint8_t& v : s.export_hours) r.get(v);
  if (!r.ok()) return false;

  const bool valid = non_negative(s.baseline_sum_w) && non_negative(s.baseline_weight) &&
                     s.baseline_weight <= 1.0F && finite_or_unknown(s.fast_w) && !(s.fast_w < 0.0F) &&
                     non_negative(s.baseline_hours) && non_negative(s.age_hours) &&
                     non_negative(s.drop_hours) && finite_or_unknown(s.last_voltage_v) &&
                     finite_or_unknown(s.last_power_w) && finite_or_unknown(s.last_energy_kwh) &&
                     non_negative(s.unregistered_kwh) && non_negative(s.window_expected_kwh) &&
                     non_negative(s.window_measured_kwh) && non_negative(s.window_hours) &&
                     non_negative(s.register_shortfall) && s.register_shortfall <= 1.0F &&
                     (s.episodes & ~kRuleEpisodeBits) == 0 && (s.flags & ~kKnownFlags) == 0 &&
                     (s.readings == 0) == (s.last_time_ms == MeterRuleState::kNoReading);
  if (!valid) return false;
  out = s;
  return true;
}

}  // namespace gridsentinel::detectors
