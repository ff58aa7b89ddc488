// Supply voltage rules: outage (interruption), sag (dip) and swell, with EN 50160 levels
// (MeterRulesConfig.h).
#include "detectors/rules/RuleChecks.h"

namespace gridsentinel::detectors::rules_internal {
namespace {

using gridsentinel::v1::SEVERITY_CRITICAL;
using gridsentinel::v1::SEVERITY_INFO;
using gridsentinel::v1::SEVERITY_WARNING;

constexpr std::string_view kVoltageFeature = "voltage_v";

}  // namespace

void check_voltage(const ReadingContext& c, MeterRuleState& st, RuleEvaluation& out) {
  if (!c.s.has(MeterSample::kVoltage)) return;  // unknown: no episode starts or ends
  const MeterRulesConfig& cfg = c.cfg;
  const double v = c.s.voltage_v;
  const double nominal = cfg.nominal_voltage_v;
  const double outage_v = cfg.outage_ratio * nominal;
  const double sag_v = cfg.sag_ratio * nominal;
  const double sag_critical_v = cfg.sag_critical_ratio * nominal;
  const double swell_v = cfg.swell_ratio * nominal;
  const double swell_critical_v = cfg.swell_critical_ratio * nominal;
  const double hysteresis_v = cfg.voltage_hysteresis_ratio * nominal;
  const int64_t t = c.s.event_time_ms;
  const double deviation_pct = 100.0 * (v - nominal) / nominal;

  // Outage: no supply and nothing drawn. Current flowing at outage voltage is the bypass rule's, not an
  // outage.
  const bool outage = c.no_supply && !c.current_without_voltage;
  settle(
      RuleType::kOutage, outage, v >= outage_v + hysteresis_v || c.current_without_voltage, 0.9, st, out,
      [&] {
        Finding f = make_finding(RuleType::kOutage, EpisodePhase::kStarted, SEVERITY_CRITICAL, t, 0.9,
                                 kVoltageFeature, v, sag_v, swell_v);
        explain(
            f,
            "supply interrupted: voltage %.1f V is below the interruption level %.1f V with no current drawn",
            v, outage_v);
        return f;
      },
      [&] {
        Finding f = make_finding(RuleType::kOutage, EpisodePhase::kEnded, SEVERITY_INFO, t, 0.0,
                                 kVoltageFeature, v, sag_v, swell_v);
        explain(f, "supply restored: voltage %.1f V", v);
        return f;
      });

  // Sag: below the dip level but above interruption (an outage still in its hysteresis band is not a sag).
  const bool sag = v < sag_v && !c.no_supply && !st.episode_open(RuleType::kOutage);
  const double depth = (nominal - v) / nominal;
  const double sag_score = depth < 1.0 - cfg.sag_critical_ratio
                               ? ramp(depth, 1.0 - cfg.sag_ratio, 1.0 - cfg.sag_critical_ratio, 0.5, 0.8)
                               : ramp(depth, 1.0 - cfg.sag_critical_ratio, 1.0 - cfg.outage_ratio, 0.8, 1.0);
  settle(
      RuleType::kVoltageSag, sag, v >= sag_v + hysteresis_v || c.no_supply, sag_score, st, out,
      [&] {
        const bool critical = v < sag_critical_v;
        Finding f = make_finding(RuleType::kVoltageSag, EpisodePhase::kStarted,
                                 critical ? SEVERITY_CRITICAL : SEVERITY_WARNING, t, sag_score,
                                 kVoltageFeature, v, sag_v, swell_v);
        explain(f, "voltage %.1f V (%+.1f%% of nominal) is below the EN 50160 dip level %.1f V%s", v,
                deviation_pct, sag_v, critical ? ", beyond the -15% limit" : "");
        return f;
      },
      [&] {
        Finding f = make_finding(RuleType::kVoltageSag, EpisodePhase::kEnded, SEVERITY_INFO, t, 0.0,
                                 kVoltageFeature, v, sag_v, swell_v);
        explain(f,
                c.no_supply ? "voltage sag turned into an interruption at %.1f V"
                            : "voltage sag ended: %.1f V is back above the dip end level",
                v);
        return f;
      });

  // Swell: above +10% of nominal.
  const double rise = (v - nominal) / nominal;
  const double swell_score =
      rise < cfg.swell_critical_ratio - 1.0
          ? ramp(rise, cfg.swell_ratio - 1.0, cfg.swell_critical_ratio - 1.0, 0.5, 0.8)
          : ramp(rise, cfg.swell_critical_ratio - 1.0, 2.0 * (cfg.swell_critical_ratio - 1.0), 0.8, 1.0);
  settle(
      RuleType::kVoltageSwell, v > swell_v, v <= swell_v - hysteresis_v, swell_score, st, out,
      [&] {
        const bool critical = v >= swell_critical_v;
        Finding f = make_finding(RuleType::kVoltageSwell, EpisodePhase::kStarted,
                                 critical ? SEVERITY_CRITICAL : SEVERITY_WARNING, t, swell_score,
                                 kVoltageFeature, v, sag_v, swell_v);
        explain(f, "voltage %.1f V (%+.1f%% of nominal) is above the EN 50160 limit %.1f V", v, deviation_pct,
                swell_v);
        return f;
      },
      [&] {
        Finding f = make_finding(RuleType::kVoltageSwell, EpisodePhase::kEnded, SEVERITY_INFO, t, 0.0,
                                 kVoltageFeature, v, sag_v, swell_v);
        explain(f, "voltage swell ended: %.1f V is back below the swell end level", v);
        return f;
      });
}

}  // namespace gridsentinel::detectors::rules_internal
