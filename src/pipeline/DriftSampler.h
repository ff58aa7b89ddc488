#pragma once
// DriftSampler: thins a kind's event stream so that each K-S sample spans a whole seasonal cycle.
//
// Why: fleet readings follow a daily cycle (household load peaks morning and evening, voltage follows load),
// so two samples of the latest few hundred points compare morning with night and "drift" every day. Feeding
// the drift detector about `points_per_cycle` points per `cycle_ms` of event time makes its reference and
// recent samples each cover a full cycle, so only a change of the whole day's distribution is drift. How: the
// first cycle is only counted; after each cycle the keep probability becomes points_per_cycle / (points seen
// in the last cycle). The decision hashes (entity, event time), so it is deterministic and a replay or a
// restart keeps the same points. O(1) per point, 40 bytes.
#include <cstdint>
#include <limits>
#include <string_view>

#include "common/StableHash.h"

namespace gridsentinel::pipeline {

class DriftSampler {
 public:
  DriftSampler(int64_t cycle_ms, uint32_t points_per_cycle)
      : cycle_ms_(cycle_ms), target_(points_per_cycle) {}

  bool keep(std::string_view entity, int64_t t) {
    const int64_t cycle = t >= 0 ? t / cycle_ms_ : -1;
    if (cycle > cycle_) {
      if (cycle_ != std::numeric_limits<int64_t>::min() && seen_ > 0)
        keep_ = std::min(1.0, static_cast<double>(target_) / static_cast<double>(seen_));
      cycle_ = cycle;
      seen_ = 0;
    }
    ++seen_;
    if (keep_ <= 0) return false;
    const uint64_t h = StableHash().add(entity).add(t).low64();
    return static_cast<double>(h >> 11) * 0x1.0p-53 < keep_;
  }
  double keep_probability() const { return keep_; }

 private:
  int64_t cycle_ms_;
  uint32_t target_;
  int64_t cycle_ = std::numeric_limits<int64_t>::min();
  uint64_t seen_ = 0;
  double keep_ = 0;  // 0 until the first full cycle has been counted
};

}  // namespace gridsentinel::pipeline
