#include <gtest/gtest.h>

#include "pipeline/OffsetTracker.h"

namespace gridsentinel::pipeline {
namespace {

TEST(OffsetTracker, AdvancesOnlyOverAContiguousAcknowledgedPrefix) {
  OffsetTracker t;
  t.assign("in", 0);
  const auto a = *t.begin("in", 0, 10, 0);
  const auto b = *t.begin("in", 0, 11, 0);
  const auto c = *t.begin("in", 0, 12, 0);
  t.add_pending(a);  // record 10 produced an alert
  t.release(a);      // processing of 10 done; its alert still unacknowledged
  t.release(b);
  t.release(c);
  EXPECT_TRUE(t.take_committable().empty()) << "11 and 12 are done but 10's alert is not acknowledged";
  EXPECT_EQ(t.inflight(), 1u);
  t.release(a);  // the alert is acknowledged
  const auto out = t.take_committable();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].offset, 13);
  EXPECT_EQ(t.inflight(), 0u);
  EXPECT_TRUE(t.take_committable().empty());
}

TEST(OffsetTracker, IgnoresAcknowledgementsFromARevokedGeneration) {
  OffsetTracker t;
  t.assign("in", 3);
  const auto old = *t.begin("in", 3, 100, 0);
  t.add_pending(old);
  t.revoke("in", 3);
  EXPECT_FALSE(t.begin("in", 3, 101, 0).has_value());
  t.assign("in", 3);
  const auto fresh = *t.begin("in", 3, 100, 0);
  t.add_pending(fresh);
  t.release(old);  // late ack for the old generation: must not release the new entry
  t.release(old);
  t.release(fresh);
  EXPECT_TRUE(t.take_committable().empty());
  t.release(fresh);
  ASSERT_EQ(t.take_committable().size(), 1u);
}

TEST(OffsetTracker, ReportsCompletionLatencyOncePerRecord) {
  OffsetTracker t;
  t.assign("in", 0);
  const auto a = *t.begin("in", 0, 0, 42, 1700000000123);
  int calls = 0;
  int64_t seen = 0, created = 0;
  const auto on_complete = [&](int64_t ns, int64_t ms) { ++calls, seen = ns, created = ms; };
  t.add_pending(a);
  t.release(a, on_complete);
  t.release(a, on_complete);
  t.release(a, on_complete);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen, 42);
  EXPECT_EQ(created, 1700000000123);
}

}  // namespace
}  // namespace gridsentinel::pipeline
