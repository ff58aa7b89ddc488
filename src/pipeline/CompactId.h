#pragma once
// CompactId: an entity id in 16 bytes, for EntityTable's one copy of every id. Ids of up to 15 characters
// (meter ids are ~10-12) are stored inline, longer ones in their own heap block. std::string takes 32 bytes
// for the same short ids (its inline buffer sits beside a pointer, a size and a capacity): 16 bytes a meter
// at a million meters.
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>

namespace gridsentinel::pipeline {

class CompactId {
 public:
  static constexpr size_t kInline = 15;
  CompactId() { buf_[kInline] = 0; }
  explicit CompactId(std::string_view id) { assign(id); }
  CompactId(const CompactId& o) : CompactId(o.view()) {}
  CompactId(CompactId&& o) noexcept {
    std::memcpy(buf_, o.buf_, sizeof buf_);
    o.buf_[kInline] = 0;  // the heap block, if any, now belongs here
  }
  CompactId& operator=(const CompactId& o) {
    if (this != &o) *this = CompactId(o.view());
    return *this;
  }
  CompactId& operator=(CompactId&& o) noexcept {
    if (this != &o) {
      release();
      std::memcpy(buf_, o.buf_, sizeof buf_);
      o.buf_[kInline] = 0;
    }
    return *this;
  }
  ~CompactId() { release(); }

  std::string_view view() const {
    if (!on_heap()) return {buf_, static_cast<size_t>(buf_[kInline])};
    const char* p = nullptr;
    uint32_t n = 0;
    std::memcpy(&p, buf_, sizeof p);
    std::memcpy(&n, buf_ + sizeof p, sizeof n);
    return {p, n};
  }
  bool operator==(std::string_view s) const { return view() == s; }

 private:
  static constexpr char kHeap = static_cast<char>(0x80);  // buf_[kInline] marker; inline lengths are 0..15
  bool on_heap() const { return buf_[kInline] == kHeap; }
  void assign(std::string_view id) {
    if (id.size() <= kInline) {
      std::memcpy(buf_, id.data(), id.size());
      buf_[kInline] = static_cast<char>(id.size());
      return;
    }
    char* p = new char[id.size()];
    std::memcpy(p, id.data(), id.size());
    const auto n = static_cast<uint32_t>(id.size());  // ids are bounded far below 4 GB by the decoder
    std::memcpy(buf_, &p, sizeof p);
    std::memcpy(buf_ + sizeof p, &n, sizeof n);
    buf_[kInline] = kHeap;
  }
  void release() {
    if (!on_heap()) return;
    char* p = nullptr;
    std::memcpy(&p, buf_, sizeof p);
    delete[] p;
    buf_[kInline] = 0;
  }
  alignas(8) char buf_[16];
};

static_assert(sizeof(CompactId) == 16);

}  // namespace gridsentinel::pipeline
