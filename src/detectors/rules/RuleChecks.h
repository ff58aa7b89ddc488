#pragma once
// Internal to MeterRules: the per-rule checks and what they share. Not part of the public interface.
//
// Each check reads the reading through a ReadingContext (facts derived once per reading), updates its own
// part of MeterRuleState and settles its episode with `settle()`, which turns (holds, clears) into start/end
// findings.
#include <algorithm>
#include <cstdarg>
#include <cstdint>
#include <string_view>

#include "detectors/rules/MeterRuleState.h"
#include "detectors/rules/MeterRules.h"
#include "detectors/rules/MeterRulesConfig.h"
#include "detectors/rules/MeterSample.h"
#include "detectors/rules/RuleFinding.h"

namespace gridsentinel::detectors::rules_internal {

struct ReadingContext {
  const MeterRulesConfig& cfg;
  const MeterSample& s;
  bool first = false;             // the meter's first judged reading
  double gap_h = 0.0;             // event time since the previous reading, hours (0 on the first)
  double step_h = 0.0;            // the duration this reading stands for: min(gap, interval), hours
  bool contiguous = false;        // the previous reading is the one just before (no reading missing between)
  bool has_energy_delta = false;  // contiguous, with the register known at both readings
  double energy_delta_kwh = 0.0;  // register advance since the previous reading (when has_energy_delta)
  bool exporter = false;          // may export: declared or learned
  bool commissioning = false;     // inside the exporter-learning window
  bool no_supply = false;         // voltage known and below the interruption level
  bool current_without_voltage = false;  // no_supply while current above bypass_current_a flows
};

ReadingContext make_context(const MeterRulesConfig& cfg, const MeterSample& s, const MeterRuleState& st);

void check_voltage(const ReadingContext& c, MeterRuleState& st, RuleEvaluation& out);
void check_reverse_flow(ReadingContext& c, MeterRuleState& st, RuleEvaluation& out);  // may learn an exporter
void check_bypass(const ReadingContext& c, MeterRuleState& st, RuleEvaluation& out);
void check_tamper(const ReadingContext& c, MeterRuleState& st, RuleEvaluation& out);
void check_consumption_drop(const ReadingContext& c, MeterRuleState& st, RuleEvaluation& out);
void check_stuck(const ReadingContext& c, MeterRuleState& st, RuleEvaluation& out);

// Linear from (x0, y0) to (x1, y1), clamped to [y0, y1] outside.
inline double ramp(double x, double x0, double x1, double y0, double y1) {
  if (!(x > x0)) return y0;
  if (!(x < x1)) return y1;
  return y0 + (y1 - y0) * (x - x0) / (x1 - x0);
}

inline uint16_t saturating_inc(uint16_t v) {
  return v == UINT16_MAX ? v : static_cast<uint16_t>(v + 1);
}

// A finding with no explanation yet.
Finding make_finding(RuleType type, EpisodePhase phase, gridsentinel::v1::Severity severity, int64_t time_ms,
                     double score, std::string_view feature, double observed, double expected_low,
                     double expected_high);
// printf into the finding's explanation (truncated to its capacity; never allocates).
void explain(Finding& f, const char* format, ...) __attribute__((format(printf, 2, 3)));

// Applies one rule's verdict on this reading to its episode:
//   - `holds`: the rule's condition holds on this reading; its score is recorded in `out.type_scores`;
//   - no open episode and `holds`: the episode starts, `start()` builds the finding;
//   - open episode and `clears`: the episode ends, `end()` builds the finding.
template <class StartFn, class EndFn>
void settle(RuleType type, bool holds, bool clears, double score, MeterRuleState& st, RuleEvaluation& out,
            StartFn&& start, EndFn&& end) {
  if (holds) {
    const auto s = static_cast<float>(std::clamp(score, 0.0, 1.0));
    out.type_scores[index(type)] = std::max(out.type_scores[index(type)], s);
  }
  const bool open = st.episode_open(type);
  if (!open && holds) {
    out.findings.push(start());
    st.set_episode(type, true);
  } else if (open && clears && !holds) {
    out.findings.push(end());
    st.set_episode(type, false);
  }
}

}  // namespace gridsentinel::detectors::rules_internal
