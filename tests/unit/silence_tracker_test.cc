// Missing readings judged in event time: a replayed fleet (2019 data, no wall clock) with meters that fall
// silent.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <utility>
#include <vector>

#include "detectors/rules/FleetWatermark.h"
#include "detectors/rules/SilenceTracker.h"

namespace gridsentinel::detectors {
namespace {

constexpr int64_t kStart = 1'546'300'800'000;  // 2019-01-01 00:00 UTC: a replay of history
constexpr uint32_t kInterval = 900'000;        // 15 minutes

int64_t round_time(int r) {
  return kStart + static_cast<int64_t>(r) * kInterval;
}

// Replays `rounds` rounds of a fleet of `meters` 15-minute meters, each round in a shuffled order, draining
// after every `drain_every` readings. `silent(meter, round)` says which readings never arrive.
struct Replay {
  uint32_t meters = 200;
  int rounds = 192;
  size_t drain_every = 200;
  size_t max_examined = std::numeric_limits<size_t>::max();  // heap entries a drain may take off
  uint64_t seed = 1;
  std::function<bool(uint32_t, int)> silent = [](uint32_t, int) { return false; };

  struct Report {
    MissingReport report;
    int round;      // the round being replayed when it was reported
    bool from_gap;  // reported by on_reading (kGapReported) rather than drain_missing
  };
  std::vector<Report> reports;
  std::vector<std::pair<uint32_t, int>> ended;  // (meter, round) of kSilenceEnded

