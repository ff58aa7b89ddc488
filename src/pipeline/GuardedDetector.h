#pragma once
// One per-entity detector with what the Processor keeps beside it: its learning guard (the run of flagged
// points, detectors/Detector.h) and its alert episode (cooldown, detectors/EpisodeTracker.h).
//
// OptionalGuarded is std::optional<Guarded<D>> for a detector a kind may have switched off (IQR, spike), in
// Guarded's own size: std::optional adds its flag after the 80-byte Guarded and rounds up to 88, here the
// flag sits in the padding between the guard and the episode. 16 bytes of each meter's ~2 kB of state.
#include <new>
#include <type_traits>
#include <utility>

#include "detectors/Detector.h"
#include "detectors/EpisodeTracker.h"

namespace gridsentinel::pipeline {

template <class D>
struct Guarded {
  D detector;
  detectors::LearningGuard guard;
  detectors::EpisodeTracker episode;
};

// Engaged (holding a detector) or not, like std::optional: `if (slot)`, `slot->detector`, `*slot`. The guard
// and the episode exist either way (they are trivial); only the detector's lifetime follows the flag.
template <class D>
class OptionalGuarded {
  static_assert(std::is_nothrow_move_constructible_v<D> && std::is_nothrow_move_assignable_v<D>);

 public:
  OptionalGuarded() noexcept {}  // NOLINT(modernize-use-equals-default): the union member stays unconstructed
  explicit OptionalGuarded(D d) : detector(std::move(d)), engaged_(true) {}
  OptionalGuarded(const OptionalGuarded& o) : guard(o.guard), episode(o.episode) {
    if (o.engaged_) construct(o.detector);
  }
  OptionalGuarded(OptionalGuarded&& o) noexcept : guard(o.guard), episode(o.episode) {
    if (o.engaged_) construct(std::move(o.detector));
  }
  OptionalGuarded& operator=(const OptionalGuarded& o) {
    if (this != &o) {
      if (engaged_ && o.engaged_) {
        detector = o.detector;
      } else {
        reset();
        if (o.engaged_) construct(o.detector);
      }
      guard = o.guard;
      episode = o.episode;
    }
    return *this;
  }
  OptionalGuarded& operator=(OptionalGuarded&& o) noexcept {
    if (this != &o) {
      if (engaged_ && o.engaged_) {
        detector = std::move(o.detector);
      } else {
        reset();
        if (o.engaged_) construct(std::move(o.detector));
      }
      guard = o.guard;
      episode = o.episode;
    }
    return *this;
  }
  ~OptionalGuarded() { reset(); }

  bool has_value() const { return engaged_; }
  explicit operator bool() const { return engaged_; }
  // The slot itself (detector, guard, episode), as std::optional's * and -> give the value. Only while
  // engaged is `detector` alive.
  OptionalGuarded& operator*() { return *this; }
  const OptionalGuarded& operator*() const { return *this; }
  OptionalGuarded* operator->() { return this; }
  const OptionalGuarded* operator->() const { return this; }

  union {
    D detector;  // alive while engaged
  };
  detectors::LearningGuard guard;

 private:
  template <class... A>
  void construct(A&&... a) {
    new (&detector) D(std::forward<A>(a)...);
    engaged_ = true;
  }
  void reset() noexcept {
    if (engaged_) detector.~D();
    engaged_ = false;
  }
  bool engaged_ = false;

 public:
  detectors::EpisodeTracker episode;
};

}  // namespace gridsentinel::pipeline
