// select_codes (features/CodeSelect.h) against a full sort: exact order statistics, ties included.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "features/CodeSelect.h"

namespace gridsentinel::features {
namespace {

TEST(SelectCodes, MatchesAFullSortForRandomRanksTiesAndSpreads) {
  std::mt19937 rng(7);
  CodeSelectScratch scratch;  // reused across trials, as the window reuses it
  for (int trial = 0; trial < 3000; ++trial) {
    const uint32_t n = 1 + rng() % (trial % 10 == 0 ? 5000 : 300);
    // Spreads from all 65536 codes down to a handful of distinct values (many ties, one bin).
    const uint32_t spread = 1u << (rng() % 17);
    const uint32_t base = rng() % 65536;
    std::vector<uint16_t> codes(n);
    for (auto& c : codes) c = static_cast<uint16_t>(std::min<uint32_t>(65535, base + rng() % spread));
    std::vector<uint16_t> sorted = codes;
    std::sort(sorted.begin(), sorted.end());
    const uint32_t k = 1 + rng() % 8;
    uint32_t ranks[8];
    for (uint32_t j = 0; j < k; ++j) ranks[j] = rng() % n;
    if (trial % 3 == 0) ranks[0] = n - 1;  // the extremes and repeated ranks too
    if (trial % 5 == 0 && k > 1) ranks[1] = ranks[0];
    uint16_t out[8];
    const std::vector<uint16_t> before = codes;
    select_codes(codes.data(), n, ranks, k, out, scratch);
    for (uint32_t j = 0; j < k; ++j)
      ASSERT_EQ(out[j], sorted[ranks[j]]) << "trial " << trial << " n " << n << " rank " << ranks[j];
    ASSERT_EQ(codes, before);  // the input is left as it was
    // and the scratch as the next call expects it
    ASSERT_TRUE(std::all_of(scratch.hist.begin(), scratch.hist.end(), [](uint32_t c) { return c == 0; }));
    ASSERT_TRUE(std::all_of(scratch.slice.begin(), scratch.slice.end(),
                            [](uint16_t x) { return x == CodeSelectScratch::kNone; }));
  }
}

TEST(SelectCodes, TypeSevenRanksOfASmallWindow) {
  const std::vector<uint16_t> codes = {900, 100, 500, 500, 300};
  CodeSelectScratch scratch;
  const uint32_t ranks[6] = {1, 2, 2, 3, 3, 4};
  uint16_t out[6];
  select_codes(codes.data(), 5, ranks, 6, out, scratch);
  EXPECT_EQ(std::vector<uint16_t>(out, out + 6), (std::vector<uint16_t>{300, 500, 500, 500, 500, 900}));
}

}  // namespace
}  // namespace gridsentinel::features
