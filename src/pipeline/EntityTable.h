#pragma once
// EntityTable: entity id -> dense index, bounded. Ids are looked up without allocating; a new id beyond
// `capacity` is refused (the caller dead-letters the record as "entity_limit" and counts it), so memory stays
// bounded whatever the input. Entities leave when their partition moves to another instance (erase); freed
// indices are reused, so indices stay dense and handles given to other components (the silence tracker) stay
// below capacity. Not thread-safe.
//
// The index is an open-addressing hash table of 8-byte slots (32 bits of the id's hash, index + 1; linear
// probing, load <= 3/4, backward-shift deletion, so no tombstones): the id itself is stored once, in `ids_`.
// At a million meters that is 11-21 bytes of index per entity where a node-based map took ~75 (a node with
// a second copy of the id, plus its bucket); the id takes 16 bytes (CompactId) where a std::string took 32.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/CompactId.h"

namespace gridsentinel::pipeline {

template <class State>
class EntityTable {
 public:
  explicit EntityTable(uint32_t capacity) : capacity_(capacity) {}

  // The entity's index, creating it with `make()` when new; nullopt when the table is full.
  template <class Make>
  std::optional<uint32_t> find_or_insert(std::string_view id, Make&& make) {
    const uint64_t h = hash(id);
    size_t slot = 0;
    if (auto idx = lookup(id, h, &slot)) return idx;
    if (size() >= capacity_) return std::nullopt;
    uint32_t idx;
    if (!free_.empty()) {
      idx = free_.back();
      free_.pop_back();
      ids_[idx] = CompactId(id);
      states_[idx] = make();
      live_[idx] = 1;
    } else {
      idx = static_cast<uint32_t>(states_.size());
      ids_.emplace_back(id);
      states_.push_back(make());
      live_.push_back(1);
    }
    if ((size() + 1) * 4 > slots_.size() * 3) {
      grow();
      lookup(id, h, &slot);  // the free slot moved
    }
    slots_[slot] = pack(h, idx);
    return idx;
  }
  // Starts loading the index slot where a lookup of `id` begins (a cache miss with many entities), so that
  // a lookup soon after finds it in cache. Changes nothing.
  void prefetch(std::string_view id) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[static_cast<uint32_t>(hash(id)) & mask()]);
  }
  std::optional<uint32_t> find(std::string_view id) const {
    size_t slot = 0;
    return lookup(id, hash(id), &slot);
  }
  // Removes the entity at `idx` (a live index); its index may be handed out again.
  void erase(uint32_t idx) {
    size_t slot = 0;
    if (lookup(ids_[idx].view(), hash(ids_[idx].view()), &slot)) remove_slot(slot);
    ids_[idx] = CompactId();
    states_[idx] = State{};
    live_[idx] = 0;
    free_.push_back(idx);
  }
  // Calls fn(index, id (a string_view), state) for every live entity, in index order.
  template <class Fn>
  void for_each(Fn&& fn) {
    for_each_from(0, [&](uint32_t i, std::string_view id, State& st) {
      fn(i, id, st);
      return true;
    });
  }
  // for_each from index `from` on, while fn(index, id, state) returns true. Returns the index to resume at:
  // after the entity where fn returned false, or the end of the indices. Indices are stable while no entity
  // is erased, so a walk may be resumed later (entities added meanwhile are visited when past `from`).
  template <class Fn>
  uint32_t for_each_from(uint32_t from, Fn&& fn) {
    const auto end = static_cast<uint32_t>(states_.size());
    for (uint32_t i = from; i < end; ++i)
      if (live_[i] && !fn(i, ids_[i].view(), states_[i])) return i + 1;
    return end;
  }
  State& at(uint32_t idx) { return states_[idx]; }
  const State& at(uint32_t idx) const { return states_[idx]; }
  std::string_view id(uint32_t idx) const { return ids_[idx].view(); }
  // Live entities. Indices of live entities may exceed it once any was erased (their indices are not moved).
  size_t size() const { return states_.size() - free_.size(); }
  // Whether `idx` is the index of a live entity.
  bool contains(uint32_t idx) const { return idx < live_.size() && live_[idx]; }

 private:
  static uint64_t hash(std::string_view s) { return std::hash<std::string_view>{}(s); }
  static uint64_t pack(uint64_t h, uint32_t idx) { return (h << 32) | (uint64_t{idx} + 1); }
  size_t mask() const { return slots_.size() - 1; }
  size_t home(uint64_t packed) const { return static_cast<size_t>(packed >> 32) & mask(); }

  // The entity's index, or nullopt with *slot = the empty slot where it would go.
  std::optional<uint32_t> lookup(std::string_view id, uint64_t h, size_t* slot) const {
    if (slots_.empty()) return std::nullopt;
    const uint64_t tag = h << 32;
    for (size_t i = static_cast<size_t>(static_cast<uint32_t>(h)) & mask();; i = (i + 1) & mask()) {
      const uint64_t s = slots_[i];
      if (s == 0) {
        *slot = i;
        return std::nullopt;
      }
      const auto idx = static_cast<uint32_t>((s & 0xffffffffu) - 1);
      if ((s & ~uint64_t{0xffffffffu}) == tag && ids_[idx] == id) {
        *slot = i;
        return idx;
      }
    }
  }
  void grow() {
    std::vector<uint64_t> old(slots_.empty() ? 16 : slots_.size() * 2, 0);
    old.swap(slots_);
    for (const uint64_t s : old) {
      if (s == 0) continue;
      size_t i = home(s);
      while (slots_[i] != 0) i = (i + 1) & mask();
      slots_[i] = s;
    }
  }
  // Backward-shift deletion: later entries of the probe run move up, so lookups never need tombstones.
  void remove_slot(size_t i) {
    for (size_t j = (i + 1) & mask(); slots_[j] != 0; j = (j + 1) & mask()) {
      const size_t k = home(slots_[j]);
      const bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
      if (stays) continue;
      slots_[i] = slots_[j];
      i = j;
    }
    slots_[i] = 0;
  }

  uint32_t capacity_;
  std::vector<uint64_t> slots_;  // 0 = empty; else (32 bits of hash) << 32 | (index + 1)
  std::vector<CompactId> ids_;
  std::vector<State> states_;
  std::vector<uint8_t> live_;
  std::vector<uint32_t> free_;
};

}  // namespace gridsentinel::pipeline
