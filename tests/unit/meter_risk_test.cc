// Per-meter risk: weighted model and rule scores, event-time decay of the rules, bands with hysteresis.
#include <gtest/gtest.h>

#include <cmath>

#include "detectors/rules/MeterRiskScorer.h"
#include "detectors/rules/SilenceTracker.h"

namespace gridsentinel::detectors {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000;
constexpr int64_t kHour = 3'600'000;

RuleScores only(RuleType t, float score) {
  RuleScores s{};
  s[index(t)] = score;
  return s;
}

TEST(MeterRisk, CombinesWeightedModelAndRuleScores) {
  const MeterRiskScorer scorer;
  MeterRiskState st;
  const RiskUpdate u = scorer.update(st, kT0, 0.5, only(RuleType::kTamper, 0.9F));
  EXPECT_NEAR(u.ml, 0.5, 1e-6);
  EXPECT_NEAR(u.rules, 0.9, 1e-6);
  EXPECT_NEAR(u.risk, 0.7 * 0.5 + 0.3 * 0.9, 1e-6);
  EXPECT_EQ(u.band, RiskBand::kMedium);
  EXPECT_TRUE(u.band_changed);
  EXPECT_EQ(u.previous_band, RiskBand::kLow);
}

TEST(MeterRisk, WeightsAreNormalisedAndInvalidConfigIsRejected) {
  const MeterRiskScorer scorer(MeterRiskConfig{.ml_weight = 7.0, .rules_weight = 3.0});
  EXPECT_NEAR(scorer.config().ml_weight, 0.7, 1e-12);
  EXPECT_NEAR(scorer.config().rules_weight, 0.3, 1e-12);
  EXPECT_EQ(MeterRiskConfig{}.validate(), "");
  EXPECT_THROW(MeterRiskScorer(MeterRiskConfig{.ml_weight = -1.0}), std::invalid_argument);
  EXPECT_THROW(MeterRiskScorer(MeterRiskConfig{.ml_weight = 0.0, .rules_weight = 0.0}),
               std::invalid_argument);
  EXPECT_THROW(MeterRiskScorer(MeterRiskConfig{.high_threshold = 0.3}), std::invalid_argument);
  EXPECT_THROW(MeterRiskScorer(MeterRiskConfig{.rules_half_life_ms = 0}), std::invalid_argument);
}

TEST(MeterRisk, OldFindingsFadeInEventTimeWhileActiveConditionsKeepTheScoreUp) {
  const MeterRiskScorer scorer;
  MeterRiskState st;
  scorer.update(st, kT0, 0.0, only(RuleType::kBypass, 0.8F));
  // Still active 24 h later: no decay.
  EXPECT_NEAR(scorer.update(st, kT0 + 24 * kHour, 0.0, only(RuleType::kBypass, 0.8F)).rules, 0.8, 1e-6);
  // Cleared: one half-life (72 h) later it has halved, two later it is a quarter.
  EXPECT_NEAR(scorer.update(st, kT0 + 96 * kHour, 0.0, RuleScores{}).rules, 0.4, 1e-6);
  EXPECT_NEAR(scorer.peek(st, kT0 + 168 * kHour).rules, 0.2, 1e-6);
  // A late reading does not decay backwards, and does not move the reference time back.
  EXPECT_NEAR(scorer.update(st, kT0, 0.0, RuleScores{}).rules, 0.4, 1e-6);
  EXPECT_EQ(st.rules_time_ms, kT0 + 96 * kHour);
}

TEST(MeterRisk, SupplyEventsWeighLessThanSignsOfTampering) {
  const MeterRiskScorer scorer;
  MeterRiskState sag, tamper;
  const double s = scorer.update(sag, kT0, 0.0, only(RuleType::kVoltageSag, 0.9F)).rules;
  const double t = scorer.update(tamper, kT0, 0.0, only(RuleType::kTamper, 0.9F)).rules;
  EXPECT_NEAR(s, 0.25 * 0.9, 1e-6);
  EXPECT_NEAR(t, 0.9, 1e-6);
}

TEST(MeterRisk, BandsChangeWithHysteresisAndReportOnlyTransitions) {
  const MeterRiskScorer scorer(MeterRiskConfig{.ml_weight = 1.0, .rules_weight = 0.0});
  MeterRiskState st;
  struct Step {
    double ml;
    RiskBand band;
    bool changed;
  };
  const Step steps[] = {
      {0.10, RiskBand::kLow, false},   {0.45, RiskBand::kMedium, true},  {0.50, RiskBand::kMedium, false},
      {0.72, RiskBand::kHigh, true},   {0.67, RiskBand::kHigh, false},  // within 0.05 of 0.7: stays HIGH
      {0.64, RiskBand::kMedium, true}, {0.36, RiskBand::kMedium, false}, {0.30, RiskBand::kLow, true},
      {0.90, RiskBand::kHigh, true},   {0.20, RiskBand::kLow, true},
  };
  int64_t t = kT0;
  for (const Step& s : steps) {
    const RiskUpdate u = scorer.update(st, t += kHour, s.ml, RuleScores{});
    EXPECT_EQ(u.band, s.band) << "ml " << s.ml;
    EXPECT_EQ(u.band_changed, s.changed) << "ml " << s.ml;
    EXPECT_EQ(st.band, s.band);
  }
  EXPECT_EQ(to_string(RiskBand::kHigh), "HIGH");
  EXPECT_EQ(to_string(RiskBand::kMedium), "MEDIUM");
  EXPECT_EQ(to_string(RiskBand::kLow), "LOW");
}

TEST(MeterRisk, RulesAloneStayLowUnlessTheFloorIsEnabled) {
  MeterRiskState a, b;
  EXPECT_EQ(MeterRiskScorer().update(a, kT0, 0.0, only(RuleType::kBypass, 0.95F)).band, RiskBand::kLow);
  const MeterRiskScorer floored(MeterRiskConfig{.rules_floor = 0.8});
  const RiskUpdate u = floored.update(b, kT0, 0.0, only(RuleType::kBypass, 0.95F));
  EXPECT_NEAR(u.risk, 0.76, 1e-6);
  EXPECT_EQ(u.band, RiskBand::kHigh);
}

TEST(MeterRisk, ANanModelScoreKeepsThePreviousOne) {
  const MeterRiskScorer scorer;
  MeterRiskState st;
  scorer.update(st, kT0, 0.8, RuleScores{});
  EXPECT_NEAR(scorer.update(st, kT0 + kHour, std::nan(""), RuleScores{}).ml, 0.8, 1e-6);
  EXPECT_NEAR(scorer.update(st, kT0 + 2 * kHour, 7.0, RuleScores{}).ml, 1.0, 1e-6);  // clamped
}

TEST(MeterRisk, MissingReadingsFindingRaisesTheRuleComponent) {
  const MeterRiskScorer scorer;
  MeterRiskState st;
  const Finding f = missing_readings_finding({.meter = 1,
                                              .last_event_ms = kT0,
                                              .deadline_ms = kT0 + 2'700'000,
                                              .watermark_ms = kT0 + 3'000'000,
                                              .interval_ms = 900'000});
  const RiskUpdate u = scorer.add_finding(st, f);
  EXPECT_NEAR(u.rules, 0.5 * 0.6, 1e-6);
  Finding ended = f;
  ended.phase = EpisodePhase::kEnded;
  ended.score = 0.0;
  EXPECT_NEAR(scorer.add_finding(st, ended).rules, u.rules, 1e-6);
}

TEST(MeterRisk, StateIsSmall) {
  EXPECT_LE(sizeof(MeterRiskState), kMeterRiskStateBytes);
  EXPECT_LE(kMeterRiskStateBytes, 24u);
}

}  // namespace
}  // namespace gridsentinel::detectors
