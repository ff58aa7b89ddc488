#pragma once
// OffsetTracker: at-least-once offset bookkeeping per assigned partition.
//
// Each consumed record holds one "pending" count while it is processed, plus one per output (alert, dead
// letter) it produced, released when the broker acknowledges that output. A partition's committable offset
// advances only over a contiguous prefix of records whose counts reached zero, so an offset is never stored
// while an alert from it or from any earlier record is still unacknowledged. Tokens carry a partition slot, a
// generation and a sequence number: an acknowledgement arriving after its partition was revoked (and perhaps
// re-assigned) is ignored. Memory: one 32-byte entry per in-flight record; the runner bounds in-flight
// records (limits.max_inflight_records). Not thread-safe: used from the processing thread only (delivery
// reports are served there too).
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace gridsentinel::pipeline {

class OffsetTracker {
 public:
  using Token = uint64_t;

  void assign(const std::string& topic, int32_t partition);
  void revoke(const std::string& topic, int32_t partition);
  void revoke_all();
  bool assigned(std::string_view topic, int32_t partition) const;

  // Starts tracking a consumed record; returns its token (holding one pending count), or nullopt when the
  // partition is not assigned.
  // `created_ms` is the record's Kafka timestamp (-1 when absent), handed back on completion.
  std::optional<Token> begin(std::string_view topic, int32_t partition, int64_t offset, int64_t consumed_ns,
                             int64_t created_ms = -1);
  void add_pending(Token t);
  // Releases one pending count. When a record completes, `on_complete(consumed_ns, created_ms)` is called
  // (latency metrics).
  template <class F>
  void release(Token t, F&& on_complete);
  void release(Token t) {
    release(t, [](int64_t, int64_t) {});
  }

  // Offsets (next offset to consume) that advanced since the last call: topic, partition, offset.
  struct Committable {
    std::string topic;
    int32_t partition;
    int64_t offset;
  };
  std::vector<Committable> take_committable();
  size_t inflight() const { return inflight_; }

 private:
  struct Entry {
    int64_t offset;
    int64_t consumed_ns;
    int64_t created_ms;
    uint32_t pending;
  };
  struct Partition {
    std::string topic;
    int32_t partition = -1;
    uint32_t generation = 0;
    bool active = false;
    std::deque<Entry> entries;
    uint64_t base_seq = 0;  // sequence number of entries.front()
    int64_t committable = -1;
    bool dirty = false;
  };
  mutable size_t last_slot_ = 0;  // slot_of's last hit, checked first (validated like any other slot)
  static constexpr int kSlotBits = 12, kGenBits = 12, kSeqBits = 40;
  static Token make_token(uint32_t slot, uint32_t gen, uint64_t seq) {
    return (uint64_t{slot} << (kGenBits + kSeqBits)) | (uint64_t{gen & ((1u << kGenBits) - 1)} << kSeqBits) |
           (seq & ((uint64_t{1} << kSeqBits) - 1));
  }
  Entry* entry(Token t, Partition** p);
  void advance(Partition& p);
  int slot_of(std::string_view topic, int32_t partition) const;

  std::vector<Partition> slots_;
  size_t inflight_ = 0;
  std::vector<int64_t> completed_scratch_;
};

template <class F>
void OffsetTracker::release(Token t, F&& on_complete) {
  Partition* p = nullptr;
  Entry* e = entry(t, &p);
  if (!e || e->pending == 0) return;
  if (--e->pending == 0) {
    --inflight_;
    on_complete(e->consumed_ns, e->created_ms);
    advance(*p);
  }
}

}  // namespace gridsentinel::pipeline
