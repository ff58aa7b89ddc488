// MeterRulesDetector through the shared detector conformance suite (tests/conformance/DetectorConformance.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "conformance/DetectorConformance.h"
#include "detectors/rules/MeterRulesDetector.h"
#include "meter_trace.h"

namespace gridsentinel::detectors {

struct MeterRulesTraits {
  using Detector = MeterRulesDetector;
  using Input = MeterSample;
  static Detector make(uint64_t) { return MeterRulesDetector(MeterRulesConfig{}); }
  // Six days of a household; after the exporter commissioning window, single readings carry a sag, a swell,
  // an interruption, an undeclared export, a bypass or a tamper flag, at least four readings apart.
  static std::vector<testing::Labelled<Input>> fixture(uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<size_t> events;
    for (size_t i = 2 * testing::kReadingsPerDay + 20; i < 6 * testing::kReadingsPerDay - 4;
         i += 4 + rng() % 20)
      events.push_back(i);
    std::vector<bool> label(6 * testing::kReadingsPerDay, false);
    const auto trace = testing::make_trace({.seed = seed, .days = 6}, [&](size_t i, testing::Physics& p) {
      const auto it = std::find(events.begin(), events.end(), i);
      if (it == events.end()) return;
      label[i] = true;
      switch ((it - events.begin()) % 6) {
        case 0:
          p.voltage_v = 196.0 + static_cast<double>(rng() % 10);
          break;
        case 1:
          p.voltage_v = 256.0 + static_cast<double>(rng() % 10);
          break;
        case 2:
          p.voltage_v = 0.3, p.load_w = 0.0;
          break;
        case 3:
          p.solar_w = p.load_w + 600.0 + static_cast<double>(rng() % 1500);
          break;
        case 4:
          p.voltage_v = 0.5, p.current_a = 4.0 + static_cast<double>(rng() % 8), p.power_w = 3.0;
          break;
        default:
          p.status_flags = 1u << (rng() % 3);
          break;
      }
    });
    std::vector<testing::Labelled<Input>> out;
    for (size_t i = 0; i < trace.size(); ++i) out.push_back({trace[i], label[i]});
    return out;
  }
  static Input with_nan(const Input& like) {
    Input s = like;
    s.voltage_v = std::nan("");
    return s;
  }
  static constexpr double kMinAuc = 0.95;
};

}  // namespace gridsentinel::detectors

namespace gridsentinel::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(MeterRules, DetectorConformance,
                               ::testing::Types<detectors::MeterRulesTraits>);
}

namespace gridsentinel::detectors {
namespace {

TEST(MeterRulesDetector, JudgeReturnsTheFindingsLearnWouldFoldIn) {
  const auto stream = MeterRulesTraits::fixture(21);
  MeterRulesDetector a, b;
  size_t findings = 0;
  for (const auto& p : stream) {
    const double s = a.score(p.input);
    const RuleEvaluation e = a.judge(p.input);
    b.learn(p.input);
    if (a.warmed_up()) {
      EXPECT_EQ(s, e.score);
    }
    findings += e.findings.size();
  }
  EXPECT_EQ(a.save(), b.save());
  EXPECT_GT(findings, 0u);
}

TEST(MeterRulesDetector, RestoreRejectsAnotherFormatVersion) {
  MeterRulesDetector d;
  for (const auto& p : MeterRulesTraits::fixture(2)) d.learn(p.input);
  std::string state = d.save();
  state[0] = static_cast<char>(state[0] + 1);
  MeterRulesDetector fresh;
  EXPECT_FALSE(fresh.restore(state));
  EXPECT_FALSE(fresh.warmed_up());
}

}  // namespace
}  // namespace gridsentinel::detectors
