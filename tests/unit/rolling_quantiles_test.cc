// RollingQuantiles: the exact rolling window against a brute-force model and numpy's figures.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "features/HalfCode.h"
#include "features/MedianWindow.h"
#include "features/RollingQuantiles.h"

namespace gridsentinel::features {
namespace {

// The window's rules, restated naively: keep every accepted point, re-sort, trim. Slow and obviously right.
class BruteForceWindow {
 public:
  BruteForceWindow(uint32_t max_points, int64_t window_ms) : max_points_(max_points), window_ms_(window_ms) {}

  bool add(int64_t t, double v) {
    if (!std::isfinite(v)) return false;
    if (!points_.empty()) {
      if (window_ms_ > 0 && t <= newest() - window_ms_) return false;
      if (points_.size() == max_points_ && t < points_.front().t) return false;
    }
    points_.push_back({t, seq_++, v});
    std::sort(points_.begin(), points_.end(),
              [](const P& a, const P& b) { return a.t != b.t ? a.t < b.t : a.seq < b.seq; });
    if (points_.size() > max_points_) points_.erase(points_.begin());
    while (window_ms_ > 0 && points_.front().t <= newest() - window_ms_) points_.erase(points_.begin());
    return true;
  }
  std::vector<double> sorted() const {
    std::vector<double> v;
    for (const auto& p : points_) v.push_back(p.v);
    std::sort(v.begin(), v.end());
    return v;
  }

 private:
  struct P {
    int64_t t;
    uint64_t seq;
    double v;
  };
  int64_t newest() const { return points_.back().t; }
  uint32_t max_points_;
  int64_t window_ms_;
  uint64_t seq_ = 0;
  std::vector<P> points_;
};

double type7(const std::vector<double>& s, double q) {
  const double h = static_cast<double>(s.size() - 1) * q;
  const auto lo = static_cast<size_t>(std::floor(h));
  const size_t hi = std::min(lo + 1, s.size() - 1);
  return s[lo] + (h - static_cast<double>(lo)) * (s[hi] - s[lo]);
}

double brute_mad(const std::vector<double>& s) {
  const double m = type7(s, 0.5);
  std::vector<double> d;
  for (double x : s) d.push_back(std::abs(x - m));
  std::sort(d.begin(), d.end());
  return type7(d, 0.5);
}

TEST(RollingQuantiles, MatchesBruteForceOnJitteredStreamsWithTies) {
  struct Shape {
    uint32_t max_points;
    int64_t window_ms;
  };
  for (const Shape shape :
       {Shape{1, 0}, Shape{2, 0}, Shape{7, 0}, Shape{64, 0}, Shape{64, 5000}, Shape{500, 20000}}) {
    for (const bool ties : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "max_points " << shape.max_points << " window_ms "
                                        << shape.window_ms << " ties " << ties);
      std::mt19937_64 gen(shape.max_points * 31 + (ties ? 1 : 0));
      std::normal_distribution<double> normal(50.0, 10.0);
      std::uniform_int_distribution<int> jitter(-3000, 1000);  // mostly forward, sometimes seconds late
      RollingQuantiles w(shape.max_points, shape.window_ms);
      BruteForceWindow ref(shape.max_points, shape.window_ms);
      int64_t t = 0;
      for (int i = 0; i < 3000; ++i) {
        t += 100;
        const int64_t when = t + jitter(gen);
        double v = normal(gen);
        if (ties) v = std::round(v / 5.0);
        if (i % 97 == 0) v = std::numeric_limits<double>::quiet_NaN();
        ASSERT_EQ(w.add(when, v), ref.add(when, v)) << "at " << i;
        const auto expected = ref.sorted();
        ASSERT_EQ(std::vector<double>(w.sorted().begin(), w.sorted().end()), expected) << "at " << i;
        if (expected.empty()) continue;
        for (double q : {0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0})
          ASSERT_DOUBLE_EQ(w.quantile(q), type7(expected, q));
        ASSERT_DOUBLE_EQ(w.mad(), brute_mad(expected)) << "at " << i;
      }
    }
  }
}

TEST(RollingQuantiles, QuartilesAndMadMatchNumpy) {
  // numpy 1.24: np.quantile(x, [.25, .5, .75]) and np.median(np.abs(x - np.median(x))).
  const std::vector<double> x = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9.5};
  RollingQuantiles w(15, 0);
  for (size_t i = 0; i < x.size(); ++i) w.add(static_cast<int64_t>(i), x[i]);
  const Quartiles q = w.quartiles();
  EXPECT_EQ(q.count, 15u);
  EXPECT_DOUBLE_EQ(q.q1, 3.0);
  EXPECT_DOUBLE_EQ(q.median, 5.0);
  EXPECT_DOUBLE_EQ(q.q3, 7.5);
  EXPECT_DOUBLE_EQ(w.mad(), 2.0);

