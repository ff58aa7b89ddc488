#include "detectors/rules/MeterRulesConfig.h"

#include <cmath>

namespace gridsentinel::detectors {
namespace {

bool positive(double v) {
  return std::isfinite(v) && v > 0.0;
}

}  // namespace

std::string MeterRulesConfig::validate() const {
  if (!positive(nominal_voltage_v)) return "nominal_voltage_v must be > 0";
  if (!(positive(outage_ratio) && outage_ratio < sag_critical_ratio && sag_critical_ratio <= sag_ratio &&
        sag_ratio < 1.0 && 1.0 < swell_ratio && swell_ratio <= swell_critical_ratio &&
        std::isfinite(swell_critical_ratio)))
    return "voltage ratios must satisfy 0 < outage < sag_critical <= sag < 1 < swell <= swell_critical";
  if (!(std::isfinite(voltage_hysteresis_ratio) && voltage_hysteresis_ratio >= 0.0 &&
        outage_ratio + voltage_hysteresis_ratio < sag_ratio && sag_ratio + voltage_hysteresis_ratio < 1.0 &&
        swell_ratio - voltage_hysteresis_ratio > 1.0))
    return "voltage_hysteresis_ratio must be >= 0 and keep every end level between its start level and "
           "nominal";
  if (!positive(reverse_power_threshold_w) || !(reverse_power_critical_w >= reverse_power_threshold_w) ||
      !std::isfinite(reverse_power_critical_w))
    return "reverse_power_threshold_w must be > 0 and <= reverse_power_critical_w";
  if (exporting_meter_prefixes.size() > 64) return "exporting_meter_prefixes holds at most 64 prefixes";
  for (const auto& p : exporting_meter_prefixes)
    if (p.empty() || p.size() > 128) return "exporting_meter_prefixes entries must be 1-128 bytes";
  if (!(std::isfinite(exporter_learning_h) && exporter_learning_h >= 0.0))
    return "exporter_learning_h must be >= 0";
  if (exporter_learning_min_readings == 0 || exporter_learning_min_readings > 65535)
    return "exporter_learning_min_readings must be 1-65535";
  if (!positive(bypass_current_a)) return "bypass_current_a must be > 0";
  if (!(positive(mismatch_ratio) && mismatch_ratio < 1.0)) return "mismatch_ratio must be in (0, 1)";
  if (!positive(mismatch_window_h) || !positive(mismatch_min_expected_kwh))
    return "mismatch_window_h and mismatch_min_expected_kwh must be > 0";
  if (tamper_flag_mask == 0) return "tamper_flag_mask must name at least one flag";
  if ((tamper_warning_only_mask & ~tamper_flag_mask) != 0)
    return "tamper_warning_only_mask must be a subset of tamper_flag_mask";
  if (!positive(baseline_tau_h) || !positive(fast_tau_h) || !(fast_tau_h < baseline_tau_h))
    return "fast_tau_h and baseline_tau_h must be > 0 with fast_tau_h < baseline_tau_h";
  if (!(std::isfinite(baseline_min_hours) && baseline_min_hours >= 0.0))
    return "baseline_min_hours must be >= 0";
  if (!(std::isfinite(baseline_min_w) && baseline_min_w >= 0.0)) return "baseline_min_w must be >= 0";
  if (!(positive(drop_ratio) && drop_ratio < 1.0)) return "drop_ratio must be in (0, 1)";
  if (!(std::isfinite(drop_end_hysteresis_ratio) && drop_end_hysteresis_ratio >= 0.0 &&
        drop_end_hysteresis_ratio < drop_ratio))
    return "drop_end_hysteresis_ratio must be in [0, drop_ratio)";
  if (drop_min_readings == 0 || drop_min_readings > 65535) return "drop_min_readings must be 1-65535";
  if (!(std::isfinite(drop_adopt_after_h) && drop_adopt_after_h >= 0.0))
    return "drop_adopt_after_h must be >= 0";
  if (stuck_min_readings < 2 || stuck_min_readings > 65535 || stuck_voltage_min_readings < 2 ||
      stuck_voltage_min_readings > 65535)
    return "stuck_min_readings and stuck_voltage_min_readings must be 2-65535";
  if (!positive(stuck_current_a) || !positive(stuck_min_unregistered_kwh))
    return "stuck_current_a and stuck_min_unregistered_kwh must be > 0";
  if (!(std::isfinite(stuck_min_power_w) && stuck_min_power_w > 0.0)) return "stuck_min_power_w must be > 0";
  if (default_interval_s == 0 || default_interval_s > 86400) return "default_interval_s must be 1-86400";
  if (!(std::isfinite(contiguous_gap_factor) && contiguous_gap_factor >= 1.0))
    return "contiguous_gap_factor must be >= 1";
  return "";
}

}  // namespace gridsentinel::detectors
