// Rules on where the energy goes: reverse flow, bypass (current without voltage, register short of the power)
// and the meter's own tamper flags.
#include <cmath>
#include <cstdio>
#include <limits>

#include "detectors/rules/RuleChecks.h"

namespace gridsentinel::detectors::rules_internal {
namespace {

using gridsentinel::v1::SEVERITY_CRITICAL;
using gridsentinel::v1::SEVERITY_INFO;
using gridsentinel::v1::SEVERITY_WARNING;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr uint32_t kReverseCurrentFlag = 8;  // METER_STATUS_FLAG_REVERSE_CURRENT

// Space-separated names of the tamper bits in `bits`, into `buf`.
void flag_names(uint32_t bits, char* buf, size_t cap) {
  static constexpr struct {
    uint32_t bit;
    const char* name;
  } kNames[] = {{1, "cover_open"},      {2, "terminal_open"},      {4, "magnetic_field"},
                {8, "reverse_current"}, {16, "neutral_imbalance"}, {32, "clock_invalid"}};
  size_t used = 0;
  buf[0] = '\0';
  for (const auto& n : kNames) {
    if ((bits & n.bit) == 0 || used + 1 >= cap) continue;
    const int w = std::snprintf(buf + used, cap - used, "%s%s", used ? " " : "", n.name);
    if (w > 0) used = std::min(cap - 1, used + static_cast<size_t>(w));
  }
}

}  // namespace

void check_reverse_flow(ReadingContext& c, MeterRuleState& st, RuleEvaluation& out) {
  const MeterRulesConfig& cfg = c.cfg;
  const bool has_power = c.s.has(MeterSample::kPower);
  const double p = c.s.active_power_w;
  const bool power_export = has_power && p < -cfg.reverse_power_threshold_w;
  const bool flagged = cfg.reverse_current_flag_counts && (c.s.status_flags & kReverseCurrentFlag) != 0;
  const bool exporting = power_export || flagged;

  // Commissioning: learn whether this meter exports as part of its normal life (e.g. rooftop PV).
  if (c.commissioning && !c.exporter && exporting) {
    st.export_readings = saturating_inc(st.export_readings);
    if (st.export_readings >= cfg.exporter_learning_min_readings) {
      st.set_flag(MeterRuleState::kLearnedExporter, true);
      c.exporter = true;
    }
  }
  const bool judged = !c.exporter && !c.commissioning;
  const double export_w = has_power ? -p : 0.0;
  const double score =
      power_export
          ? (export_w < cfg.reverse_power_critical_w
                 ? ramp(export_w, cfg.reverse_power_threshold_w, cfg.reverse_power_critical_w, 0.6, 0.9)
                 : ramp(export_w, cfg.reverse_power_critical_w, 2.0 * cfg.reverse_power_critical_w, 0.9, 1.0))
          : 0.6;
  const std::string_view feature = has_power ? "active_power_w" : "status_flags";
  const double observed = has_power ? p : static_cast<double>(c.s.status_flags);
  const double low = has_power ? -cfg.reverse_power_threshold_w : 0.0;
  const double high = has_power ? kInf : 0.0;
  settle(
      RuleType::kReverseFlow, judged && exporting, !exporting || c.exporter, score, st, out,
      [&] {
        const bool critical = export_w >= cfg.reverse_power_critical_w;
        Finding f = make_finding(RuleType::kReverseFlow, EpisodePhase::kStarted,
                                 critical ? SEVERITY_CRITICAL : SEVERITY_WARNING, c.s.event_time_ms, score,
                                 feature, observed, low, high);
        if (power_export)
          explain(f, "meter exports %.0f W to the grid but is not an exporting meter", export_w);
        else
          explain(f, "meter raised its reverse-current flag but is not an exporting meter");
        return f;
      },
      [&] {
        Finding f = make_finding(RuleType::kReverseFlow, EpisodePhase::kEnded, SEVERITY_INFO,
                                 c.s.event_time_ms, 0.0, feature, observed, low, high);
        explain(f, "reverse flow ended");
        return f;
      });
}

void check_bypass(const ReadingContext& c, MeterRuleState& st, RuleEvaluation& out) {
  const MeterRulesConfig& cfg = c.cfg;
  // Energy/power comparison window: only consecutive readings, where the register's advance belongs to the
  // interval the reading's mean power describes.
  bool window_closed = false;
  double window_expected = 0.0, window_measured = 0.0;
  if (c.has_energy_delta && c.energy_delta_kwh < 0.0) {
    // The register went backwards (replacement, rollover): nothing to compare across it.
    st.window_expected_kwh = st.window_measured_kwh = st.window_hours = 0.0F;
    st.register_shortfall = 0.0F;
  } else if (c.has_energy_delta && c.s.has(MeterSample::kPower) &&
             !(c.energy_delta_kwh == 0.0 && c.s.has(MeterSample::kCurrent) &&
               c.s.current_a > cfg.stuck_current_a)) {
    // (A register standing still while current flows is the stuck-meter rule's evidence, not this window's:
    // such readings are left out, so one fault does not raise both findings.)
    st.window_expected_kwh += static_cast<float>(std::max(c.s.active_power_w, 0.0) * c.gap_h / 1000.0);
    st.window_measured_kwh += static_cast<float>(c.energy_delta_kwh);
    st.window_hours += static_cast<float>(c.gap_h);
    const double expected = static_cast<double>(st.window_expected_kwh);
    if (static_cast<double>(st.window_hours) >= cfg.mismatch_window_h &&
        expected >= cfg.mismatch_min_expected_kwh) {
      window_closed = true;
      window_expected = expected;
      window_measured = static_cast<double>(st.window_measured_kwh);
      st.register_shortfall = static_cast<float>(std::clamp(1.0 - window_measured / expected, 0.0, 1.0));
      st.window_expected_kwh = st.window_measured_kwh = st.window_hours = 0.0F;
    } else if (static_cast<double>(st.window_hours) >= 6.0 * cfg.mismatch_window_h) {
      // Too little load to judge for a long time: no evidence either way.
      st.register_shortfall = 0.0F;
      st.window_expected_kwh = st.window_measured_kwh = st.window_hours = 0.0F;
    }
  }
  // A register standing still is the stuck-meter rule's finding; do not report it twice.
  const bool short_register = static_cast<double>(st.register_shortfall) > cfg.mismatch_ratio &&
                              !st.episode_open(RuleType::kStuckMeter);
  const bool cwv = c.current_without_voltage;
  const double shortfall = static_cast<double>(st.register_shortfall);
  const double score = cwv ? 0.95 : ramp(shortfall, cfg.mismatch_ratio, 1.0, 0.6, 0.9);
  const bool holds = cwv || short_register;
  settle(
      RuleType::kBypass, holds, !holds, score, st, out,
      [&] {
        if (cwv) {
          Finding f =
              make_finding(RuleType::kBypass, EpisodePhase::kStarted, SEVERITY_CRITICAL, c.s.event_time_ms,
                           score, "current_a", c.s.current_a, 0.0, cfg.bypass_current_a);
          explain(f, "%.1f A flows while the meter sees %.1f V: current without voltage (bypass)",
                  c.s.current_a, c.s.voltage_v);
          return f;
        }
        if (window_closed) {
          Finding f = make_finding(RuleType::kBypass, EpisodePhase::kStarted, SEVERITY_WARNING,
                                   c.s.event_time_ms, score, "energy_kwh.window_delta", window_measured,
                                   (1.0 - cfg.mismatch_ratio) * window_expected, kInf);
          explain(f, "register advanced %.2f kWh while the measured power implies %.2f kWh (%.0f%% short)",
                  window_measured, window_expected, 100.0 * shortfall);
          return f;
        }
        // The verdict of an earlier window, reported once the stuck-meter episode that held it back closed.
        Finding f =
            make_finding(RuleType::kBypass, EpisodePhase::kStarted, SEVERITY_WARNING, c.s.event_time_ms,
                         score, "energy_kwh.shortfall_ratio", shortfall, 0.0, cfg.mismatch_ratio);
        explain(f, "register counts %.0f%% less energy than the measured power implies", 100.0 * shortfall);
        return f;
      },
      [&] {
        Finding f = make_finding(RuleType::kBypass, EpisodePhase::kEnded, SEVERITY_INFO, c.s.event_time_ms,
                                 0.0, "current_a", c.s.has(MeterSample::kCurrent) ? c.s.current_a : 0.0, 0.0,
                                 cfg.bypass_current_a);
        explain(f, "bypass condition cleared");
        return f;
      });
}

void check_tamper(const ReadingContext& c, MeterRuleState& st, RuleEvaluation& out) {
  const uint32_t bits = c.s.status_flags & c.cfg.tamper_flag_mask;
  const bool critical = (bits & ~c.cfg.tamper_warning_only_mask) != 0;
  const double score = critical ? 0.95 : 0.7;
  const auto flags = static_cast<double>(c.s.status_flags);
  settle(
      RuleType::kTamper, bits != 0, bits == 0, score, st, out,
      [&] {
        Finding f = make_finding(RuleType::kTamper, EpisodePhase::kStarted,
                                 critical ? SEVERITY_CRITICAL : SEVERITY_WARNING, c.s.event_time_ms, score,
                                 "status_flags", flags, 0.0, 0.0);
        char names[96];
        flag_names(bits, names, sizeof names);
        explain(f, "meter raised tamper flags: %s", names);
        return f;
      },
      [&] {
        Finding f = make_finding(RuleType::kTamper, EpisodePhase::kEnded, SEVERITY_INFO, c.s.event_time_ms,
                                 0.0, "status_flags", flags, 0.0, 0.0);
        explain(f, "tamper flags cleared");
        return f;
      });
}

}  // namespace gridsentinel::detectors::rules_internal
