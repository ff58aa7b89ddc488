#pragma once
// What a rule reports: one Finding per episode transition (start or end), carried in a fixed-capacity list so
// that judging a reading never touches the heap.
//
// A Finding holds everything an Alert needs besides the entity and the clock: type, severity, score, the
// judged feature with its unit, the observed value, the expected range and one sentence of explanation.
// Ranges that are one-sided (e.g. "export must stay above -100 W") carry +-infinity on the open side; the
// proto3 JSON mapping writes those as "Infinity"/"-Infinity".
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "detectors/rules/RuleType.h"
#include "gridsentinel/v1/alert.pb.h"

namespace gridsentinel::detectors {

enum class EpisodePhase : uint8_t {
  kStarted,  // the condition began on this reading: the finding to alert on
  kEnded,    // the condition cleared on this reading (score 0, severity INFO): the episode is closed
};

struct Finding {
  static constexpr size_t kExplanationCapacity = 128;  // including the terminating NUL

  RuleType type = RuleType::kVoltageSag;
  EpisodePhase phase = EpisodePhase::kStarted;
  gridsentinel::v1::Severity severity = gridsentinel::v1::SEVERITY_UNSPECIFIED;
  int64_t event_time_ms = 0;  // event time of the reading that started or ended the episode
  double score = 0.0;         // in [0, 1]
  double observed = 0.0;      // in the unit `feature` names
  double expected_low = 0.0;  // edges of the range that would not have raised the finding, same unit
  double expected_high = 0.0;
  std::string_view feature;  // a static string: feature name with unit suffix, e.g. "voltage_v"
  std::array<char, kExplanationCapacity> explanation{};  // NUL-terminated, truncated if longer

  std::string_view name() const { return to_string(type); }
  std::string_view explanation_text() const { return std::string_view(explanation.data()); }
};

// At most one transition per rule type per reading, so kRuleTypeCount findings always fit.
class FindingList {
 public:
  static constexpr size_t kCapacity = kRuleTypeCount;

  // Returns false (and drops the finding) when full; cannot happen for one reading's transitions.
  bool push(const Finding& f) {
    if (size_ == kCapacity) return false;
    items_[size_++] = f;
    return true;
  }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const Finding& operator[](size_t i) const { return items_[i]; }
  const Finding* begin() const { return items_.data(); }
  const Finding* end() const { return items_.data() + size_; }

 private:
  std::array<Finding, kCapacity> items_{};
  uint8_t size_ = 0;
};

}  // namespace gridsentinel::detectors
