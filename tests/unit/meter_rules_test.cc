// Meter domain rules on synthetic 15-minute traces: each injected event is found at the right reading with
// the right type, and clean traces over many days and seeds raise nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "detectors/rules/MeterRiskScorer.h"
#include "detectors/rules/MeterRules.h"
#include "meter_trace.h"

namespace gridsentinel::detectors {
namespace {

using gridsentinel::v1::SEVERITY_CRITICAL;
using gridsentinel::v1::SEVERITY_INFO;
using gridsentinel::v1::SEVERITY_WARNING;
using testing::kReadingsPerDay;
using testing::make_trace;
using testing::Physics;
using testing::TraceSpec;

struct Hit {
  size_t reading;
  Finding finding;
};

std::vector<Hit> run(const MeterRules& rules, const std::vector<MeterSample>& trace,
                     MeterRuleState* out = nullptr) {
  MeterRuleState st;
  std::vector<Hit> hits;
  for (size_t i = 0; i < trace.size(); ++i) {
    const RuleEvaluation e = rules.evaluate(trace[i], st);
    EXPECT_EQ(e.status, RuleEvaluation::Status::kJudged) << "reading " << i;
    for (const Finding& f : e.findings) hits.push_back({i, f});
  }
  if (out) *out = st;
  return hits;
}

std::vector<Hit> of(const std::vector<Hit>& hits, EpisodePhase phase) {
  std::vector<Hit> out;
  for (const Hit& h : hits)
    if (h.finding.phase == phase) out.push_back(h);
  return out;
}
std::vector<Hit> starts(const std::vector<Hit>& hits) {
  return of(hits, EpisodePhase::kStarted);
}
std::vector<Hit> ends(const std::vector<Hit>& hits) {
  return of(hits, EpisodePhase::kEnded);
}

std::string describe(const std::vector<Hit>& hits) {
  std::string s;
  for (const Hit& h : hits)
    s += "  #" + std::to_string(h.reading) + " " + std::string(h.finding.name()) +
         (h.finding.phase == EpisodePhase::kStarted ? " start: " : " end: ") +
         std::string(h.finding.explanation_text()) + "\n";
  return s;
}

// A reading on day 3 (past the exporter commissioning window and well into the trace), at 10:00.
constexpr size_t kEventReading = 3 * kReadingsPerDay + 40;
const MeterRules kRules{MeterRulesConfig{}};

TEST(MeterRuleTypes, NamesAreStableAndRoundTrip) {
  const std::vector<std::string> expected = {"voltage_sag",      "voltage_swell", "outage",
                                             "reverse_flow",     "bypass",        "tamper",
                                             "consumption_drop", "stuck_meter",   "missing_readings"};
  ASSERT_EQ(expected.size(), kRuleTypeCount);
  for (size_t i = 0; i < kRuleTypeCount; ++i) {
    const auto t = static_cast<RuleType>(i);
    EXPECT_EQ(to_string(t), expected[i]);
    EXPECT_EQ(parse_rule_type(expected[i]), t);
  }
  EXPECT_FALSE(parse_rule_type("voltage_dip").has_value());
}

TEST(MeterRulesConfig, DefaultsAreValidAndBadValuesAreRejected) {
  EXPECT_EQ(MeterRulesConfig{}.validate(), "");
  EXPECT_NE(MeterRulesConfig{.sag_ratio = 1.05}.validate(), "");
  EXPECT_NE(MeterRulesConfig{.outage_ratio = 0.95}.validate(), "");
  EXPECT_NE(MeterRulesConfig{.voltage_hysteresis_ratio = 0.2}.validate(), "");
  EXPECT_NE(MeterRulesConfig{.drop_ratio = 1.0}.validate(), "");
  EXPECT_NE(MeterRulesConfig{.stuck_min_readings = 1}.validate(), "");
  EXPECT_NE(MeterRulesConfig{.exporting_meter_prefixes = {""}}.validate(), "");
  EXPECT_THROW(MeterRules(MeterRulesConfig{.fast_tau_h = 500.0}), std::invalid_argument);
}

TEST(MeterRules, StateIsSmall) {
  EXPECT_LE(sizeof(MeterRuleState), kMeterRuleStateBytes);
  EXPECT_LE(kMeterRuleStateBytes, 100u);
  RecordProperty("meter_rule_state_bytes", static_cast<int>(sizeof(MeterRuleState)));
}

// The false-positive guard: ordinary households over 45 days and 20 seeds, in every variant the rules must
// tolerate, raise no finding at all.
TEST(MeterRules, CleanTracesRaiseNoFindingOverManyDaysAndSeeds) {
  struct Variant {
    const char* name;
    TraceSpec spec;
  };
  const std::vector<Variant> variants = {
      {"household 600 W", {.days = 45}},
      {"household 1500 W", {.days = 45, .mean_load_w = 1500.0}},
      {"small household 150 W", {.days = 45, .mean_load_w = 150.0}},
      {"rooftop PV 3 kW", {.days = 45, .solar_peak_w = 3000.0}},
      {"1 kWh register steps", {.days = 45, .mean_load_w = 900.0, .register_resolution_kwh = 1.0}},
      {"no power reported", {.days = 45, .report_power = false}},
      {"noisy voltage", {.days = 45, .voltage_noise_v = 3.0}},
  };
  size_t readings = 0;
  for (const auto& v : variants) {
    for (uint64_t seed = 1; seed <= 20; ++seed) {
      TraceSpec spec = v.spec;
      spec.seed = seed;
      const auto trace = make_trace(spec);
      readings += trace.size();
      const auto hits = run(kRules, trace);
      ASSERT_TRUE(hits.empty()) << v.name << ", seed " << seed << ":\n" << describe(hits);
    }
  }
  EXPECT_EQ(readings, 7u * 20u * 45u * kReadingsPerDay);
}

TEST(MeterRules, VoltageSagIsFoundAtTheInjectedReadingWithSeverityByDepth) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    for (double v : {200.0, 190.0}) {
      const auto trace = make_trace({.seed = seed, .days = 5}, [&](size_t i, Physics& p) {
        if (i == kEventReading) p.voltage_v = v;
      });
      const auto hits = run(kRules, trace);
      ASSERT_EQ(starts(hits).size(), 1u) << describe(hits);
      const Finding f = starts(hits)[0].finding;
      EXPECT_EQ(starts(hits)[0].reading, kEventReading);
      EXPECT_EQ(f.type, RuleType::kVoltageSag);
      EXPECT_EQ(f.severity, v < 195.5 ? SEVERITY_CRITICAL : SEVERITY_WARNING);
      EXPECT_EQ(f.feature, "voltage_v");
      EXPECT_DOUBLE_EQ(f.observed, v);
      EXPECT_DOUBLE_EQ(f.expected_low, 207.0);
      EXPECT_DOUBLE_EQ(f.expected_high, 253.0);
      EXPECT_GE(f.score, 0.5);
      EXPECT_LE(f.score, 1.0);
      EXPECT_EQ(f.event_time_ms, trace[kEventReading].event_time_ms);
      EXPECT_FALSE(f.explanation_text().empty());
      ASSERT_EQ(ends(hits).size(), 1u);
      EXPECT_EQ(ends(hits)[0].reading, kEventReading + 1);
      EXPECT_EQ(ends(hits)[0].finding.severity, SEVERITY_INFO);
    }
  }
}

