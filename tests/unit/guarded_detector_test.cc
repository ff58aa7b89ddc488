#include "pipeline/GuardedDetector.h"

#include <gtest/gtest.h>

#include <memory>
#include <utility>
#include <vector>

#include "detectors/IqrDetector.h"
#include "detectors/SpikeDetector.h"

namespace gridsentinel::pipeline {
namespace {

// A detector stand-in that counts live instances and owns heap memory, so that a leaked, doubly destroyed or
// never constructed detector shows (here and under AddressSanitizer).
struct Counted {
  static inline int live = 0;
  explicit Counted(int v) : value(std::make_unique<int>(v)) { ++live; }
  Counted(const Counted& o) : value(std::make_unique<int>(*o.value)) { ++live; }
  Counted(Counted&& o) noexcept : value(std::move(o.value)) { ++live; }
  Counted& operator=(const Counted& o) {
    value = std::make_unique<int>(*o.value);
    return *this;
  }
  Counted& operator=(Counted&& o) noexcept {
    value = std::move(o.value);
    return *this;
  }
  ~Counted() { --live; }
  std::unique_ptr<int> value;
};

TEST(OptionalGuarded, CostsNoMoreThanTheGuardedDetector) {
  EXPECT_EQ(sizeof(OptionalGuarded<detectors::IqrDetector>), sizeof(Guarded<detectors::IqrDetector>));
  EXPECT_EQ(sizeof(OptionalGuarded<detectors::SpikeDetector>), sizeof(Guarded<detectors::SpikeDetector>));
}

TEST(OptionalGuarded, EmptyHoldsNoDetector) {
  Counted::live = 0;
  {
    OptionalGuarded<Counted> e;
    EXPECT_FALSE(e);
    EXPECT_FALSE(e.has_value());
    OptionalGuarded<Counted> copy = e;
    OptionalGuarded<Counted> moved = std::move(e);
    EXPECT_FALSE(copy);
    EXPECT_FALSE(moved);
    EXPECT_EQ(Counted::live, 0);
  }
  EXPECT_EQ(Counted::live, 0);
}

TEST(OptionalGuarded, CopiesMovesAndAssignmentsKeepOneDetectorEach) {
  Counted::live = 0;
  {
    OptionalGuarded<Counted> a(Counted(7));
    ASSERT_TRUE(a);
    EXPECT_EQ(*a->detector.value, 7);
    a->guard.set_flagged_run(3);
    a->episode.restore(2, 1000);
    EXPECT_EQ(Counted::live, 1);

    OptionalGuarded<Counted> b = a;  // copy: independent detector, same guard and episode
    *b->detector.value = 8;
    EXPECT_EQ(*a->detector.value, 7);
    EXPECT_EQ(b->guard.flagged_run(), 3u);
    EXPECT_EQ(b->episode.last_report_ms(), 1000);
    EXPECT_EQ(Counted::live, 2);

    OptionalGuarded<Counted> c = std::move(b);
    EXPECT_EQ(*c->detector.value, 8);
    EXPECT_EQ(Counted::live, 3);  // b keeps a moved-from detector until it is destroyed, as std::optional

    OptionalGuarded<Counted> empty;
    c = empty;  // engaged <- empty: the detector is destroyed
    EXPECT_FALSE(c);
    EXPECT_EQ(Counted::live, 2);
    c = a;  // empty <- engaged: one is constructed
    ASSERT_TRUE(c);
    EXPECT_EQ(*c->detector.value, 7);
    EXPECT_EQ(Counted::live, 3);
    c = OptionalGuarded<Counted>(Counted(9));  // engaged <- engaged (move): assigned in place
    EXPECT_EQ(*c->detector.value, 9);
    EXPECT_EQ(Counted::live, 3);
    const OptionalGuarded<Counted>& self = c;
    c = self;  // self-assignment changes nothing
    EXPECT_EQ(*c->detector.value, 9);

    std::vector<OptionalGuarded<Counted>> v;  // reallocation moves them
    for (int i = 0; i < 50; ++i)
      v.push_back(i % 2 ? OptionalGuarded<Counted>(Counted(i)) : OptionalGuarded<Counted>());
    for (int i = 0; i < 50; ++i) {
      ASSERT_EQ(static_cast<bool>(v[static_cast<size_t>(i)]), i % 2 == 1);
      if (i % 2) {
        EXPECT_EQ(*v[static_cast<size_t>(i)]->detector.value, i);
      }
    }
    EXPECT_EQ(Counted::live, 3 + 25);
  }
  EXPECT_EQ(Counted::live, 0);
}

}  // namespace
}  // namespace gridsentinel::pipeline
