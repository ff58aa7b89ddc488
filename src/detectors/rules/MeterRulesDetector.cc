#include "detectors/rules/MeterRulesDetector.h"

#include "common/StateCodec.h"

namespace gridsentinel::detectors {

double MeterRulesDetector::score(const Input& in) const {
  if (!warmed_up()) return 0.0;
  MeterRuleState scratch = state_;  // 88 bytes: judging must not change the detector
  const RuleEvaluation e = rules_.evaluate(in, scratch);
  return e.status == RuleEvaluation::Status::kJudged ? e.score : 0.0;
}

std::string MeterRulesDetector::save() const {
  StateWriter w;
  w.put(kFormatVersion);
  encode(state_, w);
  return w.take();
}

bool MeterRulesDetector::restore(std::string_view bytes) {
  StateReader r(bytes);
  uint8_t version = 0;
  MeterRuleState s;
  if (!r.get(version) || version != kFormatVersion || !decode(r, s) || !r.done()) return false;
  state_ = s;
  return true;
}

}  // namespace gridsentinel::detectors
