#pragma once
// SilenceTracker: which meters fell silent, judged in event time against the fleet's progress.
//
// A meter is missing when the fleet's watermark (FleetWatermark.h: how far the other meters' event times have
// got, minus the allowed lateness) passes its deadline = last event time + `missing_after_intervals` x its
// interval. No wall clock is read, so a replay of last year's data reports the same silences as the live run
// did, and a fleet that sends nothing at all (a paused head-end, the end of a replay) moves no watermark and
// raises no report.
//
// Interval: the reading's own (interval_s), else learned from the meter's cadence as the median of its last
// three gaps (robust to one missed or one doubled reading). A meter whose interval is still unknown (one
// reading, no interval_s) has no deadline yet.
//
// Episodes: a meter is reported once per silence; it is reported again only after it has reported again and
// fallen silent again. on_reading() tells when a reported silence ends, and reports a silence that was longer
// than allowed but ended before the watermark passed its deadline (kGapReported). So whether a silence is
// reported does not depend on how often drain_missing() runs or how the readings of one round were ordered:
// after a fleet-wide gap (a head-end down for hours) every meter is reported exactly once, by whichever call
// sees it first. (Not for a reading delivered late, after the watermark passed the deadline it is timed
// before: it ends the silence unreported unless a drain got there first; see drain_missing.) A meter without
// interval_s whose cadence changes may be reported on its first one or two longer gaps, until the median of
// its gaps follows.
//
// Data structure: a slot per meter handle (dense uint32 entity index supplied by the caller; the pipeline
// maps its entity table) and a min-heap of deadlines with lazy deletion. A reading only moves the slot's
// deadline later, O(1); the heap entry keeps the old, earlier deadline and is re-queued at the right one when
// it surfaces in drain_missing(). Only a deadline that moves earlier (the interval shrank) pushes a second
// entry; the heap is compacted when it holds more than twice the queued meters. Cost: O(1) per reading,
// amortised, plus O(log n) per entry popped when draining. Memory: 32 bytes per slot up to the highest handle
// seen, plus 12 bytes per heap entry (at most 2 per queued meter before compaction): <= 56 bytes per tracked
// meter; never more than `max_meters` slots. Per-record calls throw nothing of their own (only std::bad_alloc
// if the process runs out of memory while the slots grow towards `max_meters`).
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "common/StateCodec.h"
#include "detectors/rules/RuleFinding.h"

namespace gridsentinel::detectors {

struct SilenceTrackerConfig {
  uint32_t max_meters = 1u << 21;                  // handles must be < this (2,097,152)
  uint32_t missing_after_intervals = 3;            // silent for longer than this many intervals = missing
  uint32_t max_interval_ms = 24u * 3600u * 1000u;  // intervals (given or learned) are capped at one day
  std::string validate() const;
};

struct MissingReport {
  uint32_t meter = 0;         // the handle given to on_reading
  int64_t last_event_ms = 0;  // event time of the meter's last reading
  int64_t deadline_ms = 0;    // last_event_ms + missing_after_intervals * interval_ms
  int64_t watermark_ms = 0;   // the fleet watermark that passed the deadline
  uint32_t interval_ms = 0;   // the interval the deadline was computed with
};

class SilenceTracker {
 public:
  enum class Update : uint8_t {
    kTracked,       // the reading moved the meter's deadline
    kSilenceEnded,  // as kTracked, and the meter had been reported missing: its silence episode is over
    kGapReported,   // as kTracked, and the gap before this reading was a silence nobody reported yet: see
                    // `gap`
    kLate,          // at or before the meter's last event time: ignored
    kRejected,      // handle >= max_meters: ignored
  };

  // Throws std::invalid_argument when `cfg.validate()` fails (start-up only).
  explicit SilenceTracker(SilenceTrackerConfig cfg = {});

