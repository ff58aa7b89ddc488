#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <set>
#include <stdexcept>
#include <utility>
#include <vector>

#include "features/BlockPool.h"
#include "features/HeapArray.h"
#include "features/PooledArray.h"
#include "features/SizedPointer.h"

namespace gridsentinel::features {
namespace {

struct Cell {
  float mean = 0;
  uint16_t count = 7;  // a default that is not zero: elements must be value-initialised, not zeroed
  uint16_t code = 0x3c00;
};

TEST(HeapArray, ElementsStartValueInitialisedAndCopiesAreIndependent) {
  HeapArray<Cell> a(24);
  ASSERT_EQ(a.size(), 24u);
  for (const Cell& c : a) {
    EXPECT_EQ(c.count, 7);
    EXPECT_EQ(c.code, 0x3c00);
  }
  a[3].mean = 2.5F;
  HeapArray<Cell> b = a;
  b[3].mean = 9.0F;
  EXPECT_EQ(a[3].mean, 2.5F);
  HeapArray<Cell> c = std::move(b);
  EXPECT_EQ(b.size(), 0u);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  EXPECT_EQ(c[3].mean, 9.0F);
  c = HeapArray<Cell>(5);  // a different size re-allocates
  EXPECT_EQ(c.size(), 5u);
  EXPECT_EQ(HeapArray<Cell>().size(), 0u);
  EXPECT_EQ(a.heap_bytes(), 24 * sizeof(Cell));  // the elements only: the size is in the pointer word
  EXPECT_EQ(sizeof(a), 8u);
}

TEST(HeapArray, ManyArraysOfMixedSizesKeepTheirOwnContents) {
  // Blocks of several sizes taken and given back in an interleaved order, as entities come and go: every
  // array must keep exactly what was written into it (no block handed out twice).
  std::vector<HeapArray<uint16_t>> arrays;
  for (uint32_t i = 0; i < 5000; ++i) {
    arrays.emplace_back(1 + i % 317);
    for (auto& v : arrays.back()) v = static_cast<uint16_t>(i);
    if (i % 3 == 0) arrays[i / 2] = HeapArray<uint16_t>(1 + (i * 7) % 317);  // frees one, takes another
    if (i % 3 == 0)
      for (auto& v : arrays[i / 2]) v = static_cast<uint16_t>(i / 2);
  }
  std::set<const void*> blocks;
  for (uint32_t i = 0; i < arrays.size(); ++i) {
    ASSERT_GT(arrays[i].size(), 0u);
    EXPECT_TRUE(blocks.insert(arrays[i].data()).second) << "block shared by two arrays";
    for (const uint16_t v : arrays[i]) ASSERT_EQ(v, static_cast<uint16_t>(i)) << "array " << i;
  }
}

TEST(BlockPool, LargeBlocksAndAlignment) {
  for (const size_t bytes : {size_t{1}, size_t{8}, size_t{200}, size_t{2048}, size_t{2049}, size_t{100000}}) {
    void* b = BlockPool::allocate(bytes);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b) % BlockPool::kAlignment, 0u);
    std::memset(b, 0xab, bytes);
    BlockPool::release(b, bytes);
  }
}

}  // namespace
}  // namespace gridsentinel::features

namespace gridsentinel::features {
namespace {

struct Counted {
  static inline int live = 0;
  explicit Counted(int v) : value(v), payload(3) { ++live; }
  Counted(const Counted& o) : value(o.value), payload(o.payload) { ++live; }
  Counted(Counted&& o) noexcept : value(o.value), payload(std::move(o.payload)) { ++live; }
  ~Counted() { --live; }
  int value;
  HeapArray<uint16_t> payload;  // owns memory of its own, as a detector does
};

TEST(PooledArray, BuildsCopiesMovesAndDestroysEveryElement) {
  {
    PooledArray<Counted> a(3, [](uint32_t i) { return Counted(static_cast<int>(i) * 10); });
    ASSERT_EQ(a.size(), 3u);
    EXPECT_EQ(Counted::live, 3);
    EXPECT_EQ(a[2].value, 20);
    PooledArray<Counted> b = a;
    EXPECT_EQ(Counted::live, 6);
    b[0].value = 7;
    EXPECT_EQ(a[0].value, 0);
    PooledArray<Counted> c = std::move(b);
    EXPECT_EQ(Counted::live, 6);
    EXPECT_EQ(c[0].value, 7);
    c = PooledArray<Counted>(1, [](uint32_t) { return Counted(5); });
    EXPECT_EQ(Counted::live, 4);
    int sum = 0;
    for (const Counted& x : a) sum += x.value;
    EXPECT_EQ(sum, 30);
    EXPECT_EQ(PooledArray<Counted>().size(), 0u);
  }
  EXPECT_EQ(Counted::live, 0);
}

TEST(PooledArray, AFailedBuildDestroysWhatItBuilt) {
  EXPECT_THROW(PooledArray<Counted>(4,
                                    [](uint32_t i) {
                                      if (i == 2) throw std::runtime_error("no");
                                      return Counted(1);
                                    }),
               std::runtime_error);
  EXPECT_EQ(Counted::live, 0);
}

}  // namespace
}  // namespace gridsentinel::features

namespace gridsentinel::features {
namespace {

TEST(SizedPointer, KeepsPointerAndCountInOneWord) {
  static_assert(sizeof(SizedPointer) == 8);
  EXPECT_FALSE(SizedPointer());
  EXPECT_EQ(SizedPointer().count(), 0u);
  int x = 0;
  for (const uint32_t n : {1u, 24u, 9217u, SizedPointer::kMaxCount}) {
    const SizedPointer p(&x, n);
    EXPECT_TRUE(p);
    EXPECT_EQ(p.get(), &x);
    EXPECT_EQ(p.count(), n);
  }
}

TEST(SizedPointer, RefusesACountThatDoesNotFit) {
  int x = 0;
  EXPECT_DEATH(SizedPointer(&x, SizedPointer::kMaxCount + 1), "out of range");
}

TEST(HeapArray, HoldsTheLargestSize) {
  HeapArray<uint16_t> a(HeapArray<uint16_t>::kMaxSize);
  ASSERT_EQ(a.size(), HeapArray<uint16_t>::kMaxSize);
  for (uint32_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint16_t>(i);
  const HeapArray<uint16_t> b = a;
  ASSERT_EQ(b.size(), a.size());
  EXPECT_EQ(b[65534], 65534);
  EXPECT_EQ(b.heap_bytes(), 65535 * sizeof(uint16_t));
}

}  // namespace
}  // namespace gridsentinel::features