TEST(MeterRules, SagEndsOnlyPastTheHysteresisAndADeeperSagScoresHigher) {
  const std::vector<double> volts = {205.0, 209.0, 211.0, 212.0, 206.0, 230.0};
  const auto trace = make_trace({.days = 4}, [&](size_t i, Physics& p) {
    if (i >= kEventReading && i < kEventReading + volts.size()) p.voltage_v = volts[i - kEventReading];
  });
  const auto hits = run(kRules, trace);
  ASSERT_EQ(hits.size(), 4u) << describe(hits);
  EXPECT_EQ(hits[0].reading, kEventReading);      // 205 V: starts
  EXPECT_EQ(hits[1].reading, kEventReading + 3);  // 209 and 211 V are inside the 2% band; 212 V ends it
  EXPECT_EQ(hits[1].finding.phase, EpisodePhase::kEnded);
  EXPECT_EQ(hits[2].reading, kEventReading + 4);  // 206 V: a new episode
  EXPECT_EQ(hits[3].reading, kEventReading + 5);

  MeterRuleState a, b;
  MeterSample s = trace[0];
  s.voltage_v = 205.0;
  const double shallow = kRules.evaluate(s, a).score;
  s.voltage_v = 150.0;
  EXPECT_GT(kRules.evaluate(s, b).score, shallow);
}

