#pragma once
// Compact binary encoding of detector and feature state, for save/restore and the changelog topic.
//
// Contract: StateWriter appends little-endian-as-in-memory fixed-size values and length-prefixed byte
// strings; StateReader reads them back in the same order and never reads past the end: every read returns
// false once the input is exhausted or malformed, and the reader stays failed. Restore code therefore checks
// one flag at the end instead of every call. The format is for one build of gridsentinel on one architecture
// (x86_64/aarch64 are both little-endian); a version byte at the front of each saved state lets a future
// format refuse an old one.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace gridsentinel {

class StateWriter {
 public:
  StateWriter() = default;
  // Writes into `reuse`'s storage (cleared first): a caller that saves many states into one buffer allocates
  // only when a state is longer than any before it.
  explicit StateWriter(std::string&& reuse) : out_(std::move(reuse)) { out_.resize(out_.capacity()); }

  // Appends are inline copies into spare capacity (a checkpoint writes hundreds of small values per entity;
  // std::string::append per value was most of its cost).
  template <class T>
  requires std::is_trivially_copyable_v<T>
  void put(const T& v) {
    std::memcpy(room(sizeof(T)), &v, sizeof(T));
    used_ += sizeof(T);
  }
  void put_bytes(std::string_view s) {
    put<uint32_t>(static_cast<uint32_t>(s.size()));
    append(s.data(), s.size());
  }
  template <class T>
  requires std::is_trivially_copyable_v<T>
  void put_vector(const std::vector<T>& v) {
    put<uint32_t>(static_cast<uint32_t>(v.size()));
    append(v.data(), v.size() * sizeof(T));
  }
  // Appends what `write(*this)` writes as one length-prefixed byte string: the same bytes as
  // put_bytes(s) of the string s those writes would make in a writer of their own, without making it.
  template <class Write>
  void put_nested(Write&& write) {
    const size_t at = used_;
    put<uint32_t>(0);
    write(*this);
    const auto n = static_cast<uint32_t>(used_ - at - sizeof(uint32_t));
    std::memcpy(out_.data() + at, &n, sizeof n);
  }
  std::string take() {
    out_.resize(used_);
    used_ = 0;
    return std::move(out_);
  }
  std::string_view bytes() const { return {out_.data(), used_}; }

 private:
  char* room(size_t n) {
    if (out_.size() - used_ < n) out_.resize(std::max<size_t>(2 * out_.size(), used_ + n + 64));
    return out_.data() + used_;
  }
  void append(const void* p, size_t n) {
    if (n == 0) return;
    std::memcpy(room(n), p, n);
    used_ += n;
  }
  std::string out_;  // out_.size() is the capacity in use; the state is its first used_ bytes
  size_t used_ = 0;
};

class StateReader {
 public:
  explicit StateReader(std::string_view in) : in_(in) {}

  template <class T>
  requires std::is_trivially_copyable_v<T>
  bool get(T& v) {
    if (!ok_ || in_.size() - pos_ < sizeof(T)) return fail();
    std::memcpy(&v, in_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool get_bytes(std::string& s, uint32_t max_len = 1u << 24) {
    uint32_t n = 0;
    if (!get(n) || n > max_len || in_.size() - pos_ < n) return fail();
    s.assign(in_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  template <class T>
  requires std::is_trivially_copyable_v<T>
  bool get_vector(std::vector<T>& v, uint32_t max_len = 1u << 24) {
    uint32_t n = 0;
    if (!get(n) || n > max_len || (in_.size() - pos_) / sizeof(T) < n) return fail();
    v.resize(n);
    if (n) std::memcpy(v.data(), in_.data() + pos_, n * sizeof(T));
    pos_ += n * sizeof(T);
    return true;
  }
  // True when every read succeeded and the whole input was consumed.
  bool done() const { return ok_ && pos_ == in_.size(); }
  bool ok() const { return ok_; }

 private:
  bool fail() {
    ok_ = false;
    return false;
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace gridsentinel
