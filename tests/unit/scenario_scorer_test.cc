// ScenarioScorer: matching alerts with injected episodes (README.md, "Meter scenarios").
#include "backtest/ScenarioScorer.h"

#include <gtest/gtest.h>

namespace gridsentinel::backtest {
namespace {

using sim::InjectedAnomaly;
using sim::MeterAnomalyType;

constexpr int64_t kI = 900'000;  // one reading interval

InjectedAnomaly episode(MeterAnomalyType type, const std::string& meter, int64_t start_reading,
                        uint32_t readings) {
  return InjectedAnomaly{type, meter, start_reading * kI, (start_reading + readings - 1) * kI, readings};
}

ScenarioAlert alert(const std::string& meter, const std::string& detector, const std::string& type,
                    int64_t reading, const std::string& feature = "voltage_v") {
  return ScenarioAlert{meter, detector, type, feature, reading * kI, reading * kI};
}

TEST(ScenarioScorer, AlertClassIsTheInjectedTypeTheAlertNames) {
  EXPECT_EQ(alert_class("meter_rules", "voltage_sag", "voltage_v"), MeterAnomalyType::kVoltageSag);
  EXPECT_EQ(alert_class("meter_rules", "missing_readings", "silence_s"), MeterAnomalyType::kSilentMeter);
  EXPECT_EQ(alert_class("meter_rules", "stuck_meter", "x"), MeterAnomalyType::kStuckMeter);
  EXPECT_EQ(alert_class("spike", "spike", "active_power_w"), MeterAnomalyType::kSpike);
  EXPECT_FALSE(alert_class("zscore", "high_value", "active_power_w"));
  EXPECT_FALSE(alert_class("iqr", "high_value", "active_power_w"));
  EXPECT_FALSE(alert_class("zscore", "low_value", "voltage_v"));
  EXPECT_FALSE(alert_class("iforest", "multivariate_outlier", "voltage_v"));
  EXPECT_FALSE(alert_class("spike", "level_shift", "active_power_w"));
  EXPECT_FALSE(alert_class("zscore", "low_value", "active_power_w"));
}

TEST(ScenarioScorer, OwnClassAlertInsideWindowDetectsWithDelayInReadings) {
  const std::vector<InjectedAnomaly> truth = {episode(MeterAnomalyType::kOutage, "M1", 100, 4)};
  const auto s = score_scenario(truth, {alert("M1", "meter_rules", "outage", 102)}, {kI, 4});
  const auto& t = s.by_type[static_cast<size_t>(MeterAnomalyType::kOutage)];
  EXPECT_EQ(t.episodes, 1u);
  EXPECT_EQ(t.detected, 1u);
  EXPECT_EQ(t.false_positives, 0u);
  EXPECT_DOUBLE_EQ(t.recall(), 1.0);
  EXPECT_DOUBLE_EQ(t.precision(), 1.0);
  EXPECT_EQ(t.max_delay(), 2u);
  EXPECT_EQ(s.alerts[0], AlertOutcome::kDetection);
}

TEST(ScenarioScorer, ToleranceExtendsTheWindowPastTheEndOnly) {
  const std::vector<InjectedAnomaly> truth = {episode(MeterAnomalyType::kStuckMeter, "M1", 100, 8)};
  // Last reading 107; tolerance 4 -> up to 111 counts, 112 and 99 do not.
  auto s = score_scenario(truth, {alert("M1", "meter_rules", "stuck_meter", 111)}, {kI, 4});
  EXPECT_EQ(s.by_type[static_cast<size_t>(MeterAnomalyType::kStuckMeter)].detected, 1u);
  s = score_scenario(
      truth, {alert("M1", "meter_rules", "stuck_meter", 112), alert("M1", "meter_rules", "stuck_meter", 99)},
      {kI, 4});
  const auto& t = s.by_type[static_cast<size_t>(MeterAnomalyType::kStuckMeter)];
  EXPECT_EQ(t.detected, 0u);
  EXPECT_EQ(t.false_positives, 2u);
  EXPECT_DOUBLE_EQ(t.recall(), 0.0);
  EXPECT_DOUBLE_EQ(t.precision(), 0.0);
}

TEST(ScenarioScorer, AlertsOnAnotherMeterAreFalsePositivesOfTheirClass) {
  const std::vector<InjectedAnomaly> truth = {episode(MeterAnomalyType::kSpike, "M1", 100, 1)};
  const auto s = score_scenario(truth, {alert("M2", "spike", "spike", 100, "active_power_w")}, {kI, 4});
  const auto& t = s.by_type[static_cast<size_t>(MeterAnomalyType::kSpike)];
  EXPECT_EQ(t.detected, 0u);
  EXPECT_EQ(t.false_positives, 1u);
  EXPECT_EQ(s.overall.false_positives, 1u);
}

TEST(ScenarioScorer, SeveralDetectorsOnOneEpisodeCountOnceAndKeepTheEarliest) {
  const std::vector<InjectedAnomaly> truth = {episode(MeterAnomalyType::kSpike, "M1", 100, 1)};
  const auto s = score_scenario(truth,
                                {alert("M1", "spike", "spike", 101, "active_power_w"),
                                 alert("M1", "spike", "spike", 100, "active_power_w")},
                                {kI, 4});
  const auto& t = s.by_type[static_cast<size_t>(MeterAnomalyType::kSpike)];
  EXPECT_EQ(t.detected, 1u);
  EXPECT_EQ(t.false_positives, 0u);
  EXPECT_EQ(t.max_delay(), 0u);
  EXPECT_EQ(s.episodes[0].first_alert, 1);
  EXPECT_EQ(s.alerts[0], AlertOutcome::kRepeat);
}

TEST(ScenarioScorer, OtherClassInsideAnEpisodeIsCrossTypeNotFalsePositive) {
  const std::vector<InjectedAnomaly> truth = {episode(MeterAnomalyType::kOutage, "M1", 100, 4)};
  const auto s = score_scenario(
      truth,
      {alert("M1", "meter_rules", "voltage_sag", 100), alert("M1", "iforest", "multivariate_outlier", 100),
       alert("M1", "iforest", "multivariate_outlier", 300)},
      {kI, 4});
  const auto& outage = s.by_type[static_cast<size_t>(MeterAnomalyType::kOutage)];
  const auto& sag = s.by_type[static_cast<size_t>(MeterAnomalyType::kVoltageSag)];
  EXPECT_EQ(outage.detected, 0u);
  EXPECT_EQ(sag.false_positives, 0u);
  EXPECT_EQ(sag.cross_type, 1u);
  EXPECT_EQ(s.generic.cross_type, 1u);
  EXPECT_EQ(s.generic.false_positives, 1u);
  EXPECT_EQ(s.overall.false_positives, 1u);
  EXPECT_EQ(s.alerts[0], AlertOutcome::kCrossType);
  EXPECT_EQ(s.alerts[1], AlertOutcome::kGenericInEpisode);
  EXPECT_EQ(s.alerts[2], AlertOutcome::kFalsePositive);
}

TEST(ScenarioScorer, MedianDelayOfEvenCountIsTheMeanOfTheMiddleTwo) {
  TypeScore t;
  t.delays = {0, 4, 2, 1};
  EXPECT_DOUBLE_EQ(t.median_delay(), 1.5);
  EXPECT_EQ(t.max_delay(), 4u);
}

TEST(ScenarioScorer, TableListsTypesGenericAndOverall) {
  const std::vector<InjectedAnomaly> truth = {episode(MeterAnomalyType::kBypass, "M1", 10, 2)};
  const auto s = score_scenario(truth, {alert("M1", "meter_rules", "bypass", 10, "current_a")}, {kI, 4});
  const std::string table = format_scenario_table(s);
  EXPECT_NE(table.find("| bypass | 1 | 1 | 1.000 | 0 | 1.000 | 0.0 | 0 | 0 |"), std::string::npos) << table;
  EXPECT_NE(table.find("| generic |"), std::string::npos);
  EXPECT_NE(table.find("| overall | 1 | 1 |"), std::string::npos);
  EXPECT_NE(format_scenario_csv(s).find("bypass,1,1,1.0000,0,1.0000,0.0,0,0"), std::string::npos);
}

}  // namespace
}  // namespace gridsentinel::backtest
