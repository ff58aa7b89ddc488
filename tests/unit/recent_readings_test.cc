// RecentReadings: the digests of an entity's readings just before its newest, by age.
#include "pipeline/RecentReadings.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace gridsentinel::pipeline {
namespace {

using Match = RecentReadings::Match;
constexpr uint64_t kStep = 900'000;        // 15 minutes
constexpr uint64_t kLateness = 3'600'000;  // an hour

TEST(RecentReadings, ThePreviousNewestIsHeldAtItsAgeAndAgesWithTheNext) {
  RecentReadings r;
  r.advance(kStep, 11, kLateness);
  EXPECT_EQ(r.find(kStep, 11), Match::kSame);
  EXPECT_EQ(r.find(kStep, 12), Match::kOther);
  EXPECT_EQ(r.find(kStep - 1, 11), Match::kNone);
  r.advance(kStep, 22, kLateness);
  EXPECT_EQ(r.find(2 * kStep, 11), Match::kSame);
  EXPECT_EQ(r.find(kStep, 22), Match::kSame);
  EXPECT_EQ(r.find(kStep, 11), Match::kOther) << "the age, not the digest, names the reading";
  EXPECT_EQ(r.size(), 2u);
}

TEST(RecentReadings, EntriesPastTheLatenessLeave) {
  RecentReadings r;
  for (uint32_t d = 1; d <= 4; ++d) r.advance(kStep, d, kLateness);
  // Digest 1 is now 4 steps old, exactly the lateness: still held.
  EXPECT_EQ(r.find(4 * kStep, 1), Match::kSame);
  r.advance(kStep, 5, kLateness);
  EXPECT_EQ(r.find(5 * kStep, 1), Match::kNone);
  EXPECT_EQ(r.find(4 * kStep, 2), Match::kSame);
  EXPECT_EQ(r.size(), 4u);
  // A jump past the lateness empties it, and the previous newest is not held either.
  r.advance(kLateness + 1, 6, kLateness);
  EXPECT_EQ(r.size(), 0u);
}

TEST(RecentReadings, WhenFullTheYoungestAreKept) {
  RecentReadings r;
  constexpr uint64_t kFive = 300'000;  // 5-minute readings: 12 within the hour
  for (uint32_t d = 1; d <= 6; ++d) r.advance(kFive, d, kLateness);
  EXPECT_EQ(r.size(), RecentReadings::kCapacity);
  for (uint32_t d = 3; d <= 6; ++d) EXPECT_EQ(r.find((7 - d) * kFive, d), Match::kSame) << d;
  EXPECT_EQ(r.find(5 * kFive, 2), Match::kNone);
  // A late reading younger than the oldest held takes its place; one older than all of them is not held.
  r.add(kFive / 2, 99);
  EXPECT_EQ(r.find(kFive / 2, 99), Match::kSame);
  EXPECT_EQ(r.find(4 * kFive, 3), Match::kNone);
  r.add(10 * kFive, 98);
  EXPECT_EQ(r.find(10 * kFive, 98), Match::kNone);
  EXPECT_EQ(r.size(), RecentReadings::kCapacity);
}

TEST(RecentReadings, ALateReadingFillsAnEmptyEntryAndAgesWithTheRest) {
  RecentReadings r;
  r.add(2 * kStep, 7);
  EXPECT_EQ(r.find(2 * kStep, 7), Match::kSame);
  r.advance(kStep, 8, kLateness);
  EXPECT_EQ(r.find(3 * kStep, 7), Match::kSame);
  EXPECT_EQ(r.find(kStep, 8), Match::kSame);
}

TEST(RecentReadings, AnUnknownPreviousDigestIsNotHeld) {
  RecentReadings r;
  r.advance(kStep, 0, kLateness);  // after a restore the newest reading's digest is unknown
  EXPECT_EQ(r.size(), 0u);
  EXPECT_EQ(r.find(kStep, 0), Match::kNone);
}

TEST(RecentReadings, AgesBeyond32BitsAreNotHeldUnderAVeryLongLateness) {
  RecentReadings r;
  constexpr uint64_t kYear = 365ULL * 86'400'000;
  r.advance(uint64_t{UINT32_MAX}, 1, kYear);
  EXPECT_EQ(r.find(UINT32_MAX, 1), Match::kSame);
  r.advance(1, 2, kYear);
  EXPECT_EQ(r.find(uint64_t{UINT32_MAX} + 1, 1), Match::kNone) << "past 2^32 ms: dropped, not wrapped";
  EXPECT_EQ(r.find(0, 1), Match::kNone);
  EXPECT_EQ(r.find(1, 2), Match::kSame);
  r.add(uint64_t{UINT32_MAX} + 5, 3);
  EXPECT_EQ(r.size(), 1u);
}

}  // namespace
}  // namespace gridsentinel::pipeline
