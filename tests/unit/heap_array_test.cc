#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <set>
#include <vector>

#include "features/BlockPool.h"
#include "features/HeapArray.h"

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
  EXPECT_EQ(a.heap_bytes(), 25 * sizeof(Cell));  // the size header takes one element
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
