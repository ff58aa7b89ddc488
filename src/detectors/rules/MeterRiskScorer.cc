#include "detectors/rules/MeterRiskScorer.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace gridsentinel::detectors {
namespace {

bool unit(double v) {
  return v >= 0.0 && v <= 1.0;
}

}  // namespace

std::string MeterRiskConfig::validate() const {
  if (!(ml_weight >= 0.0 && rules_weight >= 0.0 && std::isfinite(ml_weight) && std::isfinite(rules_weight) &&
        ml_weight + rules_weight > 0.0))
    return "ml_weight and rules_weight must be finite, >= 0 and not both 0";
  if (!(unit(medium_threshold) && unit(high_threshold) && medium_threshold > 0.0 &&
        medium_threshold < high_threshold))
    return "thresholds must satisfy 0 < medium_threshold < high_threshold <= 1";
  if (!(band_hysteresis >= 0.0 && band_hysteresis < medium_threshold &&
        band_hysteresis < high_threshold - medium_threshold))
    return "band_hysteresis must be >= 0 and smaller than each band's width";
  if (rules_half_life_ms <= 0) return "rules_half_life_ms must be > 0";
  if (!unit(rules_floor)) return "rules_floor must be in [0, 1]";
  for (double w : type_weight)
    if (!unit(w)) return "type_weight entries must be in [0, 1]";
  return "";
}

MeterRiskScorer::MeterRiskScorer(MeterRiskConfig cfg) : cfg_(cfg) {
  if (const std::string err = cfg_.validate(); !err.empty())
    throw std::invalid_argument("meter risk config: " + err);
  const double sum = cfg_.ml_weight + cfg_.rules_weight;
  cfg_.ml_weight /= sum;
  cfg_.rules_weight /= sum;
}

double MeterRiskScorer::decayed_rules(const MeterRiskState& s, int64_t t) const {
  if (s.rules_time_ms == std::numeric_limits<int64_t>::min() || t <= s.rules_time_ms)
    return static_cast<double>(s.rules);
  // t > rules_time_ms here; unsigned arithmetic so that no pair of event times can overflow.
  const double age = static_cast<double>(static_cast<uint64_t>(t) - static_cast<uint64_t>(s.rules_time_ms));
  return static_cast<double>(s.rules) * std::exp2(-age / static_cast<double>(cfg_.rules_half_life_ms));
}

RiskBand MeterRiskScorer::band_for(double risk, RiskBand current) const {
  const auto band_of = [&](double r) {
    return r >= cfg_.high_threshold     ? RiskBand::kHigh
           : r >= cfg_.medium_threshold ? RiskBand::kMedium
                                        : RiskBand::kLow;
  };
  const RiskBand raw = band_of(risk);
  if (raw >= current) return raw;
  // Going down: only as far as the band the risk is clearly (by the hysteresis) below the threshold of.
  return std::min(current, band_of(risk + cfg_.band_hysteresis));
}

RiskUpdate MeterRiskScorer::finish(MeterRiskState& s, double rules, int64_t t) const {
  s.rules = static_cast<float>(std::clamp(rules, 0.0, 1.0));
  s.rules_time_ms = std::max(s.rules_time_ms, t);
  RiskUpdate u = peek(s, t);
  s.band = u.band;
  return u;
}

RiskUpdate MeterRiskScorer::peek(const MeterRiskState& s, int64_t t) const {
  RiskUpdate u;
  u.ml = static_cast<double>(s.ml);
  u.rules = decayed_rules(s, t);
  u.risk = std::clamp(
      std::max(cfg_.ml_weight * u.ml + cfg_.rules_weight * u.rules, cfg_.rules_floor * u.rules), 0.0, 1.0);
  u.previous_band = s.band;
  u.band = band_for(u.risk, s.band);
  u.band_changed = u.band != u.previous_band;
  return u;
}

RiskUpdate MeterRiskScorer::update(MeterRiskState& s, int64_t t, double ml_score,
                                   const RuleScores& rule_scores) const {
  if (std::isfinite(ml_score)) s.ml = static_cast<float>(std::clamp(ml_score, 0.0, 1.0));
  double now = 0.0;
  for (size_t i = 0; i < kRuleTypeCount; ++i) {
    const double v = static_cast<double>(rule_scores[i]);
    if (std::isfinite(v)) now = std::max(now, cfg_.type_weight[i] * std::clamp(v, 0.0, 1.0));
  }
  return finish(s, std::max(decayed_rules(s, t), now), t);
}

RiskUpdate MeterRiskScorer::add_finding(MeterRiskState& s, const Finding& f) const {
  if (f.phase != EpisodePhase::kStarted || index(f.type) >= kRuleTypeCount || !std::isfinite(f.score))
    return peek(s, f.event_time_ms);
  const double contribution = cfg_.type_weight[index(f.type)] * std::clamp(f.score, 0.0, 1.0);
  return finish(s, std::max(decayed_rules(s, f.event_time_ms), contribution), f.event_time_ms);
}

}  // namespace gridsentinel::detectors
