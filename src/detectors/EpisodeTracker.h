#pragma once
// EpisodeTracker: one alert per episode. A condition (detector + anomaly type) that keeps firing on the same
// entity is reported once, then suppressed until `cooldown_ms` of event time has passed since the last
// report, or until the condition changes type. Event time, not wall time, so that a replay or a restart after
// a lag gives the same alerts (and the same deterministic alert ids) as the live run did. Memory: 12 bytes
// per tracked (entity, detector slot).
#include <cstdint>
#include <limits>

namespace gridsentinel::detectors {

class EpisodeTracker {
 public:
  // Returns true when a flagged point of `type` at `time_ms` should be reported.
  bool should_report(uint8_t type, int64_t time_ms, int64_t cooldown_ms) {
    // Out-of-order points within the cool-down of the last report belong to the same episode, on either side.
    if (type == last_type_ && last_report_ms_ != kNever && time_ms > last_report_ms_ - cooldown_ms &&
        time_ms < last_report_ms_ + cooldown_ms)
      return false;
    last_type_ = type;
    last_report_ms_ = time_ms;
    return true;
  }
  int64_t last_report_ms() const { return last_report_ms_; }
  uint8_t last_type() const { return last_type_; }
  void restore(uint8_t type, int64_t last_report_ms) {
    last_type_ = type;
    last_report_ms_ = last_report_ms;
  }

 private:
  static constexpr int64_t kNever = std::numeric_limits<int64_t>::min();
  int64_t last_report_ms_ = kNever;
  uint8_t last_type_ = 0;
};

}  // namespace gridsentinel::detectors
