#include "detectors/rules/SilenceTracker.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <stdexcept>

namespace gridsentinel::detectors {
namespace {

// Min-heap order on deadlines for std::push_heap / pop_heap (which build max-heaps on `less`).
struct LaterDeadline {
  template <class E>
  bool operator()(const E& a, const E& b) const {
    return a.deadline_ms > b.deadline_ms || (a.deadline_ms == b.deadline_ms && a.meter > b.meter);
  }
};

uint32_t median3(uint32_t a, uint32_t b, uint32_t c) {
  return std::max(std::min(a, b), std::min(std::max(a, b), c));
}

}  // namespace

std::string SilenceTrackerConfig::validate() const {
  if (max_meters == 0) return "max_meters must be > 0";
  if (missing_after_intervals == 0 || missing_after_intervals > 1000)
    return "missing_after_intervals must be 1-1000";
  if (max_interval_ms == 0) return "max_interval_ms must be > 0";
  return "";
}

SilenceTracker::SilenceTracker(SilenceTrackerConfig cfg) : cfg_(cfg) {
  if (const std::string err = cfg_.validate(); !err.empty())
    throw std::invalid_argument("silence tracker config: " + err);
}

int64_t SilenceTracker::deadline(const Slot& s) const {
  const int64_t allowed = static_cast<int64_t>(cfg_.missing_after_intervals) * s.interval_ms;
  // Saturating: a (nonsensical) event time near the end of int64 must not overflow.
  return s.last_ms > std::numeric_limits<int64_t>::max() - allowed ? std::numeric_limits<int64_t>::max()
                                                                   : s.last_ms + allowed;
}

SilenceTracker::Update SilenceTracker::on_reading(uint32_t meter, int64_t event_time_ms, uint32_t interval_ms,
                                                  MissingReport* gap_report) {
  if (meter >= cfg_.max_meters || event_time_ms == kNever) return Update::kRejected;
  if (meter >= slots_.size())
    slots_.resize(static_cast<size_t>(meter) + 1);  // geometric growth, <= max_meters
  Slot& s = slots_[meter];
  const uint32_t given = std::min(interval_ms, cfg_.max_interval_ms);
  if (s.last_ms == kNever) {
    s = Slot{};
    s.last_ms = event_time_ms;
    s.interval_ms = given;
    s.given_interval = given != 0;
    ++tracked_;
    enqueue(meter, s);
    return Update::kTracked;
  }
  if (event_time_ms <= s.last_ms) return Update::kLate;

  // A silence longer than allowed that ended before the watermark caught up with it: report it now.
  const bool unreported_gap = s.reported == 0 && s.interval_ms != 0 && event_time_ms > deadline(s);
  if (unreported_gap && gap_report)
    *gap_report = {.meter = meter,
                   .last_event_ms = s.last_ms,
                   .deadline_ms = deadline(s),
                   .watermark_ms = event_time_ms,
                   .interval_ms = s.interval_ms};

  const auto gap = static_cast<uint32_t>(std::min<uint64_t>(
      static_cast<uint64_t>(event_time_ms) - static_cast<uint64_t>(s.last_ms), cfg_.max_interval_ms));
  // The cadence: median of the last three gaps; with two, the smaller (a missed reading doubles one gap).
  uint32_t learned = gap;
  if (s.gaps_ms[1] != 0)
    learned = median3(gap, s.gaps_ms[0], s.gaps_ms[1]);
  else if (s.gaps_ms[0] != 0)
    learned = std::min(gap, s.gaps_ms[0]);
  s.gaps_ms[1] = s.gaps_ms[0];
  s.gaps_ms[0] = gap;
  s.interval_ms = given != 0 ? given : learned;
  s.given_interval = given != 0;
  s.last_ms = event_time_ms;
  const bool ended = s.reported != 0;
  s.reported = 0;
  enqueue(meter, s);
  return ended ? Update::kSilenceEnded : unreported_gap ? Update::kGapReported : Update::kTracked;
}

void SilenceTracker::enqueue(uint32_t meter, Slot& s) {
  if (s.interval_ms == 0) return;  // no cadence yet: no deadline
  const int64_t d = deadline(s);
  if (s.queued_deadline == kNever) {
    ++queued_;
  } else if (d >= s.queued_deadline) {
    return;  // the live entry surfaces earlier and is re-queued at `d` then (lazy update)
  }
  s.queued_deadline = d;
  push({d, meter});
  if (heap_.size() > 2 * queued_ + 64) compact();
}

void SilenceTracker::push(Entry e) {
  heap_.push_back(e);
  std::push_heap(heap_.begin(), heap_.end(), LaterDeadline{});
}

void SilenceTracker::compact() {
  heap_.clear();
  for (size_t i = 0; i < slots_.size(); ++i)
    if (slots_[i].queued_deadline != kNever)
      heap_.push_back({slots_[i].queued_deadline, static_cast<uint32_t>(i)});
  std::make_heap(heap_.begin(), heap_.end(), LaterDeadline{});
}

size_t SilenceTracker::drain_missing(int64_t watermark_ms, std::vector<MissingReport>& out,
                                     size_t max_reports, size_t max_examined) {
  size_t reported = 0;
  for (size_t examined = 0; examined < max_examined && reported < max_reports; ++examined) {
    if (heap_.empty() || heap_.front().deadline_ms >= watermark_ms) break;
    std::pop_heap(heap_.begin(), heap_.end(), LaterDeadline{});
    const Entry e = heap_.back();
    heap_.pop_back();
    if (e.meter >= slots_.size()) continue;
    Slot& s = slots_[e.meter];
    if (s.queued_deadline != e.deadline_ms) continue;  // stale: superseded by an earlier entry, or forgotten
    const int64_t d = deadline(s);
    if (d > e.deadline_ms) {  // the meter reported since this entry was queued
      s.queued_deadline = d;
      push({d, e.meter});
      continue;
    }
    s.queued_deadline = kNever;
    --queued_;
    s.reported = 1;
    out.push_back({.meter = e.meter,
                   .last_event_ms = s.last_ms,
                   .deadline_ms = d,
                   .watermark_ms = watermark_ms,
                   .interval_ms = s.interval_ms});
    ++reported;
  }
  return reported;
}

void SilenceTracker::forget(uint32_t meter) {
  if (meter >= slots_.size() || slots_[meter].last_ms == kNever) return;
  if (slots_[meter].queued_deadline != kNever) --queued_;
  slots_[meter] = Slot{};
  --tracked_;
}

void SilenceTracker::save_meter(uint32_t meter, StateWriter& w) const {
  const Slot s = meter < slots_.size() ? slots_[meter] : Slot{};
  w.put(s.last_ms);
  w.put(s.interval_ms);
  w.put(s.gaps_ms[0]);
  w.put(s.gaps_ms[1]);
  w.put(s.given_interval);
  w.put(s.reported);
}

bool SilenceTracker::restore_meter(uint32_t meter, StateReader& r) {
  Slot s;
  r.get(s.last_ms);
  r.get(s.interval_ms);
  r.get(s.gaps_ms[0]);
  r.get(s.gaps_ms[1]);
  r.get(s.given_interval);
  r.get(s.reported);
  if (!r.ok() || meter >= cfg_.max_meters || s.interval_ms > cfg_.max_interval_ms ||
      s.gaps_ms[0] > cfg_.max_interval_ms || s.gaps_ms[1] > cfg_.max_interval_ms || s.given_interval > 1 ||
      s.reported > 1)
    return false;
  if (s.last_ms == kNever &&
      (s.interval_ms | s.gaps_ms[0] | s.gaps_ms[1] | s.given_interval | s.reported) != 0)
    return false;
  forget(meter);
  if (s.last_ms == kNever) return true;
  if (meter >= slots_.size()) slots_.resize(static_cast<size_t>(meter) + 1);
  s.queued_deadline = kNever;
  slots_[meter] = s;
  ++tracked_;
  if (!s.reported) enqueue(meter, slots_[meter]);
  return true;
}

Finding missing_readings_finding(const MissingReport& r) {
  Finding f;
  f.type = RuleType::kMissingReadings;
  f.phase = EpisodePhase::kStarted;
  f.severity = gridsentinel::v1::SEVERITY_WARNING;
  f.event_time_ms = r.deadline_ms;
  f.score = 0.6;
  f.feature = "silence_s";
  f.observed = static_cast<double>(r.watermark_ms - r.last_event_ms) / 1000.0;
  f.expected_low = 0.0;
  f.expected_high = static_cast<double>(r.deadline_ms - r.last_event_ms) / 1000.0;
  std::snprintf(f.explanation.data(), f.explanation.size(),
                "no reading for %.0f min of fleet event time; allowed %.0f min (%.0f-min interval)",
                f.observed / 60.0, f.expected_high / 60.0, r.interval_ms / 60000.0);
  return f;
}

}  // namespace gridsentinel::detectors
