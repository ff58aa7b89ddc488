#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <string_view>
#include <utility>

#include "pipeline/EntityTable.h"

namespace gridsentinel::pipeline {
namespace {

// Random inserts, lookups and erases against std::map: the open-addressing index (linear probing,
// backward-shift deletion, growth) must agree with it at every step, indices must stay dense and be reused.
TEST(EntityTable, AgreesWithAMapUnderRandomInsertsLookupsAndErases) {
  EntityTable<int> table(5000);
  std::map<std::string, uint32_t> oracle;
  std::mt19937 rng(7);
  for (int step = 0; step < 200'000; ++step) {
    const std::string id = "meter-" + std::to_string(rng() % 6000);
    const int op = static_cast<int>(rng() % 10);
    if (op < 6) {
      const auto idx = table.find_or_insert(id, [&] { return step; });
      if (const auto it = oracle.find(id); it != oracle.end()) {
        ASSERT_TRUE(idx.has_value());
        ASSERT_EQ(*idx, it->second);
      } else if (oracle.size() >= 5000) {
        ASSERT_FALSE(idx.has_value()) << "beyond capacity";
      } else {
        ASSERT_TRUE(idx.has_value());
        ASSERT_LT(*idx, 5000u);
        ASSERT_EQ(table.at(*idx), step);
        ASSERT_EQ(table.id(*idx), id);
        oracle.emplace(id, *idx);
      }
    } else if (op < 8) {
      const auto idx = table.find(id);
      const auto it = oracle.find(id);
      ASSERT_EQ(idx.has_value(), it != oracle.end()) << id;
      if (idx) {
        ASSERT_EQ(*idx, it->second);
      }
    } else if (const auto it = oracle.find(id); it != oracle.end()) {
      table.erase(it->second);
      oracle.erase(it);
      ASSERT_FALSE(table.find(id).has_value());
    }
    ASSERT_EQ(table.size(), oracle.size());
  }
  size_t seen = 0;
  table.for_each([&](uint32_t idx, std::string_view id, int&) {
    ++seen;
    EXPECT_EQ(oracle.at(std::string(id)), idx);
  });
  EXPECT_EQ(seen, oracle.size());
}

}  // namespace
}  // namespace gridsentinel::pipeline

namespace gridsentinel::pipeline {
namespace {

TEST(CompactId, ShortIdsInlineLongOnesOnTheHeapBothRoundTrip) {
  const std::string long_id(100, 'x');
  for (const std::string_view s :
       {std::string_view(""), std::string_view("MTR-000001"), std::string_view("exactly-15-char"),
        std::string_view("sixteen-chars-xx"), std::string_view(long_id)}) {
    CompactId a(s);
    EXPECT_EQ(a.view(), s);
    CompactId b = a;  // copy
    EXPECT_EQ(b.view(), s);
    CompactId c = std::move(a);
    EXPECT_EQ(c.view(), s);
    EXPECT_EQ(a.view(), "");  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
    b = CompactId("other");
    EXPECT_EQ(b.view(), "other");
    c = std::move(b);
    EXPECT_EQ(c.view(), "other");
    EXPECT_TRUE(c == "other");
  }
}

}  // namespace
}  // namespace gridsentinel::pipeline