  RollingQuantiles first_ten(10, 0);
  for (size_t i = 0; i < 10; ++i) first_ten.add(static_cast<int64_t>(i), x[i]);
  EXPECT_DOUBLE_EQ(first_ten.quantile(0.25), 2.25);
  EXPECT_DOUBLE_EQ(first_ten.median(), 3.5);
  EXPECT_DOUBLE_EQ(first_ten.quantile(0.75), 5.0);
  EXPECT_DOUBLE_EQ(first_ten.mad(), 1.5);
}

TEST(RollingQuantiles, EmptyWindowGivesNaN) {
  RollingQuantiles w(8, 0);
  EXPECT_TRUE(std::isnan(w.median()));
  EXPECT_TRUE(std::isnan(w.mad()));
  EXPECT_EQ(w.quartiles().count, 0u);
}

TEST(RollingQuantiles, EvictsByEventTimeAndRefusesPointsOlderThanTheWindow) {
  RollingQuantiles w(100, 1000);
  EXPECT_TRUE(w.add(0, 1.0));
  EXPECT_TRUE(w.add(500, 2.0));
  EXPECT_TRUE(w.add(999, 3.0));
  EXPECT_EQ(w.count(), 3u);
  EXPECT_TRUE(w.add(1000, 4.0));  // t = 0 is now exactly one window old: out
  EXPECT_EQ(w.count(), 3u);
  EXPECT_DOUBLE_EQ(w.quantile(0.0), 2.0);
  EXPECT_FALSE(w.add(0, 9.0));   // older than the window
  EXPECT_TRUE(w.add(400, 0.5));  // late but inside: counted
  EXPECT_EQ(w.count(), 4u);
  EXPECT_DOUBLE_EQ(w.quantile(0.0), 0.5);
  EXPECT_TRUE(w.add(1450, 5.0));  // evicts 400 (and nothing at 500 yet)
  EXPECT_EQ(w.count(), 4u);
  EXPECT_DOUBLE_EQ(w.quantile(0.0), 2.0);
}

TEST(RollingQuantiles, FullCountWindowRefusesAPointOlderThanAllItHolds) {
  RollingQuantiles w(3, 0);
  for (int64_t t : {10, 20, 30}) w.add(t, static_cast<double>(t));
  EXPECT_FALSE(w.add(5, 100.0));
  EXPECT_TRUE(w.add(15, 15.0));  // late, but newer than the oldest: replaces it
  EXPECT_EQ(std::vector<double>(w.sorted().begin(), w.sorted().end()), (std::vector<double>{15, 20, 30}));
}

TEST(RollingQuantiles, SaveRestoreRoundTripsAndRejectsAnotherShapeOrDisorder) {
  RollingQuantiles w(16, 10000);
  for (int i = 0; i < 40; ++i) w.add(i * 300 - (i % 5) * 70, std::sin(i));
  StateWriter out;
  w.save(out);
  const std::string state = out.take();

  RollingQuantiles back(16, 10000);
  StateReader in(state);
  ASSERT_TRUE(back.restore(in));
  EXPECT_TRUE(in.done());
  StateWriter again;
  back.save(again);
  EXPECT_EQ(again.bytes(), state);
  for (int i = 40; i < 80; ++i) {
    ASSERT_EQ(w.add(i * 300, std::cos(i)), back.add(i * 300, std::cos(i)));
    ASSERT_EQ(w.quartiles().median, back.quartiles().median);
    ASSERT_EQ(w.mad(), back.mad());
  }

  RollingQuantiles other_shape(17, 10000);
  StateReader in2(state);
  EXPECT_FALSE(other_shape.restore(in2));

  std::string disordered = state;  // swap the first two points' times: no longer in event-time order
  const size_t first = sizeof(uint32_t) + sizeof(int64_t) + sizeof(uint32_t);
  std::swap_ranges(disordered.begin() + first, disordered.begin() + first + 8,
                   disordered.begin() + first + 16);
  RollingQuantiles target(16, 10000);
  StateReader in3(disordered);
  EXPECT_FALSE(target.restore(in3));
  EXPECT_EQ(target.count(), 0u);
}

