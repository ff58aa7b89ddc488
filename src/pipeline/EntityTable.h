#pragma once
// EntityTable: entity id -> dense index, bounded. Ids are looked up without allocating (transparent hashing);
// a new id beyond `capacity` is refused (the caller dead-letters the record as "entity_limit" and counts it),
// so memory stays bounded whatever the input. Entities leave when their partition moves to another instance
// (erase); freed indices are reused, so indices stay dense and handles given to other components (the silence
// tracker) stay below capacity. Not thread-safe.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gridsentinel::pipeline {

template <class State>
class EntityTable {
 public:
  explicit EntityTable(uint32_t capacity) : capacity_(capacity) {}

  // The entity's index, creating it with `make()` when new; nullopt when the table is full.
  template <class Make>
  std::optional<uint32_t> find_or_insert(std::string_view id, Make&& make) {
    if (auto it = index_.find(id); it != index_.end()) return it->second;
    if (size() >= capacity_) return std::nullopt;
    uint32_t idx;
    if (!free_.empty()) {
      idx = free_.back();
      free_.pop_back();
      ids_[idx] = std::string(id);
      states_[idx] = make();
      live_[idx] = 1;
    } else {
      idx = static_cast<uint32_t>(states_.size());
      ids_.emplace_back(id);
      states_.push_back(make());
      live_.push_back(1);
    }
    index_.emplace(std::string(id), idx);
    return idx;
  }
  std::optional<uint32_t> find(std::string_view id) const {
    if (auto it = index_.find(id); it != index_.end()) return it->second;
    return std::nullopt;
  }
  // Removes the entity at `idx` (a live index); its index may be handed out again.
  void erase(uint32_t idx) {
    index_.erase(ids_[idx]);
    std::string().swap(ids_[idx]);
    states_[idx] = State{};
    live_[idx] = 0;
    free_.push_back(idx);
  }
  // Calls fn(index, id, state) for every live entity, in index order.
  template <class Fn>
  void for_each(Fn&& fn) {
    for (uint32_t i = 0; i < states_.size(); ++i)
      if (live_[i]) fn(i, ids_[i], states_[i]);
  }
  State& at(uint32_t idx) { return states_[idx]; }
  const State& at(uint32_t idx) const { return states_[idx]; }
  const std::string& id(uint32_t idx) const { return ids_[idx]; }
  size_t size() const { return states_.size() - free_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  uint32_t capacity_;
  std::unordered_map<std::string, uint32_t, Hash, std::equal_to<>> index_;
  std::vector<std::string> ids_;
  std::vector<State> states_;
  std::vector<uint8_t> live_;
  std::vector<uint32_t> free_;
};

}  // namespace gridsentinel::pipeline