  void run(SilenceTracker& tracker, FleetWatermark& wm) {
    std::mt19937_64 rng(seed);
    std::vector<uint32_t> order(meters);
    size_t since_drain = 0;
    std::vector<MissingReport> out;
    for (int r = 0; r < rounds; ++r) {
      for (uint32_t m = 0; m < meters; ++m) order[m] = m;
      std::shuffle(order.begin(), order.end(), rng);
      for (uint32_t m : order) {
        if (silent(m, r)) continue;
        MissingReport gap;
        const auto u = tracker.on_reading(m, round_time(r), kInterval, &gap);
        if (u == SilenceTracker::Update::kGapReported) reports.push_back({gap, r, true});
        if (u == SilenceTracker::Update::kSilenceEnded) ended.emplace_back(m, r);
        wm.observe(round_time(r));
        if (++since_drain >= drain_every) {
          since_drain = 0;
          out.clear();
          tracker.drain_missing(wm.watermark(), out, std::numeric_limits<size_t>::max(), max_examined);
          for (const auto& rep : out) reports.push_back({rep, r, false});
        }
      }
    }
  }
};

TEST(SilenceTracker, ReportsAMeterSilentPastThreeIntervalsOfFleetProgress) {
  SilenceTracker tracker;
  FleetWatermark wm(FleetWatermarkConfig{.sample_size = 1024});  // ~5 rounds: cheaper per drain
  Replay replay;
  replay.drain_every = 1;  // the pipeline drains per batch; here, after every reading, to pin the round
  replay.silent = [](uint32_t m, int r) { return m == 17 && r >= 100; };
  replay.run(tracker, wm);
  ASSERT_EQ(replay.reports.size(), 1u);
  const auto& rep = replay.reports[0];
  EXPECT_EQ(rep.report.meter, 17u);
  EXPECT_FALSE(rep.from_gap);
  EXPECT_EQ(rep.report.last_event_ms, round_time(99));
  EXPECT_EQ(rep.report.deadline_ms, round_time(99) + 3 * int64_t{kInterval});
  EXPECT_EQ(rep.report.interval_ms, kInterval);
  // Watermark = the fleet's latest round - 5 min lateness: it passes 45 min after 10:45 once round 103 is
  // seen.
  EXPECT_EQ(rep.round, 103);
  EXPECT_GT(rep.report.watermark_ms, rep.report.deadline_ms);

  const Finding f = missing_readings_finding(rep.report);
  EXPECT_EQ(f.type, RuleType::kMissingReadings);
  EXPECT_EQ(f.name(), "missing_readings");
  EXPECT_EQ(f.feature, "silence_s");
  EXPECT_EQ(f.event_time_ms, rep.report.deadline_ms);
  EXPECT_DOUBLE_EQ(f.expected_high, 2700.0);
  EXPECT_GT(f.observed, f.expected_high);
  EXPECT_FALSE(f.explanation_text().empty());
}

TEST(SilenceTracker, NoReportWhileTheWholeFleetIsIdle) {
  SilenceTracker tracker;
  FleetWatermark wm;
  Replay replay;
  replay.rounds = 100;
  replay.run(tracker, wm);
  EXPECT_TRUE(replay.reports.empty());
  // The head-end stops: no readings, so the watermark cannot move, however often the pipeline drains.
  std::vector<MissingReport> out;
  for (int i = 0; i < 1000; ++i) tracker.drain_missing(wm.watermark(), out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(wm.watermark(), round_time(99) - 300'000);
}

TEST(SilenceTracker, ReportsAgainOnlyAfterTheMeterReportsAndFallsSilentAgain) {
  SilenceTracker tracker;
  FleetWatermark wm;
  Replay replay;
  replay.silent = [](uint32_t m, int r) { return m == 5 && ((r >= 50 && r < 80) || r >= 120); };
  replay.run(tracker, wm);
  ASSERT_EQ(replay.reports.size(), 2u);
  EXPECT_EQ(replay.reports[0].report.last_event_ms, round_time(49));
  EXPECT_EQ(replay.reports[1].report.last_event_ms, round_time(119));
  ASSERT_EQ(replay.ended.size(), 1u);
  EXPECT_EQ(replay.ended[0], std::make_pair(5u, 80));
}

TEST(SilenceTracker, AShortGapWithinTheAllowanceIsNotReported) {
  SilenceTracker tracker;
  FleetWatermark wm;
  Replay replay;
  replay.silent = [](uint32_t m, int r) { return m == 9 && r >= 60 && r < 62; };  // two readings missing
  replay.run(tracker, wm);
  EXPECT_TRUE(replay.reports.empty());
}

TEST(SilenceTracker, AFleetWideGapReportsEveryMeterOnceWhateverTheDrainCadence) {
  // The head-end is down for 6 hours, then delivers again. Every meter missed 24 readings; which call notices
  // first (a drain after the watermark jumps, or the meter's own next reading) depends on the order of the
  // round, but each meter is reported exactly once either way.
  for (size_t drain_every : {size_t{1}, size_t{37}, size_t{200}, size_t{5000}}) {
    SilenceTracker tracker;
    FleetWatermark wm(FleetWatermarkConfig{.sample_size = 1024});  // ~5 rounds: cheaper per drain
    Replay replay;
    replay.drain_every = drain_every;
    replay.silent = [](uint32_t, int r) { return r >= 40 && r < 64; };
    replay.run(tracker, wm);
    std::map<uint32_t, int> per_meter;
    for (const auto& rep : replay.reports) {
      ++per_meter[rep.report.meter];
      EXPECT_EQ(rep.report.last_event_ms, round_time(39));
    }
    EXPECT_EQ(per_meter.size(), 200u) << "drain every " << drain_every;
    for (const auto& [m, n] : per_meter) EXPECT_EQ(n, 1) << "meter " << m;
  }
}

TEST(SilenceTracker, LearnsTheCadenceWhenReadingsCarryNoInterval) {
  // Hourly meters that do not send interval_s: the interval comes from their own gaps.
  SilenceTracker tracker;
  for (uint32_t m = 0; m < 10; ++m)
    for (int h = 0; h < 10; ++h) tracker.on_reading(m, kStart + h * 3'600'000LL, 0);
  std::vector<MissingReport> out;
  // 2.5 hours after the last reading: within 3 intervals of one hour.
  tracker.drain_missing(kStart + 9 * 3'600'000LL + 9'000'000, out);
  EXPECT_TRUE(out.empty());
  tracker.drain_missing(kStart + 9 * 3'600'000LL + 10'900'000, out);
  EXPECT_EQ(out.size(), 10u);
  for (const auto& r : out) EXPECT_EQ(r.interval_ms, 3'600'000u);
}

TEST(SilenceTracker, AMeterWithOneReadingAndNoIntervalHasNoDeadlineYet) {
  SilenceTracker tracker;
  tracker.on_reading(3, kStart, 0);
  std::vector<MissingReport> out;
  tracker.drain_missing(kStart + 365LL * 86'400'000, out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(tracker.tracked(), 1u);
}

TEST(SilenceTracker, AShorterIntervalMovesTheDeadlineEarlier) {
  SilenceTracker tracker;
  tracker.on_reading(1, kStart, 3'600'000);           // deadline kStart + 3 h
  tracker.on_reading(1, kStart + 60'000, kInterval);  // reconfigured to 15 min: deadline kStart + 46 min
  std::vector<MissingReport> out;
  tracker.drain_missing(kStart + 47 * 60'000, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].deadline_ms, kStart + 60'000 + 3 * int64_t{kInterval});
  tracker.drain_missing(kStart + 10 * 3'600'000LL, out);
  EXPECT_EQ(out.size(), 1u);  // the superseded entry is dropped, not reported
}

TEST(SilenceTracker, LateReadingsAreIgnoredAndHandlesAreBounded) {
  SilenceTracker tracker(SilenceTrackerConfig{.max_meters = 100});
  EXPECT_EQ(tracker.on_reading(100, kStart, kInterval), SilenceTracker::Update::kRejected);
  EXPECT_EQ(tracker.on_reading(99, kStart, kInterval), SilenceTracker::Update::kTracked);
  EXPECT_EQ(tracker.on_reading(99, kStart, kInterval), SilenceTracker::Update::kLate);
  EXPECT_EQ(tracker.on_reading(99, kStart - 1, kInterval), SilenceTracker::Update::kLate);
  std::vector<MissingReport> out;
  tracker.drain_missing(kStart + 3 * int64_t{kInterval} + 1, out);
  EXPECT_EQ(out.size(), 1u);
}

TEST(SilenceTracker, HeapStaysBoundedByTheTrackedMeters) {
  SilenceTracker tracker;
  std::mt19937_64 rng(3);
  std::vector<MissingReport> out;
  for (int r = 0; r < 500; ++r) {
    for (uint32_t m = 0; m < 1000; ++m) {
      // Intervals that keep shrinking and growing push extra entries; compaction must keep them in check.
      const uint32_t interval = (rng() % 2) ? kInterval : 300'000;
      tracker.on_reading(m, round_time(r) + m, interval);
    }
    EXPECT_LE(tracker.queued_entries(), 2 * tracker.tracked() + 64);
    if (r % 10 == 0) tracker.drain_missing(round_time(r) - 3'600'000, out);
  }
  EXPECT_EQ(tracker.tracked(), 1000u);
}

// 10,000 meters on one 15-minute schedule share one deadline: once the watermark passes it, every entry
// comes due. Meters 1,000 and 9,999 fell silent after round 0; the others' entries are lazy (their meters
// read since) and are re-queued. Ties go by handle.
void aligned_fleet(SilenceTracker& t) {
  for (int r = 0; r < 4; ++r)
    for (uint32_t m = 0; m < 10'000; ++m)
      if ((m != 1'000 && m != 9'999) || r == 0) t.on_reading(m, round_time(r), kInterval);
}

TEST(SilenceTracker, AnAlignedFleetsEntriesAreWorkedOffOverSeveralCallsUnderABudget) {
  SilenceTracker budgeted, unbounded;
  aligned_fleet(budgeted);
  aligned_fleet(unbounded);
  const int64_t wm = round_time(3) + 1;  // past round 0 + 3 intervals
  std::vector<MissingReport> out;
  unbounded.drain_missing(wm, out);
  ASSERT_EQ(out.size(), 2u);
  out.clear();
  // 1,000 entries a call: the first call stops just before meter 1,000 (one more entry and it would report).
  EXPECT_EQ(budgeted.drain_missing(wm, out, 10'000, 1'000), 0u);
  ASSERT_EQ(budgeted.drain_missing(wm, out, 10'000, 1'000), 1u);
  EXPECT_EQ(out[0].meter, 1'000u);
  for (int call = 3; call <= 9; ++call) EXPECT_EQ(budgeted.drain_missing(wm, out, 10'000, 1'000), 0u) << call;
  ASSERT_EQ(budgeted.drain_missing(wm, out, 10'000, 1'000), 1u);
  EXPECT_EQ(out[1].meter, 9'999u);
  EXPECT_EQ(out[1].last_event_ms, round_time(0));
  EXPECT_EQ(budgeted.drain_missing(wm, out, 10'000, 1'000), 0u);  // the re-queued ones are not due yet
}

TEST(SilenceTracker,
     AMeterThatReadsAgainPastItsDeadlineWhileItsEntryWaitsBehindABudgetIsReportedByTheReading) {
  // Meter 9,999 comes back at round 4, past its deadline (round 0 + 45 min), while its due entry still waits
  // behind the budget: the reading reports the silence, with the same last reading and deadline as an
  // unbounded drain's report, and the drains that reach the entry later do not report it again.
  SilenceTracker budgeted, unbounded;
  aligned_fleet(budgeted);
  aligned_fleet(unbounded);
  const int64_t wm = round_time(3) + 1;
  std::vector<MissingReport> out_budgeted, out_unbounded;
  unbounded.drain_missing(wm, out_unbounded);
  budgeted.drain_missing(wm, out_budgeted, 10'000, 1'000);
  ASSERT_EQ(out_unbounded.size(), 2u);
  ASSERT_TRUE(out_budgeted.empty());
  MissingReport gap;
  EXPECT_EQ(unbounded.on_reading(9'999, round_time(4), kInterval, &gap),
            SilenceTracker::Update::kSilenceEnded);
  ASSERT_EQ(budgeted.on_reading(9'999, round_time(4), kInterval, &gap), SilenceTracker::Update::kGapReported);
  EXPECT_EQ(gap.meter, 9'999u);
  EXPECT_EQ(gap.last_event_ms, out_unbounded[1].last_event_ms);
  EXPECT_EQ(gap.deadline_ms, out_unbounded[1].deadline_ms);
  for (int call = 0; call < 12; ++call) budgeted.drain_missing(wm, out_budgeted, 10'000, 1'000);
  ASSERT_EQ(out_budgeted.size(), 1u);
  EXPECT_EQ(out_budgeted[0].meter, 1'000u);
}

TEST(SilenceTracker, ABudgetThatFallsBehindDelaysReportsButLosesOrRepeatsNone) {
  // Meters falling silent and coming back at random; drains allowed 50 entries per 200 readings, far fewer
  // than surface (so the heap falls behind), against drains without a bound. Every silence is reported
  // exactly once either way (by a drain, or by on_reading when the meter comes back first), with the same
  // last reading and deadline, once a last unbounded drain has caught up.
  auto silences = [](uint32_t m, int r) {
    const uint64_t h = (uint64_t{m} * 0x9e3779b97f4a7c15ULL) ^ (uint64_t(r / 12) * 0xc2b2ae3d27d4eb4fULL);
    return (h >> 59) == 0 && r % 12 >= 3;  // ~1 in 32 meters silent for 9 of every 12 rounds
  };
  auto run = [&](size_t max_examined) {
    SilenceTracker tracker;
    FleetWatermark wm;
    Replay replay;
    replay.silent = silences;
    replay.max_examined = max_examined;
    replay.run(tracker, wm);
    std::vector<MissingReport> out;
    tracker.drain_missing(wm.watermark(), out);
    for (const auto& rep : out) replay.reports.push_back({rep, replay.rounds, false});
    std::map<std::pair<uint32_t, int64_t>, std::pair<int64_t, int>> seen;  // (meter, last) -> (deadline, n)
    for (const auto& rep : replay.reports) {
      auto& [deadline, n] = seen[{rep.report.meter, rep.report.last_event_ms}];
      deadline = rep.report.deadline_ms;
      ++n;
    }
    return std::pair{seen, replay.reports};
  };
  const auto [budgeted, budgeted_reports] = run(50);
  const auto [unbounded, unbounded_reports] = run(std::numeric_limits<size_t>::max());
  EXPECT_GT(unbounded.size(), 50u);
  for (const auto& [key, v] : unbounded) EXPECT_EQ(v.second, 1) << "meter " << key.first;
  EXPECT_EQ(budgeted, unbounded);
  // The budget did bite: some report came later (in a later round) than without it.
  std::map<std::pair<uint32_t, int64_t>, int> unbounded_round;
  for (const auto& rep : unbounded_reports)
    unbounded_round[{rep.report.meter, rep.report.last_event_ms}] = rep.round;
  size_t later = 0;
  for (const auto& rep : budgeted_reports)
    later += rep.round > unbounded_round[{rep.report.meter, rep.report.last_event_ms}];
  EXPECT_GT(later, 0u);
}

TEST(SilenceTracker, ForgetStopsTrackingAndMeterStateRoundTrips) {
  SilenceTracker a;
  a.on_reading(7, kStart, kInterval);
  a.on_reading(7, kStart + kInterval, kInterval);
  StateWriter w;
  a.save_meter(7, w);
  SilenceTracker b;
  StateReader r(w.bytes());
  ASSERT_TRUE(b.restore_meter(7, r));
  EXPECT_TRUE(r.done());
  std::vector<MissingReport> out_a, out_b;
  a.drain_missing(kStart + 10 * int64_t{kInterval}, out_a);
  b.drain_missing(kStart + 10 * int64_t{kInterval}, out_b);
  ASSERT_EQ(out_a.size(), 1u);
  ASSERT_EQ(out_b.size(), 1u);
  EXPECT_EQ(out_a[0].deadline_ms, out_b[0].deadline_ms);

  StateReader truncated(std::string_view(w.bytes()).substr(0, 5));
  EXPECT_FALSE(b.restore_meter(8, truncated));
  EXPECT_EQ(b.tracked(), 1u);

  a.forget(7);
  EXPECT_EQ(a.tracked(), 0u);
  a.on_reading(7, kStart + 20 * int64_t{kInterval}, kInterval);
  out_a.clear();
  a.drain_missing(kStart + 22 * int64_t{kInterval}, out_a);
  EXPECT_TRUE(out_a.empty());
}

TEST(SilenceTracker, ExtremeEventTimesDoNotOverflow) {
  SilenceTracker tracker;
  const int64_t lo = std::numeric_limits<int64_t>::min() + 1, hi = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(tracker.on_reading(1, lo, kInterval), SilenceTracker::Update::kTracked);
  MissingReport gap;
  EXPECT_EQ(tracker.on_reading(1, hi - 1, kInterval, &gap), SilenceTracker::Update::kGapReported);
  EXPECT_EQ(tracker.on_reading(1, hi, kInterval), SilenceTracker::Update::kTracked);
  std::vector<MissingReport> out;
  tracker.drain_missing(hi, out);
  EXPECT_TRUE(out.empty());  // the deadline saturates at the end of time
}

TEST(SilenceFleetWatermark, FollowsTheFleetNotAFewMetersWithClocksInTheFuture) {
  FleetWatermark wm;
  EXPECT_EQ(wm.watermark(), FleetWatermark::kUnknown);
  for (int r = 0; r < 20; ++r)
    for (int m = 0; m < 500; ++m)
      wm.observe(m % 250 == 0 ? round_time(r) + 365LL * 86'400'000 : round_time(r));  // 0.4% a year ahead
  EXPECT_EQ(wm.watermark(), round_time(19) - 300'000);
}

TEST(SilenceFleetWatermark, NeverMovesBackwardsAndWaitsForMinimumSamples) {
  FleetWatermark wm(FleetWatermarkConfig{.sample_size = 128, .min_samples = 10});
  for (int i = 0; i < 9; ++i) wm.observe(round_time(10));
  EXPECT_EQ(wm.watermark(), FleetWatermark::kUnknown);
  wm.observe(round_time(10));
  EXPECT_EQ(wm.watermark(), round_time(10) - 300'000);
  for (int i = 0; i < 200; ++i) wm.observe(round_time(2));  // a late partition catching up
  EXPECT_EQ(wm.watermark(), round_time(10) - 300'000);
  EXPECT_THROW(FleetWatermark(FleetWatermarkConfig{.quantile = 1.5}), std::invalid_argument);
}

}  // namespace
}  // namespace gridsentinel::detectors