// HalfCodec (the 16-bit codes of the compact windows): monotone, within its stated error bound, and rounding
// down/up encloses the value.
TEST(HalfCodec, CodesAreMonotoneAndWithinTheBound) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> mant(-1.0, 1.0);
  std::uniform_int_distribution<int> exp(-12, 10);  // within the anchor's headroom (>= 2^11 above first)
  for (double first : {1.0, 230.0, 1e-3, 4.2e6}) {
    HalfCodec c;
    c.set_anchor(c.anchor_for(first));
    std::vector<double> xs;
    for (int i = 0; i < 20000; ++i) xs.push_back(mant(rng) * std::ldexp(std::abs(first), exp(rng)));
    xs.push_back(0.0);
    std::sort(xs.begin(), xs.end());
    const double scale = std::ldexp(1.0, c.anchor());
    for (size_t i = 0; i < xs.size(); ++i) {
      const double x = xs[i];
      ASSERT_EQ(c.anchor_for(x), c.anchor()) << x;
      const uint16_t k = c.encode(x);
      ASSERT_TRUE(HalfCodec::valid(k));
      ASSERT_NEAR(c.decode(k), x, 0x1p-11 * std::abs(x) + 0x1p-25 * scale) << x;
      ASSERT_LE(c.decode(c.encode(x, Rounding::kDown)), x);
      ASSERT_GE(c.decode(c.encode(x, Rounding::kUp)), x);
      if (i > 0) {
        ASSERT_LE(c.encode(xs[i - 1]), k);  // order-preserving
      }
    }
    // A value beyond the headroom asks for a larger anchor (the windows then re-encode what they hold).
    EXPECT_GT(c.anchor_for(first * 1e5), c.anchor());
  }
}

// The codecs scale by times_pow2 instead of std::ldexp: the same double for every input, including results
// that overflow or fall into (or below) the subnormal range.
TEST(HalfCodec, TimesPow2IsLdexp) {
  std::mt19937_64 rng(8);
  std::uniform_real_distribution<double> mant(-2.0, 2.0);
  std::uniform_int_distribution<int> exp(-1074, 1023), n(-1000, 1000);
  for (int i = 0; i < 200000; ++i) {
    const double x = std::ldexp(mant(rng), exp(rng));
    const int k = n(rng);
    const double want = std::ldexp(x, k), got = times_pow2(x, k);
    ASSERT_TRUE(got == want || (std::isnan(got) && std::isnan(want))) << x << " " << k;
    ASSERT_EQ(std::signbit(got), std::signbit(want)) << x << " " << k;
  }
}

// MedianWindow (the spike detector's window): the last N points by event time, median and MAD of their
// float values, against brute force over a stream with late points, ties and a too-late point.
TEST(MedianWindow, MatchesBruteForceOverTheLastNPointsWithLatePoints) {
  for (uint32_t n : {1u, 2u, 4u, 5u, 30u, 31u, 64u}) {
    MedianWindow w(n);
    BruteForceWindow brute(n, 0);
    std::mt19937_64 rng(n);
    std::student_t_distribution<double> heavy(2.0);
    int64_t t = 1'700'000'000'000;
    for (int i = 0; i < 2000; ++i) {
      t += 1000 + static_cast<int64_t>(rng() % 1000);
      int64_t et = t;
      if (rng() % 4 == 0) et -= static_cast<int64_t>(rng() % 20'000);  // late by up to 20 s
      if (i % 500 == 499) et = t + 20LL * 86'400'000;  // 20-day jumps: the time offsets rebase
      if (i % 500 == 499) t = et;
      const double v = std::round(heavy(rng) * 100) / 4;  // quarters: floats hold them exactly; ties
      ASSERT_EQ(w.add(et, v), brute.add(et, v)) << n << " " << i;
      const auto sorted = brute.sorted();
      ASSERT_EQ(w.count(), sorted.size());
      const double m = type7(sorted, 0.5);
      ASSERT_EQ(w.median(), static_cast<double>(static_cast<float>(m))) << n << " " << i;
      ASSERT_EQ(w.mad(), static_cast<double>(static_cast<float>(brute_mad(sorted)))) << n << " " << i;
    }
    MedianWindow copy(n);
    StateWriter sw;
    w.save(sw);
    const std::string bytes = sw.take();
    StateReader r(bytes);
    ASSERT_TRUE(copy.restore(r));
    EXPECT_TRUE(r.done());
    EXPECT_EQ(copy.median(), w.median());
    EXPECT_EQ(copy.mad(), w.mad());
    MedianWindow other(n + 1);
    StateReader r2(bytes);
    EXPECT_FALSE(other.restore(r2));
  }
}

TEST(MedianWindow, EmptyIsNaNAndNonFiniteIsRefused) {
  MedianWindow w(5);
  EXPECT_TRUE(std::isnan(w.median()));
  EXPECT_TRUE(std::isnan(w.mad()));
  EXPECT_FALSE(w.add(0, std::nan("")));
  EXPECT_EQ(w.count(), 0u);
  EXPECT_LE(w.memory_bytes(), 5 * 8 + 8 + 40u);
}
}  // namespace
}  // namespace gridsentinel::features