TEST(MeterRules, VoltageSwellIsFoundAtTheInjectedReading) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    for (double v : {258.0, 266.0}) {
      const auto trace = make_trace({.seed = seed, .days = 5}, [&](size_t i, Physics& p) {
        if (i == kEventReading || i == kEventReading + 1) p.voltage_v = v;
      });
      const auto hits = run(kRules, trace);
      ASSERT_EQ(starts(hits).size(), 1u) << describe(hits);
      EXPECT_EQ(starts(hits)[0].reading, kEventReading);
      EXPECT_EQ(starts(hits)[0].finding.type, RuleType::kVoltageSwell);
      EXPECT_EQ(starts(hits)[0].finding.severity, v >= 264.5 ? SEVERITY_CRITICAL : SEVERITY_WARNING);
      ASSERT_EQ(ends(hits).size(), 1u);
      EXPECT_EQ(ends(hits)[0].reading, kEventReading + 2);
    }
  }
}

TEST(MeterRules, OutageIsAnInterruptionNotASagAndTeachesNothing) {
  // A 12-hour interruption: nothing drawn, nothing registered. Only the outage episode is reported: no sag,
  // no stuck meter (identical 0 V readings), no consumption drop afterwards.
  constexpr size_t kStart = 8 * kReadingsPerDay + 70;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    const auto trace = make_trace({.seed = seed, .days = 14}, [&](size_t i, Physics& p) {
      if (i >= kStart && i < kStart + 48) {
        p.voltage_v = 0.4;
        p.load_w = 0.0;
      }
    });
    const auto hits = run(kRules, trace);
    ASSERT_EQ(hits.size(), 2u) << describe(hits);
    EXPECT_EQ(hits[0].reading, kStart);
    EXPECT_EQ(hits[0].finding.type, RuleType::kOutage);
    EXPECT_EQ(hits[0].finding.severity, SEVERITY_CRITICAL);
    EXPECT_EQ(hits[1].reading, kStart + 48);
    EXPECT_EQ(hits[1].finding.type, RuleType::kOutage);
    EXPECT_EQ(hits[1].finding.phase, EpisodePhase::kEnded);
  }
}

TEST(MeterRules, ReverseFlowOnANonExportingMeterIsFound) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    const auto trace = make_trace({.seed = seed, .days = 5}, [&](size_t i, Physics& p) {
      if (i >= kEventReading && i < kEventReading + 4) p.solar_w = 1500.0;  // an undeclared PV system
    });
    const auto hits = run(kRules, trace);
    ASSERT_EQ(starts(hits).size(), 1u) << describe(hits);
    const Hit h = starts(hits)[0];
    EXPECT_EQ(h.reading, kEventReading);
    EXPECT_EQ(h.finding.type, RuleType::kReverseFlow);
    EXPECT_EQ(h.finding.feature, "active_power_w");
    EXPECT_LT(h.finding.observed, -100.0);
    EXPECT_DOUBLE_EQ(h.finding.expected_low, -100.0);
    ASSERT_EQ(ends(hits).size(), 1u);
    EXPECT_EQ(ends(hits)[0].reading, kEventReading + 4);
  }
}

TEST(MeterRules, MeterThatExportsFromItsFirstDayIsLearnedAsAnExporterAndNeverAlerts) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    MeterRuleState st;
    const auto hits = run(kRules, make_trace({.seed = seed, .days = 20, .solar_peak_w = 3000.0}), &st);
    EXPECT_TRUE(hits.empty()) << describe(hits);
    EXPECT_TRUE(st.has_flag(MeterRuleState::kLearnedExporter));
  }
}

