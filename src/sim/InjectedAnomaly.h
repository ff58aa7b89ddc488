#pragma once
// Ground truth of the simulators: which anomaly was injected where and when, and how each type looks in the
// data.
//
// The CSV written here is shared by FleetSimulator and InfraSimulator so that tools can concatenate both and
// match rows with alerts by (entity_id, event time):
//   anomaly_type,entity_kind,entity_id,start_event_time_ms,end_event_time_ms,readings
// entity_kind is "meter" (entity_id = meter id) or "infra_series" (entity_id = "<source>/<metric>", as in
// Alert.entity_id). Both times are event times of readings and both are inclusive: the window holds every
// affected reading (for silent_meter: every missing one), `readings` of them, one interval apart.
#include <array>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace gridsentinel::sim {

// What each type looks like in the readings of the affected meter, reading by reading (lengths in readings).
enum class MeterAnomalyType : uint8_t {
  kVoltageSag = 0,  // 1-4: voltage 185-200 V; power, pf unchanged; current = P / (V pf)
  kVoltageSwell,    // 1-4: voltage 258-270 V; as above
  kOutage,          // 2-8: voltage 0-1.5 V, current 0, power 0, frequency unset, register does not advance
  kSilentMeter,  // 6-24: no reading at all; the register keeps counting, so it jumps when the meter is back
  kReverseFlow,  // 2-8, non-exporters only: power -2000..-500 W, current = |P| / (V pf), register still
  kBypass,       // 2-8: voltage 0-1.5 V while current >= kBypassMinCurrentA; power = V I pf (a few watts);
                 //      frequency unset; the register (almost) stops
  kStuckMeter,   // 8-24: power and register frozen at the first window reading's values; voltage, current,
                 //       pf still move with the real draw (so P no longer matches V I pf); the register
                 //       resumes from the frozen value afterwards (that energy is lost)
  kConsumptionDrop,  // 1-3 days: household load (not solar) scaled by one factor in 0.2-0.4; readings stay
                     //           consistent (I = |P| / (V pf), register advances by P)
  kSpike,   // 1: power 5-10x max(the meter's current load, its mean load); consistent current, register
  kTamper,  // 1: status_flags COVER_OPEN or MAGNETIC_FIELD; values normal
};
inline constexpr size_t kMeterAnomalyTypeCount = 10;

// Bypass readings carry at least this current while voltage stays below kOutageMaxVoltageV, the rule
// "current above a threshold while voltage is below the outage level". Outage readings carry exactly 0 A.
inline constexpr double kBypassMinCurrentA = 2.5;
inline constexpr double kOutageMaxVoltageV = 1.5;  // below 1% of nominal: an interruption in EN 50160 terms

std::string_view to_string(MeterAnomalyType t);
std::optional<MeterAnomalyType> parse_meter_anomaly_type(std::string_view s);

// Shortest and longest run of each type, in readings. consumption_drop is in days: multiply by readings per
// day.
struct AnomalyLength {
  uint32_t min;
  uint32_t max;
};
AnomalyLength anomaly_length(MeterAnomalyType t);

struct InjectedAnomaly {
  MeterAnomalyType type = MeterAnomalyType::kSpike;
  std::string meter_id;
  int64_t start_event_time_ms = 0;  // event time of the first affected reading
  int64_t end_event_time_ms = 0;    // event time of the last affected reading (inclusive)
  uint32_t readings = 0;            // affected (for silent_meter: missing) readings
};

// A reading-level injection that a config asks for explicitly (besides or instead of the random ones).
struct ScheduledAnomaly {
  MeterAnomalyType type = MeterAnomalyType::kSpike;
  uint32_t meter_index = 0;         // 0-based; meter id "MTR-" + (index + 1)
  int64_t start_event_time_ms = 0;  // must be the event time of a tick: start_time_ms + k * interval
  uint32_t readings = 1;            // at least anomaly_length(type).min (spike and tamper: exactly 1)
};

void write_ground_truth_csv_header(std::ostream& os);
void write_ground_truth_csv_row(std::ostream& os, std::string_view anomaly_type, std::string_view entity_kind,
                                std::string_view entity_id, int64_t start_ms, int64_t end_ms,
                                uint32_t readings);
// Header plus one row per anomaly, in the order given.
void write_ground_truth_csv(std::ostream& os, const std::vector<InjectedAnomaly>& anomalies);

}  // namespace gridsentinel::sim
