#pragma once
// Compact binary encoding of detector and feature state, for save/restore and the changelog topic.
//
// Contract: StateWriter appends little-endian-as-in-memory fixed-size values and length-prefixed byte
// strings; StateReader reads them back in the same order and never reads past the end: every read returns
// false once the input is exhausted or malformed, and the reader stays failed. Restore code therefore checks
// one flag at the end instead of every call. The format is for one build of gridsentinel on one architecture
// (x86_64/aarch64 are both little-endian); a version byte at the front of each saved state lets a future
// format refuse an old one.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace gridsentinel {

class StateWriter {
 public:
  template <class T>
  requires std::is_trivially_copyable_v<T>
  void put(const T& v) {
    const auto* p = reinterpret_cast<const char*>(&v);
    out_.append(p, sizeof(T));
  }
  void put_bytes(std::string_view s) {
    put<uint32_t>(static_cast<uint32_t>(s.size()));
    out_.append(s.data(), s.size());
  }
  template <class T>
  requires std::is_trivially_copyable_v<T>
  void put_vector(const std::vector<T>& v) {
    put<uint32_t>(static_cast<uint32_t>(v.size()));
    if (!v.empty()) out_.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
  }
  std::string take() { return std::move(out_); }
  const std::string& bytes() const { return out_; }

 private:
  std::string out_;
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