TEST(MeterRules, DeclaredExportersAreNeverJudgedAndLearningCanBeSwitchedOff) {
  MeterRulesConfig cfg{.exporting_meter_prefixes = {"PV-"}, .learn_exporters = false};
  const MeterRules rules(cfg);
  EXPECT_TRUE(rules.declared_exporter("PV-000017"));
  EXPECT_FALSE(rules.declared_exporter("MTR-000017"));

  auto trace = make_trace({.days = 10, .solar_peak_w = 3000.0});
  for (auto& s : trace) s.may_export = true;
  EXPECT_TRUE(run(rules, trace).empty());

  // Without learning, an undeclared PV meter alerts on its first exporting reading.
  for (auto& s : trace) s.may_export = false;
  const auto hits = starts(run(rules, trace));
  ASSERT_FALSE(hits.empty());
  const auto first_export =
      static_cast<size_t>(std::find_if(trace.begin(), trace.end(),
                                       [](const MeterSample& s) { return s.active_power_w < -100.0; }) -
                          trace.begin());
  EXPECT_EQ(hits[0].reading, first_export);
  EXPECT_EQ(hits[0].finding.type, RuleType::kReverseFlow);
}

TEST(MeterRules, ReverseCurrentFlagCountsAsReverseFlow) {
  const auto trace = make_trace({.days = 4}, [&](size_t i, Physics& p) {
    if (i == kEventReading) p.status_flags = 8;  // METER_STATUS_FLAG_REVERSE_CURRENT
  });
  const auto hits = starts(run(kRules, trace));
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].reading, kEventReading);
  EXPECT_EQ(hits[0].finding.type, RuleType::kReverseFlow);
}

TEST(MeterRules, CurrentWithoutVoltageIsABypassNotAnOutage) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    const auto trace = make_trace({.seed = seed, .days = 5}, [&](size_t i, Physics& p) {
      if (i >= kEventReading && i < kEventReading + 4) {
        p.voltage_v = 0.8;  // the voltage path is bridged ...
        p.current_a = 9.5;  // ... while the load keeps drawing
        p.power_w = 7.0;
        p.register_factor = 0.0;
      }
    });
    const auto hits = run(kRules, trace);
    ASSERT_EQ(starts(hits).size(), 1u) << describe(hits);
    const Hit h = starts(hits)[0];
    EXPECT_EQ(h.reading, kEventReading);
    EXPECT_EQ(h.finding.type, RuleType::kBypass);
    EXPECT_EQ(h.finding.severity, SEVERITY_CRITICAL);
    EXPECT_EQ(h.finding.feature, "current_a");
    EXPECT_DOUBLE_EQ(h.finding.observed, 9.5);
    ASSERT_EQ(ends(hits).size(), 1u);
    EXPECT_EQ(ends(hits)[0].reading, kEventReading + 4);
  }
}

TEST(MeterRules, RegisterCountingFarLessThanThePowerIsABypass) {
  // From day 4 the register counts 30% of the energy while the measured power stays true. The comparison
  // needs a window of >= 4 h and >= 3 kWh, so it is found within half a day, and never before the tampering.
  constexpr size_t kStart = 4 * kReadingsPerDay + 28;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    const auto trace = make_trace({.seed = seed, .days = 8}, [&](size_t i, Physics& p) {
      if (i >= kStart) p.register_factor = 0.3;
    });
    const auto hits = starts(run(kRules, trace));
    ASSERT_EQ(hits.size(), 1u) << describe(hits);
    EXPECT_EQ(hits[0].finding.type, RuleType::kBypass);
    EXPECT_EQ(hits[0].finding.severity, SEVERITY_WARNING);
    EXPECT_EQ(hits[0].finding.feature, "energy_kwh.window_delta");
    EXPECT_GE(hits[0].reading, kStart);
    EXPECT_LE(hits[0].reading, kStart + kReadingsPerDay / 2);
    EXPECT_LT(hits[0].finding.observed, hits[0].finding.expected_low);
  }
}

