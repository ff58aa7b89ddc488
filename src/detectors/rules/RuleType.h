#pragma once
// The anomaly types the meter domain rules report, with their stable names.
//
// The names are part of the output contract: they appear as Alert.anomaly_type on the alerts topic and as
// label values of the metrics, so they never change once released (tests pin them). The enum is bounded and
// dense, so per-type tables (scores, weights, episode bits) are plain arrays indexed by it.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace gridsentinel::detectors {

enum class RuleType : uint8_t {
  kVoltageSag = 0,   // supply below the EN 50160 dip level (90% of nominal), above the interruption level
  kVoltageSwell,     // supply above +10% of nominal
  kOutage,           // supply below ~5% of nominal with no current drawn (an interruption)
  kReverseFlow,      // export on a meter that should not export
  kBypass,           // current without voltage, or a register counting far less than the power implies
  kTamper,           // the meter raised a tamper flag (cover, terminal, magnetic field, neutral imbalance)
  kConsumptionDrop,  // sustained consumption far below the meter's own history (a theft indicator)
  kStuckMeter,       // the register or the measured values stopped moving while the load did not
  kMissingReadings,  // the meter fell silent while the fleet's event time moved on (SilenceTracker)
};
inline constexpr size_t kRuleTypeCount = 9;

// One value per rule type, indexed by `index(RuleType)`.
using RuleScores = std::array<float, kRuleTypeCount>;

constexpr size_t index(RuleType t) {
  return static_cast<size_t>(t);
}

inline constexpr std::array<std::string_view, kRuleTypeCount> kRuleTypeNames = {
    "voltage_sag", "voltage_swell",    "outage",      "reverse_flow",     "bypass",
    "tamper",      "consumption_drop", "stuck_meter", "missing_readings",
};

constexpr std::string_view to_string(RuleType t) {
  return index(t) < kRuleTypeCount ? kRuleTypeNames[index(t)] : std::string_view("unknown");
}

constexpr std::optional<RuleType> parse_rule_type(std::string_view name) {
  for (size_t i = 0; i < kRuleTypeCount; ++i)
    if (kRuleTypeNames[i] == name) return static_cast<RuleType>(i);
  return std::nullopt;
}

}  // namespace gridsentinel::detectors
