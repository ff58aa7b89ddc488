#pragma once
// PooledArray: a fixed-size array of any (nothrow-movable) element type in one BlockPool block, for
// per-entity detector slots sized once from the config (an entity's z-score detectors). One 8-byte word, the
// pointer with the count in its top bits (SizedPointer, at most 65,535 elements): where std::vector took 24
// bytes plus malloc's header and rounding, ~30 bytes a meter less at a million meters.
#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>

#include "features/BlockPool.h"
#include "features/SizedPointer.h"

namespace gridsentinel::features {

template <class T>
class PooledArray {
  static_assert(alignof(T) <= BlockPool::kAlignment);

 public:
  static constexpr uint32_t kMaxSize = SizedPointer::kMaxCount;
  PooledArray() = default;
  // n elements (n <= kMaxSize), element i = make(i).
  template <class Make>
  PooledArray(uint32_t n, Make&& make) {
    if (n == 0) return;
    T* first = static_cast<T*>(BlockPool::allocate(n * sizeof(T)));
    uint32_t built = 0;
    try {
      for (; built < n; ++built) new (first + built) T(make(built));
    } catch (...) {
      for (uint32_t i = 0; i < built; ++i) std::launder(first + i)->~T();
      BlockPool::release(first, n * sizeof(T));
      throw;
    }
    block_ = SizedPointer(first, n);
  }
  PooledArray(const PooledArray& o) : PooledArray(o.size(), [&](uint32_t i) { return T(o[i]); }) {}
  PooledArray(PooledArray&& o) noexcept : block_(std::exchange(o.block_, SizedPointer())) {}
  PooledArray& operator=(const PooledArray& o) {
    if (this != &o) *this = PooledArray(o);
    return *this;
  }
  PooledArray& operator=(PooledArray&& o) noexcept {
    if (this != &o) {
      release();
      block_ = std::exchange(o.block_, SizedPointer());
    }
    return *this;
  }
  ~PooledArray() { release(); }

  uint32_t size() const { return block_.count(); }
  T& operator[](size_t i) { return data()[i]; }
  const T& operator[](size_t i) const { return data()[i]; }
  T* begin() { return data(); }
  T* end() { return data() + size(); }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size(); }
  size_t heap_bytes() const { return size() * sizeof(T); }

 private:
  T* data() { return block_ ? std::launder(static_cast<T*>(block_.get())) : nullptr; }
  const T* data() const { return block_ ? std::launder(static_cast<const T*>(block_.get())) : nullptr; }
  void release() {
    if (!block_) return;
    const uint32_t n = size();
    for (uint32_t i = 0; i < n; ++i) data()[i].~T();
    BlockPool::release(block_.get(), n * sizeof(T));
    block_ = SizedPointer();
  }
  SizedPointer block_;
};

}  // namespace gridsentinel::features