TEST(MeterRules, TamperFlagsOpenOneEpisodeWhateverItsLength) {
  struct Case {
    uint32_t flags;
    gridsentinel::v1::Severity severity;
  };
  for (const Case c : {Case{1, SEVERITY_CRITICAL}, Case{2, SEVERITY_CRITICAL}, Case{4, SEVERITY_CRITICAL},
                       Case{16, SEVERITY_WARNING}, Case{1 | 16, SEVERITY_CRITICAL}}) {
    const auto trace = make_trace({.days = 4}, [&](size_t i, Physics& p) {
      if (i >= kEventReading && i < kEventReading + 20) p.status_flags = c.flags;
    });
    const auto hits = run(kRules, trace);
    ASSERT_EQ(hits.size(), 2u) << describe(hits);
    EXPECT_EQ(hits[0].reading, kEventReading);
    EXPECT_EQ(hits[0].finding.type, RuleType::kTamper);
    EXPECT_EQ(hits[0].finding.severity, c.severity);
    EXPECT_EQ(hits[0].finding.observed, static_cast<double>(c.flags));
    EXPECT_EQ(hits[1].reading, kEventReading + 20);
    EXPECT_EQ(hits[1].finding.phase, EpisodePhase::kEnded);
  }
  // CLOCK_INVALID is not a tamper flag.
  const auto trace = make_trace({.days = 4}, [&](size_t i, Physics& p) {
    if (i == kEventReading) p.status_flags = 32;
  });
  EXPECT_TRUE(run(kRules, trace).empty());
}

TEST(MeterRules, SustainedConsumptionDropAgainstTheMetersOwnHistoryIsFound) {
  // From day 14 the household draws a quarter of its usual load (e.g. a meter bypassed for most circuits),
  // and recovers on day 18.
  constexpr size_t kStart = 14 * kReadingsPerDay + 36;
  constexpr size_t kRecover = 18 * kReadingsPerDay + 36;
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    const auto trace = make_trace({.seed = seed, .days = 24}, [&](size_t i, Physics& p) {
      if (i >= kStart && i < kRecover) p.load_w *= 0.25;
    });
    const auto hits = run(kRules, trace);
    ASSERT_EQ(starts(hits).size(), 1u) << "seed " << seed << "\n" << describe(hits);
    const Hit h = starts(hits)[0];
    EXPECT_EQ(h.finding.type, RuleType::kConsumptionDrop);
    EXPECT_GT(h.reading, kStart);
    EXPECT_LE(h.reading, kStart + kReadingsPerDay);  // within a day
    EXPECT_EQ(h.finding.feature, "consumption_w.ewma_fast");
    EXPECT_LT(h.finding.observed, h.finding.expected_low);
    // The frozen baseline keeps the episode open through the drop; it ends within a day of the recovery.
    ASSERT_EQ(ends(hits).size(), 1u);
    EXPECT_GT(ends(hits)[0].reading, kRecover);
    EXPECT_LE(ends(hits)[0].reading, kRecover + kReadingsPerDay);
  }
}

TEST(MeterRules, ConsumptionDropOnAnExporterIsFoundInTheHoursItNeverExports) {
  // Rooftop PV: net power is negative around midday, so consumption is judged at night only. From day 8 the
  // household draws a quarter of its load (PV unchanged) and recovers on day 11; a clean exporter raises
  // nothing.
  constexpr size_t kStart = 8 * kReadingsPerDay + 36;
  constexpr size_t kRecover = 11 * kReadingsPerDay + 36;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    const TraceSpec spec{.seed = seed, .days = 14, .solar_peak_w = 3000.0};
    const auto clean = run(kRules, make_trace(spec));
    EXPECT_TRUE(starts(clean).empty()) << "seed " << seed << "\n" << describe(clean);
    const auto hits = run(kRules, make_trace(spec, [&](size_t i, Physics& p) {
                            if (i >= kStart && i < kRecover) p.load_w *= 0.25;
                          }));
    ASSERT_EQ(starts(hits).size(), 1u) << "seed " << seed << "\n" << describe(hits);
    EXPECT_EQ(starts(hits)[0].finding.type, RuleType::kConsumptionDrop);
    EXPECT_GT(starts(hits)[0].reading, kStart);
    EXPECT_LE(starts(hits)[0].reading, kStart + kReadingsPerDay);  // the first night
  }
}

