#pragma once
// EntityTable: entity id -> dense index, bounded. Ids are looked up without allocating (transparent hashing);
// a new id beyond `capacity` is refused (the caller dead-letters the record as "entity_limit" and counts it),
// so memory stays bounded whatever the input. Not thread-safe.
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
    if (states_.size() >= capacity_) return std::nullopt;
    const auto idx = static_cast<uint32_t>(states_.size());
    index_.emplace(std::string(id), idx);
    ids_.emplace_back(id);
    states_.push_back(make());
    return idx;
  }
  State& at(uint32_t idx) { return states_[idx]; }
  const std::string& id(uint32_t idx) const { return ids_[idx]; }
  size_t size() const { return states_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  uint32_t capacity_;
  std::unordered_map<std::string, uint32_t, Hash, std::equal_to<>> index_;
  std::vector<std::string> ids_;
  std::vector<State> states_;
};

}  // namespace gridsentinel::pipeline
