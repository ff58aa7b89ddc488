#pragma once
// PooledArray: a fixed-size array of any (nothrow-movable) element type in one BlockPool block, for
// per-entity detector slots sized once from the config (an entity's z-score detectors). One 8-byte pointer,
// the count in the block's first 8 bytes: where std::vector took 24 bytes plus malloc's header and rounding,
// ~32 bytes a meter less at a million meters.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <utility>

#include "features/BlockPool.h"

namespace gridsentinel::features {

template <class T>
class PooledArray {
  static_assert(alignof(T) <= BlockPool::kAlignment);
  static constexpr size_t kHeader = BlockPool::kAlignment;

 public:
  PooledArray() = default;
  // n elements, element i = make(i).
  template <class Make>
  PooledArray(uint32_t n, Make&& make) {
    if (n == 0) return;
    char* block = static_cast<char*>(BlockPool::allocate(kHeader + n * sizeof(T)));
    T* first = static_cast<T*>(static_cast<void*>(block + kHeader));
    uint32_t built = 0;
    try {
      for (; built < n; ++built) new (first + built) T(make(built));
    } catch (...) {
      for (uint32_t i = 0; i < built; ++i) std::launder(first + i)->~T();
      BlockPool::release(block, kHeader + n * sizeof(T));
      throw;
    }
    std::memcpy(block, &n, sizeof n);
    block_ = block;
  }
  PooledArray(const PooledArray& o) : PooledArray(o.size(), [&](uint32_t i) { return T(o[i]); }) {}
  PooledArray(PooledArray&& o) noexcept : block_(std::exchange(o.block_, nullptr)) {}
  PooledArray& operator=(const PooledArray& o) {
    if (this != &o) *this = PooledArray(o);
    return *this;
  }
  PooledArray& operator=(PooledArray&& o) noexcept {
    if (this != &o) {
      release();
      block_ = std::exchange(o.block_, nullptr);
    }
    return *this;
  }
  ~PooledArray() { release(); }

  uint32_t size() const {
    uint32_t n = 0;
    if (block_) std::memcpy(&n, block_, sizeof n);
    return n;
  }
  T& operator[](size_t i) { return data()[i]; }
  const T& operator[](size_t i) const { return data()[i]; }
  T* begin() { return data(); }
  T* end() { return data() + size(); }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size(); }
  size_t heap_bytes() const { return block_ ? kHeader + size() * sizeof(T) : 0; }

 private:
  T* data() { return block_ ? std::launder(static_cast<T*>(static_cast<void*>(block_ + kHeader))) : nullptr; }
  const T* data() const {
    return block_ ? std::launder(static_cast<const T*>(static_cast<const void*>(block_ + kHeader))) : nullptr;
  }
  void release() {
    if (!block_) return;
    const uint32_t n = size();
    for (uint32_t i = 0; i < n; ++i) data()[i].~T();
    BlockPool::release(block_, kHeader + n * sizeof(T));
    block_ = nullptr;
  }
  char* block_ = nullptr;
};

}  // namespace gridsentinel::features