TEST(MeterRules, ALastingDropBecomesTheNewNormalAfterTheAdoptionTime) {
  constexpr size_t kStart = 10 * kReadingsPerDay;
  const auto trace = make_trace({.days = 30}, [&](size_t i, Physics& p) {
    if (i >= kStart) p.load_w *= 0.3;
  });
  const auto hits = run(kRules, trace);
  ASSERT_EQ(hits.size(), 2u) << describe(hits);
  EXPECT_EQ(hits[0].finding.type, RuleType::kConsumptionDrop);
  EXPECT_EQ(hits[1].finding.phase, EpisodePhase::kEnded);
  // Not dragged down by the drop: the episode lasts the whole adoption time (336 h = 14 days).
  const double open_h =
      static_cast<double>(trace[hits[1].reading].event_time_ms - trace[hits[0].reading].event_time_ms) /
      3.6e6;
  EXPECT_NEAR(open_h, 336.0, 0.5);
  EXPECT_NE(hits[1].finding.explanation_text().find("adopted"), std::string_view::npos);
}

TEST(MeterRules, ConsumptionIsNotJudgedBeforeTheBaselineCoversThreeDays) {
  // Two low days straight after installation: there is no history to compare them with yet.
  const auto trace = make_trace({.days = 10}, [&](size_t i, Physics& p) {
    if (i >= kReadingsPerDay && i < 3 * kReadingsPerDay) p.load_w *= 0.2;
  });
  const auto hits = run(kRules, trace);
  EXPECT_TRUE(hits.empty()) << describe(hits);
}

// First reading i >= from at which `n` consecutive readings have satisfied `holds` (the oracle for run
// rules).
size_t first_run_end(size_t from, size_t end, size_t n, const std::function<bool(size_t)>& holds) {
  size_t len = 0;
  for (size_t i = from; i < end; ++i) {
    len = holds(i) ? len + 1 : 0;
    if (len >= n) return i;
  }
  return end;
}

TEST(MeterRules, RegisterStandingStillWhileCurrentFlowsIsAStuckMeter) {
  constexpr size_t kStart = 3 * kReadingsPerDay + 64;  // 16:00, into the evening peak
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    const auto trace =
        make_trace({.seed = seed, .days = 5, .mean_load_w = 1200.0}, [&](size_t i, Physics& p) {
          if (i >= kStart && i < kStart + 24) p.register_factor = 0.0;
        });
    // Oracle: 8 consecutive readings with the register unchanged while > 1 A flows, and >= 1.5 kWh uncounted.
    size_t expected = trace.size(), still_run = 0;
    double uncounted = 0.0;
    for (size_t i = kStart; i < trace.size() && expected == trace.size(); ++i) {
      const bool still = trace[i].energy_kwh == trace[i - 1].energy_kwh && trace[i].current_a > 1.0;
      still_run = still ? still_run + 1 : 0;
      uncounted = still ? uncounted + trace[i].active_power_w * 0.25 / 1000.0 : 0.0;
      if (still_run >= 8 && uncounted >= 1.5) expected = i;
    }
    ASSERT_LT(expected, kStart + 24);
    const auto hits = run(kRules, trace);
    ASSERT_EQ(starts(hits).size(), 1u) << describe(hits);
    const Hit h = starts(hits)[0];
    EXPECT_EQ(h.reading, expected);
    EXPECT_EQ(h.finding.type, RuleType::kStuckMeter);
    EXPECT_EQ(h.finding.feature, "unregistered_energy_kwh");
    EXPECT_GE(h.finding.observed, 1.5);
    ASSERT_EQ(ends(hits).size(), 1u);
    EXPECT_EQ(ends(hits)[0].reading, kStart + 24);  // the register moves again
  }
}