  // interval_ms: the reading's interval, 0 when it carries none (the cadence is learned). On kGapReported,
  // `gap` (when given) receives the report, with watermark_ms = this reading's event time.
  Update on_reading(uint32_t meter, int64_t event_time_ms, uint32_t interval_ms,
                    MissingReport* gap = nullptr);
  // Appends to `out` every meter whose deadline is < watermark_ms and that has not been reported in this
  // silence, at most `max_reports` of them, taking at most `max_examined` entries off the heap, lazy ones
  // included (the rest stay queued for the next call). Returns how many were appended.
  // Why the second bound: meters on one aligned schedule (15-minute readings at :00, :15, ...) share one
  // deadline, so their lazy entries all come due in the same call and are re-queued there: 7.6-10.6 ms for
  // 100k meters, 93-125 ms for 1M in one call (bench/silence_bench.cc, eight runs), a stall that every
  // record behind the call waits for. Spread over calls, a report can come a few calls later. A meter that
  // reads again before a drain reaches its due entry is reported by that reading (kGapReported) when the
  // reading is past its deadline. One timed at or before its deadline, delivered after the watermark passed
  // it, ends the silence unreported: the meter's readings all arrived, late. That happened before whenever
  // such a reading came before the next drain; the bound makes the window longer (an aligned fleet of 100k
  // meters, drained 3,000 entries a call, works off its due entries in up to ~33 calls).
  // Each reading brings about one entry due (it pushes one, or lets the queued one be re-queued
  // once; a shrinking interval pushes a second, and restore_meter one with no reading), so a caller allowing
  // a few entries per reading since its last call works off any backlog.
  size_t drain_missing(int64_t watermark_ms, std::vector<MissingReport>& out,
                       size_t max_reports = std::numeric_limits<size_t>::max(),
                       size_t max_examined = std::numeric_limits<size_t>::max());
  // Stops tracking a meter (evicted from the entity table); its handle may be reused.
  void forget(uint32_t meter);

  size_t tracked() const { return tracked_; }  // meters with at least one reading
  size_t queued_entries() const { return heap_.size(); }

  // One meter's slot, for the per-meter changelog. restore_meter replaces the slot (returns false on
  // malformed input or a handle beyond max_meters, leaving the tracker unchanged).
  void save_meter(uint32_t meter, StateWriter& w) const;
  bool restore_meter(uint32_t meter, StateReader& r);

 private:
  static constexpr int64_t kNever = std::numeric_limits<int64_t>::min();
  struct Slot {
    int64_t last_ms = kNever;          // event time of the last reading; kNever = not tracked
    int64_t queued_deadline = kNever;  // deadline of the meter's live heap entry; kNever = not queued
    uint32_t interval_ms = 0;          // effective interval; 0 = unknown
    uint32_t gaps_ms[2] = {0, 0};      // the two previous gaps between readings (0 = none yet)
    uint8_t given_interval = 0;        // interval_ms came from the readings, not from the cadence
    uint8_t reported = 0;              // reported missing in the current silence
  };
  static_assert(sizeof(Slot) <= 32);
  // 12 bytes, not 16: 4-byte aligned (x86 and ARM64 load an int64 from any address), one or two per meter.
#pragma pack(push, 4)
  struct Entry {
    int64_t deadline_ms;
    uint32_t meter;
  };
#pragma pack(pop)
  static_assert(sizeof(Entry) == 12);

  int64_t deadline(const Slot& s) const;
  void enqueue(uint32_t meter, Slot& s);
  void push(Entry e);
  void compact();

  SilenceTrackerConfig cfg_;
  std::vector<Slot> slots_;
  std::vector<Entry> heap_;  // min-heap on deadline_ms
  size_t tracked_ = 0;
  size_t queued_ = 0;  // slots with queued_deadline != kNever
};

// The finding a missing meter raises (feature "silence_s": seconds silent as of the watermark; expected up to
// the allowed silence). Event time = the deadline, which does not depend on how the fleet's readings were
// batched, so the alert id is the same on every replay.
Finding missing_readings_finding(const MissingReport& r);

}  // namespace gridsentinel::detectors
