// Rules that judge a meter against its own past: sustained consumption drop and stuck meter.
#include <cmath>
#include <limits>

#include "detectors/rules/RuleChecks.h"

namespace gridsentinel::detectors::rules_internal {
namespace {

using gridsentinel::v1::SEVERITY_INFO;
using gridsentinel::v1::SEVERITY_WARNING;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr float kHoursCap = 1e9F;  // keeps accumulated durations finite over any lifetime
constexpr int64_t kMsPerHour = 3'600'000;

int hour_of_day(int64_t event_time_ms) {
  return static_cast<int>(((event_time_ms / kMsPerHour) % 24 + 24) % 24);
}

// Consumption on this reading, W: import power, or the register's advance per hour when power is not
// reported. NaN when neither is known.
double consumption_w(const ReadingContext& c) {
  if (c.s.has(MeterSample::kPower)) return std::max(c.s.active_power_w, 0.0);
  if (c.has_energy_delta && c.energy_delta_kwh >= 0.0 && c.gap_h > 0.0)
    return 1000.0 * c.energy_delta_kwh / c.gap_h;
  return std::nan("");
}

// Fraction of the EWMA to move towards a new value that stands for `step_h` hours.
double ewma_alpha(double step_h, double tau_h) {
  return 1.0 - std::exp(-step_h / tau_h);
}

}  // namespace

void check_consumption_drop(const ReadingContext& c, MeterRuleState& st, RuleEvaluation& out) {
  const MeterRulesConfig& cfg = c.cfg;
  const RuleType type = RuleType::kConsumptionDrop;
  const double x = consumption_w(c);
  // Net metering: an exporter's import is its consumption minus its PV output, so it is judged only in the
  // hours of the day in which it has never exported (night: import = consumption). Every other type of
  // meter is judged on every reading. The hours are learned from the meter's own export (any reading below
  // 0 W), whether or not it is an exporter yet.
  const int hour = hour_of_day(c.s.event_time_ms);
  if (c.s.has(MeterSample::kPower) && c.s.active_power_w < 0.0) st.set_exported_in_hour(hour);
  const bool pv_hour = c.exporter && st.exported_in_hour(hour);
  if (c.no_supply || std::isnan(x) || pv_hour) {
    // Not consumption: nothing learned, an open episode stays as it is. The exporter's history still ages
    // (baseline_min_hours counts hours of the meter's history, not only of its night readings).
    if (pv_hour && st.baseline_weight > 0.0F)
      st.baseline_hours = std::min(st.baseline_hours + static_cast<float>(c.step_h), kHoursCap);
    if (pv_hour && st.episode_open(type))
      st.drop_hours = std::min(st.drop_hours + static_cast<float>(c.step_h), kHoursCap);
    return;
  }

  const double fast = std::isnan(st.fast_w)
                          ? x
                          : static_cast<double>(st.fast_w) +
                                ewma_alpha(c.step_h, cfg.fast_tau_h) * (x - static_cast<double>(st.fast_w));
  st.fast_w = static_cast<float>(fast);
  const double weight = static_cast<double>(st.baseline_weight);
  const double baseline = weight > 0.0 ? static_cast<double>(st.baseline_sum_w) / weight : 0.0;
  const bool established =
      static_cast<double>(st.baseline_hours) >= cfg.baseline_min_hours && baseline >= cfg.baseline_min_w;
  const double start_level = (1.0 - cfg.drop_ratio) * baseline;
  const double end_level = (1.0 - cfg.drop_ratio + cfg.drop_end_hysteresis_ratio) * baseline;
  const bool low = established && fast < start_level;
  const bool open = st.episode_open(type);
  st.drop_run = low ? saturating_inc(st.drop_run) : uint16_t{0};
  if (open) st.drop_hours = std::min(st.drop_hours + static_cast<float>(c.step_h), kHoursCap);
  const bool adopt =
      open && cfg.drop_adopt_after_h > 0.0 && static_cast<double>(st.drop_hours) >= cfg.drop_adopt_after_h;
  const bool holds = low && (open || st.drop_run >= cfg.drop_min_readings) && !adopt;
  const double score = ramp(1.0 - fast / std::max(baseline, 1e-9), cfg.drop_ratio, 1.0, 0.5, 0.9);
  settle(
      type, holds, adopt || !established || fast >= end_level, score, st, out,
      [&] {
        Finding f = make_finding(type, EpisodePhase::kStarted, SEVERITY_WARNING, c.s.event_time_ms, score,
                                 "consumption_w.ewma_fast", fast, start_level, kInf);
        explain(f,
                "consumption %.0f W (%.0f h mean) is %.0f%% below the meter's own baseline %.0f W for %u "
                "readings",
                fast, cfg.fast_tau_h, 100.0 * (1.0 - fast / baseline), baseline,
                static_cast<unsigned>(st.drop_run));
        return f;
      },
      [&] {
        Finding f = make_finding(type, EpisodePhase::kEnded, SEVERITY_INFO, c.s.event_time_ms, 0.0,
                                 "consumption_w.ewma_fast", fast, start_level, kInf);
        if (adopt)
          explain(f, "consumption drop lasted %.0f h: %.0f W adopted as the new baseline",
                  static_cast<double>(st.drop_hours), fast);
        else
          explain(f, "consumption recovered to %.0f W against a baseline of %.0f W", fast, baseline);
        return f;
      });
  if (adopt) {
    st.baseline_sum_w = static_cast<float>(fast);
    st.baseline_weight = 1.0F;
    st.drop_run = 0;
  }
  if (!st.episode_open(type)) st.drop_hours = 0.0F;

  // The baseline learns only ordinary readings: frozen while the drop condition holds or its episode is open,
  // so that the drop it should detect does not drag it down.
  if (!low && !st.episode_open(type) && !adopt) {
    const double a = ewma_alpha(c.step_h, cfg.baseline_tau_h);
    st.baseline_sum_w = static_cast<float>((1.0 - a) * static_cast<double>(st.baseline_sum_w) + a * x);
    st.baseline_weight = static_cast<float>(std::min(1.0, (1.0 - a) * weight + a));
    st.baseline_hours = std::min(st.baseline_hours + static_cast<float>(c.step_h), kHoursCap);
  }
}

void check_stuck(const ReadingContext& c, MeterRuleState& st, RuleEvaluation& out) {
  const MeterRulesConfig& cfg = c.cfg;
  const MeterSample& s = c.s;
  const bool has_power = s.has(MeterSample::kPower);

  // The register stands still while current flows into the premises (export does not advance an import
  // register).
  const bool importing = has_power ? s.active_power_w >= 0.0 : !c.exporter;
  if (c.has_energy_delta && s.has(MeterSample::kCurrent) && s.current_a > cfg.stuck_current_a && importing &&
      c.energy_delta_kwh == 0.0) {
    const double volts = s.has(MeterSample::kVoltage) ? s.voltage_v : cfg.nominal_voltage_v;
    const double drawn_w = has_power ? s.active_power_w : volts * s.current_a;
    st.stuck_energy_run = saturating_inc(st.stuck_energy_run);
    st.unregistered_kwh += static_cast<float>(drawn_w * c.gap_h / 1000.0);
  } else {
    st.stuck_energy_run = 0;
    st.unregistered_kwh = 0.0F;
  }
  // Identical values to the last digit. Zero power (nothing switched on) and outage voltages are not
  // suspicious.
  const auto identical_run = [](bool judged, double value, float& last, uint16_t& run) {
    if (!judged) {
      run = 0;
      last = MeterRuleState::kUnknown;
      return;
    }
    const auto v = static_cast<float>(value);
    run = v == last ? saturating_inc(run) : uint16_t{1};
    last = v;
  };
  identical_run(has_power && std::abs(s.active_power_w) >= cfg.stuck_min_power_w, s.active_power_w,
                st.last_power_w, st.stuck_power_run);
  identical_run(s.has(MeterSample::kVoltage) && !c.no_supply, s.voltage_v, st.last_voltage_v,
                st.stuck_voltage_run);

  const bool energy_stuck = st.stuck_energy_run >= cfg.stuck_min_readings &&
                            static_cast<double>(st.unregistered_kwh) >= cfg.stuck_min_unregistered_kwh;
  const bool power_stuck = st.stuck_power_run >= cfg.stuck_min_readings;
  const bool voltage_stuck = st.stuck_voltage_run >= cfg.stuck_voltage_min_readings;
  const bool holds = energy_stuck || power_stuck || voltage_stuck;
  const double score = energy_stuck ? 0.8 : 0.7;
  settle(
      RuleType::kStuckMeter, holds, !holds, score, st, out,
      [&] {
        if (energy_stuck) {
          Finding f =
              make_finding(RuleType::kStuckMeter, EpisodePhase::kStarted, SEVERITY_WARNING, s.event_time_ms,
                           score, "unregistered_energy_kwh", static_cast<double>(st.unregistered_kwh), 0.0,
                           cfg.stuck_min_unregistered_kwh);
          explain(f, "register stuck at %.2f kWh for %u readings while %.1f A flowed (%.2f kWh not counted)",
                  s.energy_kwh, static_cast<unsigned>(st.stuck_energy_run), s.current_a,
                  static_cast<double>(st.unregistered_kwh));
          return f;
        }
        const bool power = power_stuck;
        const uint16_t run = power ? st.stuck_power_run : st.stuck_voltage_run;
        Finding f = make_finding(
            RuleType::kStuckMeter, EpisodePhase::kStarted, SEVERITY_WARNING, s.event_time_ms, score,
            power ? "active_power_w.identical_readings" : "voltage_v.identical_readings",
            static_cast<double>(run), 1.0,
            static_cast<double>(power ? cfg.stuck_min_readings : cfg.stuck_voltage_min_readings) - 1.0);
        if (power)
          explain(f, "active power reads %.1f W on %u consecutive readings", s.active_power_w,
                  static_cast<unsigned>(run));
        else
          explain(f, "voltage reads %.2f V on %u consecutive readings", s.voltage_v,
                  static_cast<unsigned>(run));
        return f;
      },
      [&] {
        Finding f = make_finding(RuleType::kStuckMeter, EpisodePhase::kEnded, SEVERITY_INFO, s.event_time_ms,
                                 0.0, "unregistered_energy_kwh", static_cast<double>(st.unregistered_kwh),
                                 0.0, cfg.stuck_min_unregistered_kwh);
        explain(f, "meter values move again");
        return f;
      });
}

}  // namespace gridsentinel::detectors::rules_internal
