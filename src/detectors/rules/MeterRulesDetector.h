#pragma once
// MeterRulesDetector: one meter's MeterRules and MeterRuleState behind the detector contract (Detector.h), so
// the rules run through the same conformance suite, save/restore and LearningGuard plumbing as the
// statistical detectors.
//
// - Input: MeterSample (MeterRules::sample() makes one from a MeterReading).
// - score: the highest rule score on the reading (RuleEvaluation::score), judged on a copy of the state.
// - learn: judges the reading and folds it in (opens and closes episodes). judge() does the same and returns
//   the findings, which is what the pipeline alerts on.
// - warm-up: warmed_up() is true once one reading has been learned. Most rules (voltage, outage, bypass by
//   current, tamper) need no history, but the contract requires a defined not-ready state with score 0, and
//   one reading is the least history that makes the rules' deltas meaningful. Rules that need more keep their
//   own warm-up inside: consumption_drop judges only once the baseline covers `baseline_min_hours`,
//   stuck_meter only after N consecutive readings, reverse_flow only after the commissioning window. The
//   first reading still opens episodes through judge().
// - save: a version byte + MeterRuleState (MeterRuleState.h); restore checks both and the whole length.
// - NaN/Inf: score 0, not learned (RuleEvaluation::Status::kNonFinite). Late readings likewise (kLate).
// Rules are deterministic: the seed the conformance suite passes is not needed.
// Memory: sizeof(MeterRules) (the config) + 88 bytes of state.
#include <string>
#include <string_view>

#include "detectors/Detector.h"
#include "detectors/rules/MeterRules.h"

namespace gridsentinel::detectors {

class MeterRulesDetector {
 public:
  using Input = MeterSample;
  explicit MeterRulesDetector(MeterRulesConfig cfg = {}) : rules_(std::move(cfg)) {}

  double score(const Input& in) const;
  void learn(const Input& in) { judge(in); }
  RuleEvaluation judge(const Input& in) { return rules_.evaluate(in, state_); }
  bool warmed_up() const { return state_.readings > 0; }

  std::string save() const;
  bool restore(std::string_view bytes);

  const MeterRules& rules() const { return rules_; }
  const MeterRuleState& state() const { return state_; }

 private:
  static constexpr uint8_t kFormatVersion = 1;
  MeterRules rules_;
  MeterRuleState state_;
};

static_assert(StreamingDetector<MeterRulesDetector>);

}  // namespace gridsentinel::detectors
