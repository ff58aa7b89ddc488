#pragma once
// MeterRiskScorer: one risk figure per meter, in [0, 1], and its band, for the compacted `meter-risk` topic.
//
// - risk = w_ml * ml + w_rules * rules (defaults 0.7 / 0.3, normalised to sum to 1), then
//   risk = max(risk, rules_floor * rules) (off by default; see below).
// - ml = the latest model score from the ML detectors (a NaN score keeps the previous one).
// - rules = a decaying maximum of the rule scores: each reading's per-rule scores
// (RuleEvaluation::type_scores),
//   each times its type's weight, raise it; it halves every `rules_half_life_ms` of event time after that, so
//   an active condition keeps it up and old findings fade. Findings from elsewhere (missing readings) raise
//   it the same way through add_finding().
//
// Type weights say how much a rule says about the meter rather than the grid: tamper, bypass, reverse flow,
// consumption drop and a stuck meter count fully; supply-quality events (sag, swell, outage) are the
// network's doing and count a quarter; missing readings half. With the default weights, rules alone reach at
// most 0.3 (LOW): a definite bypass with a quiet model stays LOW. `rules_floor` > 0 lets decisive rules raise
// the band on their own (e.g. 0.8: a 0.95 bypass gives >= 0.76, HIGH).
//
// Bands: HIGH from `high_threshold`, MEDIUM from `medium_threshold`, else LOW. Moving down needs the risk to
// fall `band_hysteresis` below the band's threshold, so a risk hovering at a threshold does not flap the
// compacted topic. Each update says whether the band changed: the pipeline publishes on change (and
// periodically, using peek()).
// Event time only: no clock; a late reading (earlier than the last update) does not decay the score
// backwards. Cost O(1), no allocation. Memory: 24 bytes of MeterRiskState per meter (asserted).
#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "detectors/rules/RuleFinding.h"
#include "detectors/rules/RuleType.h"

namespace gridsentinel::detectors {

enum class RiskBand : uint8_t { kLow = 0, kMedium = 1, kHigh = 2 };
constexpr std::string_view to_string(RiskBand b) {
  return b == RiskBand::kHigh ? "HIGH" : b == RiskBand::kMedium ? "MEDIUM" : "LOW";
}

struct MeterRiskConfig {
  double ml_weight = 0.7;
  double rules_weight = 0.3;
  double high_threshold = 0.7;
  double medium_threshold = 0.4;
  double band_hysteresis = 0.05;
  int64_t rules_half_life_ms = 72LL * 3600 * 1000;  // event time for a rule contribution to halve
  double rules_floor = 0.0;                         // risk >= rules_floor * rules; 0 = off
  // Per rule type, indexed by index(RuleType): sag, swell, outage, reverse_flow, bypass, tamper,
  // consumption_drop, stuck_meter, missing_readings.
  std::array<double, kRuleTypeCount> type_weight = {0.25, 0.25, 0.25, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5};
  std::string validate() const;
};

struct MeterRiskState {
  int64_t rules_time_ms = std::numeric_limits<int64_t>::min();  // event time `rules` refers to
  float ml = 0.0F;
  float rules = 0.0F;
  RiskBand band = RiskBand::kLow;
};
inline constexpr size_t kMeterRiskStateBytes = 24;
static_assert(sizeof(MeterRiskState) <= kMeterRiskStateBytes);

struct RiskUpdate {
  double risk = 0.0;
  double ml = 0.0;
  double rules = 0.0;  // the decayed rule component, after type weights
  RiskBand band = RiskBand::kLow;
  RiskBand previous_band = RiskBand::kLow;
  bool band_changed = false;
};

class MeterRiskScorer {
 public:
  // Normalises the two weights to sum to 1. Throws std::invalid_argument when `cfg.validate()` fails.
  explicit MeterRiskScorer(MeterRiskConfig cfg = {});

  // Folds one judged reading in: the model's score (NaN = none this time) and the rules' per-type scores.
  RiskUpdate update(MeterRiskState& s, int64_t event_time_ms, double ml_score,
                    const RuleScores& rule_scores) const;
  // Folds in a finding that did not come with a reading (e.g. missing_readings from SilenceTracker).
  RiskUpdate add_finding(MeterRiskState& s, const Finding& f) const;
  // The risk as of `event_time_ms` without changing anything (e.g. for a periodic republish).
  RiskUpdate peek(const MeterRiskState& s, int64_t event_time_ms) const;

  const MeterRiskConfig& config() const { return cfg_; }

 private:
  double decayed_rules(const MeterRiskState& s, int64_t t) const;
  RiskUpdate finish(MeterRiskState& s, double rules, int64_t t) const;
  RiskBand band_for(double risk, RiskBand current) const;
  MeterRiskConfig cfg_;
};

}  // namespace gridsentinel::detectors
