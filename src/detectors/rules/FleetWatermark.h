#pragma once
// FleetWatermark: how far the fleet's event time has got, for judging silence (SilenceTracker.h) without a
// clock.
//
// watermark = the `quantile` of the last `sample_size` event times observed, minus `allowed_lateness_ms`,
// never moving backwards. A high quantile rather than the maximum, so that a few meters with a wrong clock (a
// year ahead, CLOCK_INVALID) cannot make the whole fleet look silent; the lateness lets stragglers of the
// same round arrive before anyone is judged. No readings, no movement: an idle fleet raises no silence.
// Before `min_samples` readings have been observed the watermark is kUnknown (nothing is judged).
//
// Scope: one consumer of time-ordered-ish data. When partitions are consumed at different speeds (a replay
// that reads one partition ahead of another), feed one FleetWatermark per partition and judge against the
// minimum of their watermarks, as stream processors do. Cost: observe() O(1); watermark() O(sample_size) (a
// selection on a preallocated scratch copy), so call it per batch or per tick, not per reading. Memory: 16
// bytes x sample_size (64 KiB at the default), allocated once.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace gridsentinel::detectors {

struct FleetWatermarkConfig {
  uint32_t sample_size = 4096;            // recent event times kept
  double quantile = 0.99;                 // of those, the one taken as the fleet's progress
  int64_t allowed_lateness_ms = 300'000;  // subtracted: readings this late still count as on time
  uint32_t min_samples = 64;              // observed readings before any watermark is given
  std::string validate() const;
};

class FleetWatermark {
 public:
  static constexpr int64_t kUnknown = std::numeric_limits<int64_t>::min();

  // Throws std::invalid_argument when `cfg.validate()` fails (start-up only).
  explicit FleetWatermark(FleetWatermarkConfig cfg = {});

  void observe(int64_t event_time_ms);
  // The current watermark (monotone), or kUnknown.
  int64_t watermark();
  // Continues from a watermark this partition had reached before (a checkpoint's, restored on another
  // instance): the watermark is at least `watermark` from now on, also before min_samples new readings.
  // Without it a restored partition would be kUnknown until it delivers min_samples readings and, before its
  // first one, would not hold the fleet back at all, so that its restored meters were judged against
  // partitions read ahead of it. kUnknown changes nothing.
  void resume_from(int64_t watermark) { watermark_ = std::max(watermark_, watermark); }
  uint64_t observed() const { return observed_; }
  // The watermark as the last watermark() call (or resume_from) left it, without looking at what was observed
  // since: O(1), for callers that can do with a slightly older value.
  int64_t last() const { return watermark_; }

 private:
  FleetWatermarkConfig cfg_;
  std::vector<int64_t> ring_;
  std::vector<int64_t> scratch_;
  size_t next_ = 0;
  uint64_t observed_ = 0;
  uint64_t observed_at_last_ = 0;
  int64_t watermark_ = kUnknown;
};

}  // namespace gridsentinel::detectors
