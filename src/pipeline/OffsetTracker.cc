#include "pipeline/OffsetTracker.h"

namespace gridsentinel::pipeline {

int OffsetTracker::slot_of(std::string_view topic, int32_t partition) const {
  // Records come in runs of one partition (a fetched batch at a time): the last slot found is checked first,
  // sparing a scan over every assigned partition per record (hundreds of slots at 128 partitions a topic).
  const auto matches = [&](size_t i) {
    return slots_[i].active && slots_[i].partition == partition && slots_[i].topic == topic;
  };
  if (last_slot_ < slots_.size() && matches(last_slot_)) return static_cast<int>(last_slot_);
  for (size_t i = 0; i < slots_.size(); ++i)
    if (matches(i)) {
      last_slot_ = i;
      return static_cast<int>(i);
    }
  return -1;
}

void OffsetTracker::assign(const std::string& topic, int32_t partition) {
  if (slot_of(topic, partition) >= 0) return;
  size_t i = 0;
  while (i < slots_.size() && slots_[i].active) ++i;
  if (i == slots_.size()) {
    if (slots_.size() >= (1u << kSlotBits)) return;  // 4096 partitions per instance at most
    slots_.emplace_back();
  }
  Partition& p = slots_[i];
  const uint32_t gen = p.generation + 1;
  p = Partition{};
  p.topic = topic;
  p.partition = partition;
  p.generation = gen;
  p.active = true;
}

void OffsetTracker::revoke(const std::string& topic, int32_t partition) {
  const int i = slot_of(topic, partition);
  if (i < 0) return;
  Partition& p = slots_[static_cast<size_t>(i)];
  for (const auto& e : p.entries)
    if (e.pending > 0) --inflight_;
  p.entries.clear();
  p.active = false;
}

void OffsetTracker::revoke_all() {
  for (auto& p : slots_)
    if (p.active) revoke(p.topic, p.partition);
}

bool OffsetTracker::assigned(std::string_view topic, int32_t partition) const {
  return slot_of(topic, partition) >= 0;
}

std::optional<OffsetTracker::Token> OffsetTracker::begin(std::string_view topic, int32_t partition,
                                                         int64_t offset, int64_t consumed_ns,
                                                         int64_t created_ms) {
  const int i = slot_of(topic, partition);
  if (i < 0) return std::nullopt;
  Partition& p = slots_[static_cast<size_t>(i)];
  const uint64_t seq = p.base_seq + p.entries.size();
  p.entries.push_back({offset, consumed_ns, created_ms, 1});
  ++inflight_;
  return make_token(static_cast<uint32_t>(i), p.generation, seq);
}

OffsetTracker::Entry* OffsetTracker::entry(Token t, Partition** out) {
  const auto slot = static_cast<size_t>(t >> (kGenBits + kSeqBits));
  const auto gen = static_cast<uint32_t>((t >> kSeqBits) & ((1u << kGenBits) - 1));
  const uint64_t seq = t & ((uint64_t{1} << kSeqBits) - 1);
  if (slot >= slots_.size()) return nullptr;
  Partition& p = slots_[slot];
  if (!p.active || (p.generation & ((1u << kGenBits) - 1)) != gen) return nullptr;
  const uint64_t base = p.base_seq & ((uint64_t{1} << kSeqBits) - 1);
  if (seq < base || seq - base >= p.entries.size()) return nullptr;
  *out = &p;
  return &p.entries[seq - base];
}

void OffsetTracker::add_pending(Token t) {
  Partition* p = nullptr;
  if (Entry* e = entry(t, &p); e && e->pending > 0) ++e->pending;
}

void OffsetTracker::advance(Partition& p) {
  while (!p.entries.empty() && p.entries.front().pending == 0) {
    p.committable = p.entries.front().offset + 1;
    p.dirty = true;
    p.entries.pop_front();
    ++p.base_seq;
  }
}

std::vector<OffsetTracker::Committable> OffsetTracker::take_committable() {
  std::vector<Committable> out;
  for (auto& p : slots_) {
    if (!p.active || !p.dirty) continue;
    out.push_back({p.topic, p.partition, p.committable});
    p.dirty = false;
  }
  return out;
}

}  // namespace gridsentinel::pipeline
