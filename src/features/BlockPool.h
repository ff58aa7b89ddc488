#pragma once
// BlockPool: the memory behind HeapArray, the fixed-size arrays every tracked entity holds (window buckets,
// quantile codes, median rings): four or five small blocks per meter, all of the same few sizes.
//
// Why not plain operator new: glibc's malloc puts an 8-byte header in front of every block and rounds it up
// to 16 bytes, about 12 bytes a block on average; at a million meters and five blocks each that is 60 MB, 3%
// of the per-meter budget (issue 5: <= 2 KB a meter). Here blocks of one size (rounded up to 8 bytes) are cut
// from 64 KiB slabs with no header, and a freed block goes on its size's free list for the next entity of
// that size (entities leave when their partitions move and others arrive). Slabs are never returned to the
// system: the pool's size follows the peak number of entities, which the entity limit bounds.
// Blocks larger than kMaxPooledBytes, and every block in an AddressSanitizer build (so that it still sees
// each block's bounds), come from operator new. Thread-safe (one mutex; blocks are taken when an entity is
// created, never per record).
#include <cstddef>

namespace gridsentinel::features {

struct BlockPool {
  static constexpr size_t kMaxPooledBytes = 2048;
  static constexpr size_t kAlignment = 8;
  // A block of at least `bytes` (> 0) bytes, aligned to kAlignment. Throws std::bad_alloc like operator new.
  static void* allocate(size_t bytes);
  // Returns a block from allocate(bytes), with the same `bytes`.
  static void release(void* block, size_t bytes) noexcept;
};

}  // namespace gridsentinel::features