TEST(MeterRules, SameVoltageToTheLastDigitOnSixteenReadingsIsAStuckMeter) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    const auto trace = make_trace({.seed = seed, .days = 5}, [&](size_t i, Physics& p) {
      if (i > kEventReading && i < kEventReading + 20) p.hold_voltage_reading = true;
    });
    // Sixteen identical values are fifteen repeats of the first.
    const size_t expected = first_run_end(kEventReading - 10, trace.size(), 15, [&](size_t i) {
      return trace[i].voltage_v == trace[i - 1].voltage_v;
    });
    const auto hits = run(kRules, trace);
    ASSERT_EQ(starts(hits).size(), 1u) << describe(hits);
    EXPECT_EQ(starts(hits)[0].reading, expected);
    EXPECT_LE(starts(hits)[0].reading, kEventReading + 15);
    EXPECT_EQ(starts(hits)[0].finding.type, RuleType::kStuckMeter);
    EXPECT_EQ(starts(hits)[0].finding.feature, "voltage_v.identical_readings");
    EXPECT_GE(starts(hits)[0].finding.observed, 16.0);
    ASSERT_EQ(ends(hits).size(), 1u);
    EXPECT_EQ(ends(hits)[0].reading, kEventReading + 20);
  }
}

TEST(MeterRules, FrozenPowerAndRegisterIsOneStuckMeterEpisode) {
  // The simulator's stuck meter: power and register frozen at the first window reading's values.
  constexpr size_t kStart = 3 * kReadingsPerDay + 64;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    double frozen_power = 0.0;
    const auto trace =
        make_trace({.seed = seed, .days = 5, .mean_load_w = 1200.0}, [&](size_t i, Physics& p) {
          if (i == kStart) frozen_power = std::round(p.load_w);
          if (i >= kStart && i < kStart + 16) p.power_w = frozen_power;
          if (i > kStart && i < kStart + 16) p.register_factor = 0.0;
        });
    const auto hits = run(kRules, trace);
    ASSERT_EQ(starts(hits).size(), 1u) << describe(hits);
    EXPECT_EQ(starts(hits)[0].finding.type, RuleType::kStuckMeter);
    EXPECT_EQ(starts(hits)[0].reading, kStart + 7);  // 8 identical power values: kStart .. kStart + 7
    ASSERT_EQ(ends(hits).size(), 1u);
    EXPECT_EQ(ends(hits)[0].reading, kStart + 16);
  }
}

TEST(MeterRules, LateAndDuplicateReadingsAreNotJudged) {
  const auto trace = make_trace({.days = 2});
  MeterRuleState st;
  for (size_t i = 0; i < 100; ++i) kRules.evaluate(trace[i], st);
  StateWriter before;
  encode(st, before);
  MeterSample sag = trace[99];
  sag.voltage_v = 150.0;  // a duplicate, then an older reading, both with a sag: neither is judged
  EXPECT_EQ(kRules.evaluate(sag, st).status, RuleEvaluation::Status::kLate);
  sag.event_time_ms -= 900'000;
  const RuleEvaluation e = kRules.evaluate(sag, st);
  EXPECT_EQ(e.status, RuleEvaluation::Status::kLate);
  EXPECT_TRUE(e.findings.empty());
  EXPECT_EQ(e.score, 0.0);
  StateWriter after;
  encode(st, after);
  EXPECT_EQ(before.bytes(), after.bytes());
}

TEST(MeterRules, NonFiniteReadingIsRejectedWithoutTouchingTheState) {
  const auto trace = make_trace({.days = 2});
  MeterRuleState st;
  for (size_t i = 0; i < 100; ++i) kRules.evaluate(trace[i], st);
  StateWriter before;
  encode(st, before);
  for (double bad : {std::nan(""), HUGE_VAL, -HUGE_VAL}) {
    MeterSample s = trace[100];
    s.current_a = bad;
    EXPECT_EQ(kRules.evaluate(s, st).status, RuleEvaluation::Status::kNonFinite);
  }
  StateWriter after;
  encode(st, after);
  EXPECT_EQ(before.bytes(), after.bytes());
}

