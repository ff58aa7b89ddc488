#include "features/BlockPool.h"

#include <memory>
#include <mutex>
#include <new>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define GS_BLOCK_POOL_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GS_BLOCK_POOL_OFF 1
#endif
#endif

namespace gridsentinel::features {

#ifndef GS_BLOCK_POOL_OFF
namespace {

constexpr size_t kSlabBytes = 64 * 1024;
constexpr size_t kClasses = BlockPool::kMaxPooledBytes / BlockPool::kAlignment;

struct FreeBlock {
  FreeBlock* next;
};

struct SizeClass {
  FreeBlock* free = nullptr;
  char* slab_next = nullptr;  // uncut rest of the newest slab
  char* slab_end = nullptr;
};

struct Pool {
  std::mutex mu;
  SizeClass classes[kClasses];
  std::vector<std::unique_ptr<char[]>> slabs;
};

Pool& pool() {
  static Pool* p = new Pool;  // never destroyed: blocks may be released by static destructors at exit
  return *p;
}

size_t rounded(size_t bytes) {
  return (bytes + BlockPool::kAlignment - 1) / BlockPool::kAlignment;
}

}  // namespace
#endif

void* BlockPool::allocate(size_t bytes) {
#ifdef GS_BLOCK_POOL_OFF
  return ::operator new(bytes);
#else
  if (bytes > kMaxPooledBytes) return ::operator new(bytes);
  const size_t units = rounded(bytes);
  const size_t size = units * kAlignment;
  Pool& p = pool();
  std::lock_guard lock(p.mu);
  SizeClass& c = p.classes[units - 1];
  if (c.free) {
    FreeBlock* b = c.free;
    c.free = b->next;
    return b;
  }
  if (c.slab_next == nullptr || static_cast<size_t>(c.slab_end - c.slab_next) < size) {
    p.slabs.push_back(std::make_unique<char[]>(kSlabBytes));  // operator new[]: aligned for any scalar
    c.slab_next = p.slabs.back().get();
    c.slab_end = c.slab_next + kSlabBytes - kSlabBytes % size;
  }
  void* b = c.slab_next;
  c.slab_next += size;
  return b;
#endif
}

void BlockPool::release(void* block, size_t bytes) noexcept {
  if (!block) return;
#ifdef GS_BLOCK_POOL_OFF
  (void)bytes;
  ::operator delete(block);
#else
  if (bytes > kMaxPooledBytes) {
    ::operator delete(block);
    return;
  }
  Pool& p = pool();
  std::lock_guard lock(p.mu);
  SizeClass& c = p.classes[rounded(bytes) - 1];
  c.free = new (block) FreeBlock{c.free};
#endif
}

}  // namespace gridsentinel::features
