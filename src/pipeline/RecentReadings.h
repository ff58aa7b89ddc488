#pragma once
// RecentReadings: the digests of an entity's few readings just before its newest one, by event time, so that
// a repeat of any of them (a head-end or exporter retrying a send of several intervals) is recognised, not
// only a repeat of the newest.
//
// Why: a reading within the allowed lateness of the entity's newest is scored. Resent, it would be learned a
// second time and count its interval twice in every window of its entity; sent again with other values, both
// values would be learned for one interval. The newest reading's digest sits in EntityState; this holds the
// next kCapacity older ones that are still within the lateness (a meter reading every 15 minutes under the
// default hour of lateness has four such readings).
//
// Each entry is the reading's age (how far its event time lies before the entity's newest, in ms) and its
// digest (never 0; 0 marks an empty entry). Ages move with the newest reading, so no entry holds an absolute
// time: 32 bytes an entity. An entry older than the lateness, or than 2^32 ms (49.7 days, for a lateness
// configured longer than that), is dropped: such a reading is refused as late, or in the second case scored
// again. When more than kCapacity earlier readings are within the lateness (a cadence finer than a quarter of
// it), the youngest are kept: a repeat of an older one is scored again. Pure: no I/O, O(kCapacity) a call,
// never throws, trivially copyable. Not checkpointed (as the newest digest: see ProcessorState.cc).
#include <array>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace gridsentinel::pipeline {

class RecentReadings {
 public:
  static constexpr size_t kCapacity = 4;
  enum class Match : uint8_t {
    kNone,   // no reading held at that age
    kSame,   // a reading at that age with this digest: a repeat
    kOther,  // a reading at that age with another digest: a conflicting reading
  };

  // What is held `age_ms` before the entity's newest reading.
  Match find(uint64_t age_ms, uint32_t digest) const {
    for (size_t i = 0; i < kCapacity; ++i)
      if (digest_[i] != 0 && age_ms_[i] == age_ms) return digest_[i] == digest ? Match::kSame : Match::kOther;
    return Match::kNone;
  }

  // The entity's newest reading moved `advance_ms` (> 0) later; the previous newest, with digest `previous`
  // (0 when unknown), is now that old. Every entry ages by as much; those past `horizon_ms` (the allowed
  // lateness) leave.
  void advance(uint64_t advance_ms, uint32_t previous, uint64_t horizon_ms) {
    assert(advance_ms > 0);
    const uint64_t limit = horizon_ms < kMaxAge ? horizon_ms : kMaxAge;
    for (size_t i = 0; i < kCapacity; ++i) {
      const uint64_t aged = uint64_t{age_ms_[i]} + advance_ms;  // no overflow: both below 2^63
      if (aged > limit) digest_[i] = 0;
      age_ms_[i] = digest_[i] != 0 ? static_cast<uint32_t>(aged) : 0;
    }
    if (previous != 0 && advance_ms <= limit) add(advance_ms, previous);
  }

  // A reading `age_ms` before the newest was scored: it replaces one held at the same age, else takes an
  // empty entry, else the oldest one's when that is older; otherwise (every entry younger) it is not held.
  void add(uint64_t age_ms, uint32_t digest) {
    if (age_ms > kMaxAge || digest == 0) return;
    size_t slot = 0;
    bool empty = false;
    for (size_t i = 0; i < kCapacity; ++i) {
      if (digest_[i] != 0 && age_ms_[i] == age_ms) {
        digest_[i] = digest;
        return;
      }
      if (empty) continue;
      if (digest_[i] == 0) {
        slot = i;
        empty = true;
      } else if (age_ms_[i] > age_ms_[slot]) {
        slot = i;
      }
    }
    if (digest_[slot] != 0 && age_ms_[slot] <= age_ms) return;
    age_ms_[slot] = static_cast<uint32_t>(age_ms);
    digest_[slot] = digest;
  }

  size_t size() const {
    size_t n = 0;
    for (const uint32_t d : digest_) n += d != 0;
    return n;
  }

 private:
  static constexpr uint64_t kMaxAge = UINT32_MAX;
  std::array<uint32_t, kCapacity> age_ms_{};
  std::array<uint32_t, kCapacity> digest_{};
};
static_assert(sizeof(RecentReadings) == 32 && std::is_trivially_copyable_v<RecentReadings>);

}  // namespace gridsentinel::pipeline
