#pragma once
// MeterRuleState: everything the meter rules remember about one meter between its readings.
//
// Size: 88 bytes per meter (asserted below), a small part of the 2 KB per-meter budget. Floats hold the
// averages and accumulators (7 significant digits: far finer than any meter's resolution); the event time and
// the cumulative energy register stay 64-bit (a register of 123456.78 kWh needs more than a float's 24 bits).
// `encode`/`decode` write it field by field (no padding bytes, so equal states give equal bytes) for
// save/restore and the changelog; `decode` rejects anything a real state cannot hold.
#include <cstdint>
#include <limits>

#include "common/StateCodec.h"
#include "detectors/rules/RuleType.h"

namespace gridsentinel::detectors {

struct MeterRuleState {
  static constexpr int64_t kNoReading = std::numeric_limits<int64_t>::min();
  static constexpr float kUnknown = std::numeric_limits<float>::quiet_NaN();
  enum Flag : uint8_t {
    kLearnedExporter = 1u << 0,  // exported during the commissioning window: reverse flow is its normal
  };

  int64_t last_time_ms = kNoReading;  // event time of the last judged reading
  // The energy register at that reading, kWh; NaN = not reported.
  double last_energy_kwh = std::numeric_limits<double>::quiet_NaN();
  float baseline_sum_w = 0.0F;       // slow consumption EWMA, bias-corrected: baseline = sum / weight
  float baseline_weight = 0.0F;      // in [0, 1]: the EWMA weight of the history folded in so far
  float fast_w = kUnknown;           // fast consumption EWMA, W
  float baseline_hours = 0.0F;       // hours of consumption folded into the baseline
  float age_hours = 0.0F;            // event time since the meter's first reading, hours
  float drop_hours = 0.0F;           // event time spent in the open consumption-drop episode, hours
  float last_voltage_v = kUnknown;   // last voltage, for the identical-value run
  float last_power_w = kUnknown;     // last active power, for the identical-value run
  float unregistered_kwh = 0.0F;     // energy drawn while the register stood still (this run)
  float window_expected_kwh = 0.0F;  // energy/power comparison window: sum(max(P, 0) dt) ...
  float window_measured_kwh = 0.0F;  // ... and the register's advance over the same readings
  float window_hours = 0.0F;
  float register_shortfall = 0.0F;  // 1 - measured / expected of the last completed window (0 = none yet)
  uint32_t readings = 0;            // judged readings (saturating)
  uint16_t drop_run = 0;            // consecutive readings below the drop level
  uint16_t stuck_energy_run = 0;  // consecutive readings with current flowing and the register standing still
  uint16_t stuck_power_run = 0;   // consecutive identical active-power values
  uint16_t stuck_voltage_run = 0;  // consecutive identical voltage values
  uint16_t export_readings = 0;    // exporting readings seen in the commissioning window
  uint16_t episodes = 0;           // bit index(RuleType) set while that rule's episode is open
  uint8_t flags = 0;               // OR of Flag
  // Hours of the (UTC) day in which this meter has exported, one bit each (sticky): an exporter's import is
  // its consumption only in the other hours (no PV output then), so the drop rule judges it there alone.
  uint8_t export_hours[3] = {0, 0, 0};

  bool exported_in_hour(int h) const { return (export_hours[h / 8] >> (h % 8)) & 1u; }
  void set_exported_in_hour(int h) {
    export_hours[h / 8] = static_cast<uint8_t>(export_hours[h / 8] | (1u << (h % 8)));
  }

  bool episode_open(RuleType t) const { return (episodes >> index(t)) & 1u; }
  void set_episode(RuleType t, bool open) {
    const auto bit = static_cast<uint16_t>(1u << index(t));
    episodes = static_cast<uint16_t>(open ? (episodes | bit) : (episodes & ~bit));
  }
  bool has_flag(Flag f) const { return (flags & f) != 0; }
  void set_flag(Flag f, bool on) { flags = static_cast<uint8_t>(on ? (flags | f) : (flags & ~f)); }
};

inline constexpr size_t kMeterRuleStateBytes = 88;
static_assert(sizeof(MeterRuleState) <= kMeterRuleStateBytes, "per-meter rule state grew: update the budget");

void encode(const MeterRuleState& s, StateWriter& w);
// Reads a state written by `encode`. Returns false (leaving `out` unspecified) when the input is short or
// holds values a state cannot have (infinite averages, unknown episode bits).
bool decode(StateReader& r, MeterRuleState& out);

}  // namespace gridsentinel::detectors
