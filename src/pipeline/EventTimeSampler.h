#pragma once
// EventTimeSampler: thins a kind's event stream to about `points_per_cycle` points per `cycle_ms` of event
// time, so that a fixed-size sample of a fleet model spans a fixed stretch of event time whatever the fleet's
// size.
//
// Used twice, for the same reason:
//   - K-S drift: fleet readings follow a daily cycle (household load peaks morning and evening, voltage
//     follows load), so two samples of the latest few hundred points compare morning with night and "drift"
//     every day. About `recent_size` points per day make each K-S sample cover a whole day, so only a change
//     of the whole day's distribution is drift. Before the first cycle has been counted nothing is kept.
//   - Isolation forest: its window of `window` points should be a sample of the whole fleet over the last
//     `window_span` of event time. Unthinned, on a fleet of 100k meters it would hold the last 2048 arrivals,
//     a fiftieth of one 15-minute interval's readings and whichever meters the head-end happened to send
//     together; thinned, every meter has the same chance to be in it. A small fleet (fewer than `window`
//     readings per span) is not thinned. Before the first cycle has been counted everything is kept (the
//     forest warms up as fast as unthinned).
// How: the first cycle is only counted; after each cycle the keep probability becomes points_per_cycle /
// (points seen in the last cycle), capped at 1. The decision is a uniform variate derived from a hash of
// (entity, event time), so it is deterministic: a replay or a restart keeps the same points. Independent
// samplers of one stream take independent variates from one hash (variate(hash, salt)). O(1) per point, 40
// bytes, trivially copyable (saved as bytes with the fleet models).
#include <cstdint>
#include <limits>
#include <string_view>

#include "common/StableHash.h"

namespace gridsentinel::pipeline {

class EventTimeSampler {
 public:
  // `keep_first_cycle`: the keep probability until the first cycle has been counted (0 or 1 above).
  EventTimeSampler(int64_t cycle_ms, uint32_t points_per_cycle, double keep_first_cycle = 0.0)
      : cycle_ms_(cycle_ms), target_(points_per_cycle), keep_(keep_first_cycle) {}

  // The hash a point's decisions derive from.
  static uint64_t hash(std::string_view entity, int64_t t) { return StableHash().add(entity).add(t).low64(); }
  // A uniform 64-bit variate per (hash, salt); salt 0 is the hash itself.
  static uint64_t variate(uint64_t hash, uint64_t salt) { return salt == 0 ? hash : mix64(hash ^ salt); }

  // Counts the point and says whether it is kept; `u` is its variate.
  bool keep(uint64_t u, int64_t t) {
    const int64_t cycle = t >= 0 ? t / cycle_ms_ : -1;
    if (cycle > cycle_) {
      if (cycle_ != std::numeric_limits<int64_t>::min() && seen_ > 0)
        keep_ = std::min(1.0, static_cast<double>(target_) / static_cast<double>(seen_));
      cycle_ = cycle;
      seen_ = 0;
    }
    ++seen_;
    if (keep_ <= 0) return false;
    return static_cast<double>(u >> 11) * 0x1.0p-53 < keep_;
  }
  double keep_probability() const { return keep_; }
  // For a restored copy: built with the same cycle and target as `configured`, and a keep probability in
  // [0, 1] (restored bytes are checked before use).
  bool restorable_as(const EventTimeSampler& configured) const {
    return cycle_ms_ == configured.cycle_ms_ && target_ == configured.target_ && keep_ >= 0.0 && keep_ <= 1.0;
  }

 private:
  int64_t cycle_ms_;
  uint32_t target_;
  int64_t cycle_ = std::numeric_limits<int64_t>::min();
  uint64_t seen_ = 0;
  double keep_ = 0;
};

}  // namespace gridsentinel::pipeline