TEST(MeterRules, AnUnreportedFieldNeitherStartsNorEndsItsEpisode) {
  const auto trace = make_trace({.days = 4});
  MeterRuleState st;
  for (size_t i = 0; i < kEventReading; ++i) kRules.evaluate(trace[i], st);
  MeterSample s = trace[kEventReading];
  s.voltage_v = 200.0;
  ASSERT_EQ(kRules.evaluate(s, st).findings.size(), 1u);  // sag starts
  s = trace[kEventReading + 1];
  s.present = static_cast<uint8_t>(s.present & ~MeterSample::kVoltage);
  EXPECT_TRUE(kRules.evaluate(s, st).findings.empty());  // voltage unknown: the sag is neither over nor new
  EXPECT_TRUE(st.episode_open(RuleType::kVoltageSag));
  const RuleEvaluation e = kRules.evaluate(trace[kEventReading + 2], st);
  ASSERT_EQ(e.findings.size(), 1u);
  EXPECT_EQ(e.findings[0].phase, EpisodePhase::kEnded);
}

TEST(MeterRules, ExtremeEventTimesDoNotOverflow) {
  MeterRuleState st;
  MeterSample s = make_trace({.days = 1})[0];
  s.event_time_ms = std::numeric_limits<int64_t>::min() + 1;
  EXPECT_EQ(kRules.evaluate(s, st).status, RuleEvaluation::Status::kJudged);
  s.event_time_ms = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(kRules.evaluate(s, st).status, RuleEvaluation::Status::kJudged);
  MeterRiskState risk;
  const MeterRiskScorer scorer;
  scorer.update(risk, std::numeric_limits<int64_t>::min() + 1, 0.5, RuleScores{});
  EXPECT_NEAR(scorer.update(risk, std::numeric_limits<int64_t>::max(), 0.5, RuleScores{}).ml, 0.5, 1e-6);
}

TEST(MeterRules, SampleCopiesOnlyTheFieldsTheMeterReported) {
  const MeterRules rules(MeterRulesConfig{.exporting_meter_prefixes = {"PV-"}});
  gridsentinel::v1::MeterReading r;
  r.set_meter_id("PV-12");
  r.set_event_time_ms(1'700'000'000'000);
  r.set_voltage_v(229.5);
  r.set_energy_kwh(1234.5);
  r.set_status_flags(5);
  r.set_interval_s(900);
  const MeterSample s = rules.sample(r);
  EXPECT_EQ(s.event_time_ms, 1'700'000'000'000);
  EXPECT_TRUE(s.has(MeterSample::kVoltage));
  EXPECT_TRUE(s.has(MeterSample::kEnergy));
  EXPECT_FALSE(s.has(MeterSample::kCurrent));
  EXPECT_FALSE(s.has(MeterSample::kPower));
  EXPECT_EQ(s.voltage_v, 229.5);
  EXPECT_EQ(s.status_flags, 5u);
  EXPECT_EQ(s.interval_s, 900u);
  EXPECT_TRUE(s.may_export);
  r.set_meter_id("MTR-12");
  EXPECT_FALSE(rules.sample(r).may_export);

  MeterRuleState st;
  r.set_voltage_v(180.0);
  r.set_status_flags(0);
  const RuleEvaluation e = rules.evaluate(r, st);
  ASSERT_EQ(e.findings.size(), 1u);
  EXPECT_EQ(e.findings[0].type, RuleType::kVoltageSag);
  EXPECT_EQ(e.findings[0].severity, SEVERITY_CRITICAL);
}

TEST(MeterRules, StateRoundTripsThroughTheCodecAndRejectsImpossibleValues) {
  MeterRuleState st;
  run(kRules, make_trace({.days = 5, .solar_peak_w = 2000.0}), &st);
  StateWriter w;
  encode(st, w);
  const std::string bytes = w.take();
  MeterRuleState back;
  StateReader r(bytes);
  ASSERT_TRUE(decode(r, back));
  EXPECT_TRUE(r.done());
  StateWriter again;
  encode(back, again);
  EXPECT_EQ(again.bytes(), bytes);

  MeterRuleState bad = st;
  bad.baseline_weight = 2.0F;
  StateWriter wb;
  encode(bad, wb);
  StateReader rb(wb.bytes());
  EXPECT_FALSE(decode(rb, back));
}

}  // namespace
}  // namespace gridsentinel::detectors
