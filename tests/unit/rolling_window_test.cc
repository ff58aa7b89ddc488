#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "features/RollingWindow.h"

namespace gridsentinel::features {
namespace {

struct Event {
  int64_t t;
  double x;
};

// Brute force: every event whose bucket lies within the B buckets ending at the newest event's bucket.
WindowStats brute_force(const std::vector<Event>& accepted, int64_t bucket_ms, int64_t buckets) {
  int64_t head = std::numeric_limits<int64_t>::min();
  for (const auto& e : accepted) head = std::max(head, e.t);
  auto bucket_of = [&](int64_t t) { return t >= 0 ? t / bucket_ms : -((-t + bucket_ms - 1) / bucket_ms); };
  const int64_t hb = bucket_of(head);
  std::vector<double> in;
  for (const auto& e : accepted)
    if (bucket_of(e.t) > hb - buckets) in.push_back(e.x);
  WindowStats s;
  s.count = static_cast<uint32_t>(in.size());
  if (in.empty()) return s;
  double sum = 0;
  for (double v : in) sum += v;
  s.mean = sum / static_cast<double>(in.size());
  double ss = 0;
  for (double v : in) ss += (v - s.mean) * (v - s.mean);
  if (in.size() >= 2) s.stddev = std::sqrt(ss / static_cast<double>(in.size() - 1));
  return s;
}

TEST(RollingWindow, MatchesBruteForceOnRandomOutOfOrderStreams) {
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    std::mt19937_64 rng(seed);
    const int64_t bucket_ms = 1000 + static_cast<int64_t>(rng() % 5000);
    const uint32_t buckets = 1 + static_cast<uint32_t>(rng() % 24);
    RollingWindow w(bucket_ms * buckets, buckets);
    std::vector<Event> accepted;
    std::normal_distribution<double> noise(1000.0, 50.0);
    int64_t t = 1'700'000'000'000;
    for (int i = 0; i < 3000; ++i) {
      t += static_cast<int64_t>(rng() % 3000);
      // A third of events arrive late, by up to two window lengths: some land, some are refused.
      int64_t et = t;
      if (rng() % 3 == 0) et -= static_cast<int64_t>(rng() % static_cast<uint64_t>(2 * bucket_ms * buckets));
      if (rng() % 50 == 0) t += bucket_ms * buckets * 2;  // a gap that empties the window
      const double x = noise(rng);
      const int64_t head_bucket_before = w.head_time_ms() == std::numeric_limits<int64_t>::min()
                                             ? std::numeric_limits<int64_t>::min()
                                             : w.head_time_ms() / bucket_ms;
      const bool should_accept = head_bucket_before == std::numeric_limits<int64_t>::min() ||
                                 et / bucket_ms > head_bucket_before - static_cast<int64_t>(buckets);
      ASSERT_EQ(w.add(et, x), should_accept) << "seed " << seed << " event " << i;
      if (should_accept) accepted.push_back({et, x});
      const auto got = w.stats();
      const auto want = brute_force(accepted, bucket_ms, buckets);
      ASSERT_EQ(got.count, want.count) << "seed " << seed << " event " << i;
      // Single-precision bucket means, 16-bit bucket deviations (see RollingWindow.h).
      const double spread = want.count >= 2 ? want.stddev : 0.0;
      ASSERT_NEAR(got.mean, want.mean, 1e-6 * (spread + 1e-3 * std::abs(want.mean)));
      if (want.count >= 2) {
        ASSERT_NEAR(got.stddev, want.stddev, 1e-3 * want.stddev + 1e-8 * std::abs(want.mean));
      }
    }
  }
}

// Found by fuzz_record_path: finite readings beyond a float's range overflow the float accumulators to
// infinity and NaN, and encoding the bucket's deviation was undefined behaviour (UBSan). The decoder now
// refuses such readings; the window itself must stay defined, and whole again once they have left it.
TEST(RollingWindow, ValuesBeyondFloatRangeKeepTheWindowDefined) {
  RollingWindow w(3'600'000, 6);
  for (int i = 0; i < 200; ++i) w.add(int64_t{i} * 60'000, i % 2 ? 1e300 : -1e300);
  // Once the extreme values have left (a gap longer than the window empties it), the window is whole again.
  for (int i = 300; i < 400; ++i) w.add(int64_t{i} * 60'000, 230.0 + i % 3);
  const WindowStats s = w.stats();
  EXPECT_EQ(s.count, 60u);
  EXPECT_NEAR(s.mean, 231.0, 1.0);
  EXPECT_TRUE(std::isfinite(s.stddev));
}

TEST(RollingWindow, TracksLastAndRateOfChangeInEventTime) {
  RollingWindow w(3'600'000, 12);
  w.add(0, 10.0);
  w.add(60'000, 16.0);  // +6 in 60 s
  auto s = w.stats();
  EXPECT_EQ(s.last, 16.0);
  EXPECT_DOUBLE_EQ(s.rate_per_s, 0.1);
  w.add(30'000, 100.0);  // late, between the two newest: becomes "previous"
  s = w.stats();
  EXPECT_EQ(s.last, 16.0);
  EXPECT_DOUBLE_EQ(s.rate_per_s, (16.0 - 100.0) / 30.0);
}

TEST(RollingWindow, RefusesNonFiniteAndTooLateEvents) {
  RollingWindow w(10'000, 10);
  EXPECT_FALSE(w.add(0, std::nan("")));
  EXPECT_FALSE(w.add(0, INFINITY));
  EXPECT_TRUE(w.add(100'000, 1.0));
  EXPECT_FALSE(w.add(50'000, 1.0));
  EXPECT_EQ(w.count(), 1u);
}

TEST(RollingWindow, LargeOffsetValuesKeepVariancePrecision) {
  // Energy registers sit around 1e6 kWh with changes of 0.01: naive sum-of-squares would lose all digits.
  RollingWindow w(1000 * 100, 10);
  for (int i = 0; i < 100; ++i) w.add(i * 1000, 1e6 + 0.01 * (i % 2));
  EXPECT_NEAR(w.stats().stddev, 0.005025, 1e-5);
}

TEST(RollingWindow, SpreadHoldsAcrossMagnitudesAndSigns) {
  // Values spanning 10 orders of magnitude and both signs: the deviations' 16-bit codes re-anchor as larger
  // spreads come.
  RollingWindow w(24 * 3'600'000LL, 24);
  std::vector<double> all;
  std::mt19937_64 rng(17);
  std::uniform_real_distribution<double> mant(1.0, 10.0);
  for (int i = 0; i < 24 * 10; ++i) {
    const double x = (i % 3 == 0 ? -1 : 1) * mant(rng) * std::pow(10.0, i / 24);  // a decade every 72 min
    ASSERT_TRUE(w.add(i * 180'000LL, x));
    all.push_back(x);
  }
  w.add(24 * 10 * 180'000LL, 1.0);  // 12 h: folds the last bucket into the totals
  all.push_back(1.0);
  // The window holds the last 24 hours, i.e. everything.
  const auto s = w.stats();
  ASSERT_EQ(s.count, all.size());
  double sum = 0, ss = 0;
  for (double v : all) sum += v;
  const double mean = sum / static_cast<double>(all.size());
  for (double v : all) ss += (v - mean) * (v - mean);
  const double sd = std::sqrt(ss / static_cast<double>(all.size() - 1));
  EXPECT_NEAR(s.mean, mean, 1e-6 * sd);
  EXPECT_NEAR(s.stddev, sd, 1e-3 * sd);
}

TEST(RollingWindow, MemoryIsTheBucketsPlusAFixedObject) {
  RollingWindow w(24 * 3'600'000LL, 24);
  EXPECT_EQ(w.memory_bytes(), 24 * 8 + 80u);  // the buckets' block holds nothing else
}

TEST(RollingWindow, SaveRestoreRoundTripsExactly) {
  RollingWindow a(60'000, 6), b(60'000, 6);
  for (int i = 0; i < 50; ++i) a.add(i * 1700, std::sin(i) * 10);
  StateWriter w;
  a.save(w);
  const std::string bytes = w.take();
  StateReader r(bytes);
  ASSERT_TRUE(b.restore(r));
  EXPECT_TRUE(r.done());
  EXPECT_EQ(a.stats().mean, b.stats().mean);
  a.add(90'000, 3.0);
  b.add(90'000, 3.0);
  EXPECT_EQ(a.stats().stddev, b.stats().stddev);
  RollingWindow other_shape(60'000, 5);
  StateReader r2(bytes);
  EXPECT_FALSE(other_shape.restore(r2));
}

// State written before buckets lost their minimum and maximum (z-score state version 2) still restores, so an
// upgrade keeps the changelog's state: the old layout is rebuilt here from the new one by inserting the
// extremes where they were (the min/max codes' anchor after the shift, two floats after the totals' M2, two
// codes after each non-empty bucket's deviation).
TEST(RollingWindow, RestoresTheLayoutWithExtremes) {
  RollingWindow a(60'000, 6), b(60'000, 6);
  for (int i = 0; i < 50; ++i) a.add(i * 1700, 230 + std::sin(i) * 10);
  StateWriter w;
  a.save(w);
  const std::string bytes = w.take();
  StateReader r(bytes);
  StateWriter old;
  int64_t bucket_ms = 0, head = 0, last_time = 0, prev_time = 0;
  uint32_t n = 0, count = 0;
  double shift = 0, last_value = 0, mean = 0, m2 = 0;
  int8_t sd_anchor = 0;
  float prev_value = 0, head_m2 = 0;
  ASSERT_TRUE(r.get(bucket_ms) && r.get(n) && r.get(head) && r.get(shift) && r.get(sd_anchor) &&
              r.get(last_time) && r.get(last_value) && r.get(prev_time) && r.get(prev_value) &&
              r.get(count) && r.get(mean) && r.get(m2) && r.get(head_m2));
  old.put(bucket_ms);
  old.put(n);
  old.put(head);
  old.put(shift);
  old.put(int8_t{0});  // the extremes' anchor
  old.put(sd_anchor);
  old.put(last_time);
  old.put(last_value);
  old.put(prev_time);
  old.put(prev_value);
  old.put(count);
  old.put(mean);
  old.put(m2);
  old.put(220.0f);  // window min and max
  old.put(240.0f);
  old.put(head_m2);
  for (uint32_t i = 0; i < n; ++i) {
    uint16_t c = 0, sd = 0;
    float m = 0;
    ASSERT_TRUE(r.get(c));
    old.put(c);
    if (c == 0) continue;
    ASSERT_TRUE(r.get(m) && r.get(sd));
    old.put(m);
    old.put(sd);
    old.put(uint16_t{0});  // bucket min and max codes
    old.put(uint16_t{0});
  }
  ASSERT_TRUE(r.done());
  const std::string old_bytes = old.take();
  StateReader r_old(old_bytes);
  ASSERT_TRUE(b.restore(r_old, /*with_extremes=*/true));
  EXPECT_TRUE(r_old.done());
  EXPECT_EQ(a.stats().mean, b.stats().mean);
  EXPECT_EQ(a.stats().stddev, b.stats().stddev);
  StateReader r_new_as_old(bytes);
  EXPECT_FALSE(RollingWindow(60'000, 6).restore(r_new_as_old, /*with_extremes=*/true));
}

}  // namespace
}  // namespace gridsentinel::features
