#include "detectors/rules/MeterRules.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <utility>

#include "detectors/rules/RuleChecks.h"

namespace gridsentinel::detectors {

using rules_internal::ReadingContext;

MeterRules::MeterRules(MeterRulesConfig cfg) : cfg_(std::move(cfg)) {
  if (const std::string err = cfg_.validate(); !err.empty())
    throw std::invalid_argument("meter rules config: " + err);
}

bool MeterRules::declared_exporter(std::string_view meter_id) const {
  if (cfg_.meters_export_by_default) return true;
  return std::any_of(cfg_.exporting_meter_prefixes.begin(), cfg_.exporting_meter_prefixes.end(),
                     [&](const std::string& p) { return meter_id.starts_with(p); });
}

MeterSample MeterRules::sample(const gridsentinel::v1::MeterReading& r) const {
  MeterSample s;
  s.event_time_ms = r.event_time_ms();
  if (r.has_voltage_v()) {
    s.voltage_v = r.voltage_v();
    s.present |= MeterSample::kVoltage;
  }
  if (r.has_current_a()) {
    s.current_a = r.current_a();
    s.present |= MeterSample::kCurrent;
  }
  if (r.has_active_power_w()) {
    s.active_power_w = r.active_power_w();
    s.present |= MeterSample::kPower;
  }
  if (r.has_energy_kwh()) {
    s.energy_kwh = r.energy_kwh();
    s.present |= MeterSample::kEnergy;
  }
  s.status_flags = r.status_flags();
  s.interval_s = r.has_interval_s() ? r.interval_s() : 0;
  s.may_export = declared_exporter(r.meter_id());
  return s;
}

RuleEvaluation MeterRules::evaluate(const MeterSample& s, MeterRuleState& st) const {
  RuleEvaluation out;
  if (!s.is_finite()) {
    out.status = RuleEvaluation::Status::kNonFinite;
    return out;
  }
  if (st.readings > 0 && s.event_time_ms <= st.last_time_ms) {
    out.status = RuleEvaluation::Status::kLate;
    return out;
  }
  ReadingContext c = rules_internal::make_context(cfg_, s, st);
  rules_internal::check_voltage(c, st, out);
  rules_internal::check_reverse_flow(c, st, out);
  rules_internal::check_bypass(c, st, out);
  rules_internal::check_tamper(c, st, out);
  rules_internal::check_consumption_drop(c, st, out);
  rules_internal::check_stuck(c, st, out);

  // Remember what the next reading is compared with.
  if (!c.first) st.age_hours = std::min(st.age_hours + static_cast<float>(c.gap_h), 1e9F);
  st.last_time_ms = s.event_time_ms;
  st.last_energy_kwh = s.has(MeterSample::kEnergy) ? s.energy_kwh : std::nan("");
  if (st.readings < UINT32_MAX) ++st.readings;
  out.score = static_cast<double>(*std::max_element(out.type_scores.begin(), out.type_scores.end()));
  return out;
}

namespace rules_internal {

ReadingContext make_context(const MeterRulesConfig& cfg, const MeterSample& s, const MeterRuleState& st) {
  ReadingContext c{.cfg = cfg, .s = s};
  constexpr double kMsPerHour = 3'600'000.0;
  const double interval_h = (s.interval_s > 0 ? s.interval_s : cfg.default_interval_s) / 3600.0;
  c.first = st.readings == 0;
  if (c.first) {
    c.step_h = interval_h;
  } else {
    // event_time_ms > last_time_ms here; unsigned arithmetic so that no pair of event times can overflow.
    c.gap_h =
        static_cast<double>(static_cast<uint64_t>(s.event_time_ms) - static_cast<uint64_t>(st.last_time_ms)) /
        kMsPerHour;
    c.step_h = std::min(c.gap_h, interval_h);
    c.contiguous = c.gap_h <= interval_h * cfg.contiguous_gap_factor;
  }
  if (c.contiguous && s.has(MeterSample::kEnergy) && !std::isnan(st.last_energy_kwh)) {
    c.has_energy_delta = true;
    c.energy_delta_kwh = s.energy_kwh - st.last_energy_kwh;
  }
  c.exporter = s.may_export || st.has_flag(MeterRuleState::kLearnedExporter);
  c.commissioning =
      cfg.learn_exporters && static_cast<double>(st.age_hours) + c.gap_h < cfg.exporter_learning_h;
  c.no_supply = s.has(MeterSample::kVoltage) && s.voltage_v < cfg.outage_ratio * cfg.nominal_voltage_v;
  c.current_without_voltage =
      c.no_supply && s.has(MeterSample::kCurrent) && s.current_a > cfg.bypass_current_a;
  return c;
}

Finding make_finding(RuleType type, EpisodePhase phase, gridsentinel::v1::Severity severity, int64_t time_ms,
                     double score, std::string_view feature, double observed, double expected_low,
                     double expected_high) {
  Finding f;
  f.type = type;
  f.phase = phase;
  f.severity = severity;
  f.event_time_ms = time_ms;
  f.score = score;
  f.feature = feature;
  f.observed = observed;
  f.expected_low = expected_low;
  f.expected_high = expected_high;
  return f;
}

void explain(Finding& f, const char* format, ...) {
  va_list args;
  va_start(args, format);
  std::vsnprintf(f.explanation.data(), f.explanation.size(), format, args);
  va_end(args);
}

}  // namespace rules_internal
}  // namespace gridsentinel::detectors
