#pragma once
// EpisodeTracker: one alert per episode. A condition (detector + anomaly type) that keeps firing on the same
// entity is reported once, then suppressed until `cooldown_ms` of event time has passed since the last
// report, or until the condition changes type. Event time, not wall time, so that a replay or a restart after
// a lag gives the same alerts (and the same deterministic alert ids) as the live run did.
// Memory: 8 bytes per tracked (entity, detector slot): the last report's event time as a 56-bit signed
// millisecond count (+-1.1 million years; times beyond are clamped, which only merges episodes there) and
// the type in the top byte. There are five per meter, so the 16 bytes an int64 and a byte took cost 40.
#include <algorithm>
#include <cstdint>
#include <limits>

namespace gridsentinel::detectors {

class EpisodeTracker {
 public:
  // Returns true when a flagged point of `type` at `time_ms` should be reported.
  bool should_report(uint8_t type, int64_t time_ms, int64_t cooldown_ms) {
    const int64_t last = last_report_ms();
    time_ms = std::clamp(time_ms, -kMaxMs, kMaxMs);
    // Out-of-order points within the cool-down of the last report belong to the same episode, on either side.
    if (type == last_type() && last != kNever && time_ms > last - cooldown_ms && time_ms < last + cooldown_ms)
      return false;
    restore(type, time_ms);
    return true;
  }
  // Event time of the last report, or INT64_MIN before the first.
  int64_t last_report_ms() const {
    const int64_t t = static_cast<int64_t>(word_ << 8) >> 8;  // sign-extends the low 56 bits
    return t == kNeverCode ? kNever : t;
  }
  uint8_t last_type() const { return static_cast<uint8_t>(word_ >> 56); }
  void restore(uint8_t type, int64_t last_report_ms) {
    const int64_t t = last_report_ms == kNever ? kNeverCode : std::clamp(last_report_ms, -kMaxMs, kMaxMs);
    word_ = (uint64_t{type} << 56) | (static_cast<uint64_t>(t) & kLow56);
  }

 private:
  static constexpr int64_t kNever = std::numeric_limits<int64_t>::min();
  static constexpr int64_t kMaxMs = (int64_t{1} << 55) - 1;
  static constexpr int64_t kNeverCode = -(int64_t{1} << 55);  // the one 56-bit value no clamped time takes
  static constexpr uint64_t kLow56 = (uint64_t{1} << 56) - 1;
  uint64_t word_ = static_cast<uint64_t>(kNeverCode) & kLow56;
};

static_assert(sizeof(EpisodeTracker) == 8);

}  // namespace gridsentinel::detectors
