#pragma once
// MeterRules: the smart-meter domain rules utilities run on every reading (DOMAIN.md, "What utilities look
// for"), judged against one meter's compact MeterRuleState. Thresholds and their sources: MeterRulesConfig.h.
//
// - voltage_sag, voltage_swell: EN 50160 levels around nominal; severity by depth; 2% hysteresis to end.
// - outage: voltage below the interruption level with no current drawn (distinct from a sag, which needs
//   supply above that level).
// - reverse_flow: export (P < -threshold, or the meter's REVERSE_CURRENT flag) on a meter that may not
// export:
//   not declared by prefix, not learned in its commissioning window (policy in MeterRulesConfig.h).
// - bypass: current above `bypass_current_a` while the voltage is at outage level (the voltage path is
//   bridged), or, over a window of >= 4 h and >= 3 kWh, the register advancing by less than half of
//   sum(max(P, 0) dt) (the register is cheated while the measurement still sees the load). Over-registration
//   is not judged: an import register legitimately counts more than net power on exporting meters. Readings
//   where the register stands still while current flows are the stuck rule's and are left out of the window,
//   which also means registers with coarse steps (1 kWh) are not judged by the window.
// - tamper: any MeterStatusFlag in `tamper_flag_mask`.
// - consumption_drop: a fast EWMA (8 h) of consumption below (1 - drop_ratio) x the meter's slow EWMA
//   baseline (1 week, bias-corrected) on N consecutive readings, once the baseline covers 72 h. The baseline
//   is frozen while the condition holds or an episode is open, so the drop does not teach it; a drop lasting
//   `drop_adopt_after_h` becomes the new baseline. Readings without supply are not consumption and are not
//   learned. Exporting meters are not judged (net metering hides their consumption).
// - stuck_meter: the register standing still while current flows for N readings with >= 1.5 kWh uncounted, or
//   the same power (N readings) or voltage (2N readings) to the last digit.
// - missing_readings is not judged here: silence is only visible from the fleet's progress
// (SilenceTracker.h).
//
// Episodes: each rule reports a Finding when its condition starts (phase kStarted) and one when it clears
// (kEnded); readings in between report nothing, so a condition lasting a day is one alert, not 96.
// Per-reading scores (`RuleEvaluation::type_scores`) are nonzero on every reading where a condition holds,
// for the detector contract and the risk score.
//
// Order: readings must come in event-time order per meter; a reading at or before the last judged one is not
// judged (status kLate: the pipeline's lateness handling owns reordering). A reading with a NaN or infinite
// value is malformed (status kNonFinite) and leaves the state untouched.
// Cost: O(1) per reading, no allocation, never throws. Memory: sizeof(MeterRuleState) = 88 bytes per meter.
// Pure and deterministic: no clock, no I/O; the same readings give the same findings.
#include <string_view>

#include "detectors/rules/MeterRuleState.h"
#include "detectors/rules/MeterRulesConfig.h"
#include "detectors/rules/MeterSample.h"
#include "detectors/rules/RuleFinding.h"
#include "detectors/rules/RuleType.h"
#include "gridsentinel/v1/telemetry.pb.h"

namespace gridsentinel::detectors {

struct RuleEvaluation {
  enum class Status : uint8_t {
    kJudged,     // the reading was judged and folded into the state
    kNonFinite,  // a present value was NaN or infinite: not judged, state untouched
    kLate,       // at or before the meter's last judged event time: not judged, state untouched
  };
  Status status = Status::kJudged;
  double score = 0.0;        // max of type_scores, in [0, 1]
  RuleScores type_scores{};  // per rule: its score on this reading where its condition holds, else 0
  FindingList findings;      // episode transitions on this reading
};

class MeterRules {
 public:
  // Throws std::invalid_argument when `cfg.validate()` fails (start-up only).
  explicit MeterRules(MeterRulesConfig cfg);

  // Copies the judged fields of `reading`; decides `may_export` from the meter id.
  MeterSample sample(const gridsentinel::v1::MeterReading& reading) const;
  // Whether a meter with this id is declared an exporter (fleet default or id prefix).
  bool declared_exporter(std::string_view meter_id) const;

  // Judges one reading against the meter's state and folds it in.
  RuleEvaluation evaluate(const MeterSample& s, MeterRuleState& state) const;
  RuleEvaluation evaluate(const gridsentinel::v1::MeterReading& reading, MeterRuleState& state) const {
    return evaluate(sample(reading), state);
  }

  const MeterRulesConfig& config() const { return cfg_; }

 private:
  MeterRulesConfig cfg_;
};

}  // namespace gridsentinel::detectors
