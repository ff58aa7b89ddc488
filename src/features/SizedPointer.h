#pragma once
// SizedPointer: a pointer and a count below 65,536 in one 64-bit word, for the per-entity arrays (HeapArray,
// PooledArray) whose length used to sit in a header in front of their elements: 8 bytes a block (less where
// the pool's 8-byte rounding took it back), 40 bytes of each meter's ~2 kB of state with the default windows.
//
// How: user-space addresses on x86-64 and AArch64 Linux fit in 48 bits (the kernel hands out higher ones,
// with 5-level paging, only to an mmap asking for them, which malloc does not), so the count goes in the top
// 16 bits. Both are checked when a block is stored: a count or an address that does not fit is a programming
// or platform error, not bad input (every array's length is bounded by its config's validation, the largest
// 9,217 codes of a bucketed IQR window), and stops the process with a message rather than corrupting state.
// Not for AArch64 with tagged heap pointers (HWASan, or MTE through glibc.mem.tagging): the tag sits in the
// top byte, and every block would be refused.
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace gridsentinel::features {

class SizedPointer {
 public:
  static constexpr uint32_t kMaxCount = 0xffff;

  SizedPointer() = default;
  SizedPointer(void* block, uint32_t count) {
    const auto address = reinterpret_cast<uintptr_t>(block);
    if (count > kMaxCount || (address >> kCountShift) != 0) {
      std::fprintf(stderr, "SizedPointer: count %u or address %p out of range\n", count, block);
      std::abort();
    }
    word_ = address | (uintptr_t{count} << kCountShift);
  }
  void* get() const { return reinterpret_cast<void*>(word_ & kAddressMask); }
  uint32_t count() const { return static_cast<uint32_t>(word_ >> kCountShift); }
  explicit operator bool() const { return word_ != 0; }

 private:
  static constexpr unsigned kCountShift = 48;
  static constexpr uintptr_t kAddressMask = (uintptr_t{1} << kCountShift) - 1;
  static_assert(sizeof(uintptr_t) == 8, "a 64-bit address space");
  uintptr_t word_ = 0;
};

}  // namespace gridsentinel::features
