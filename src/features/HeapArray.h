#pragma once
// HeapArray: a fixed-size array on the heap with value semantics (a copy copies the elements), for the
// per-entity windows that are sized at construction from the config. Unlike std::vector (24 bytes) it is one
// 8-byte word: the pointer with the size in its top bits (SizedPointer, at most 65,535 elements), and there
// is no spare capacity. The block comes from BlockPool (no allocator header per block) and holds only the
// elements. For trivially copyable element types aligned to at most 8 bytes.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

#include "features/BlockPool.h"
#include "features/SizedPointer.h"

namespace gridsentinel::features {

template <class T>
class HeapArray {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>);
  static_assert(alignof(T) <= BlockPool::kAlignment);

 public:
  static constexpr uint32_t kMaxSize = SizedPointer::kMaxCount;
  HeapArray() = default;
  // n <= kMaxSize (the callers' configs bound it; see SizedPointer).
  explicit HeapArray(uint32_t n) {
    if (n == 0) return;
    T* data = static_cast<T*>(BlockPool::allocate(block_bytes(n)));
    std::uninitialized_value_construct_n(data, n);
    block_ = SizedPointer(data, n);
  }
  HeapArray(const HeapArray& o) : HeapArray(o.size()) { std::copy(o.begin(), o.end(), begin()); }
  HeapArray(HeapArray&& o) noexcept : block_(std::exchange(o.block_, SizedPointer())) {}
  HeapArray& operator=(const HeapArray& o) {
    if (this != &o) {
      if (size() != o.size()) *this = HeapArray(o.size());
      std::copy(o.begin(), o.end(), begin());
    }
    return *this;
  }
  HeapArray& operator=(HeapArray&& o) noexcept {
    if (this != &o) {
      free();
      block_ = std::exchange(o.block_, SizedPointer());
    }
    return *this;
  }
  ~HeapArray() { free(); }

  uint32_t size() const { return block_.count(); }
  T& operator[](size_t i) { return data()[i]; }
  const T& operator[](size_t i) const { return data()[i]; }
  T* data() { return static_cast<T*>(block_.get()); }
  const T* data() const { return static_cast<const T*>(block_.get()); }
  T* begin() { return data(); }
  T* end() { return data() + size(); }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size(); }
  // Heap bytes of the allocation (the elements).
  size_t heap_bytes() const { return block_bytes(size()); }
  // Asks the CPU to start loading the first `n` elements' cache lines (n at most size()), so that an
  // entity's several blocks load in parallel instead of one miss after another as its detectors run. No
  // effect on results.
  void prefetch(uint32_t n) const {
    if (!block_) return;
    const char* p = static_cast<const char*>(block_.get());
    const char* end = p + block_bytes(n);
    for (; p < end; p += 64) __builtin_prefetch(p, 1);
  }

 private:
  static size_t block_bytes(uint32_t n) { return size_t{n} * sizeof(T); }
  void free() {
    if (block_) BlockPool::release(block_.get(), block_bytes(size()));
    block_ = SizedPointer();
  }
  SizedPointer block_;
};

// Boxed: one T on the heap with value semantics, for a rarely used alternative that should not make every
// holder as large as itself (e.g. a std::variant member).
template <class T>
class Boxed {
 public:
  explicit Boxed(T v) : p_(std::make_unique<T>(std::move(v))) {}
  Boxed(const Boxed& o) : p_(std::make_unique<T>(*o.p_)) {}
  Boxed(Boxed&&) noexcept = default;
  Boxed& operator=(const Boxed& o) {
    if (this != &o) p_ = std::make_unique<T>(*o.p_);
    return *this;
  }
  Boxed& operator=(Boxed&&) noexcept = default;
  T& operator*() { return *p_; }
  const T& operator*() const { return *p_; }
  T* operator->() { return p_.get(); }
  const T* operator->() const { return p_.get(); }

 private:
  std::unique_ptr<T> p_;
};

}  // namespace gridsentinel::features
