#include "sim/InjectedAnomaly.h"

namespace gridsentinel::sim {
namespace {

constexpr std::array<std::string_view, kMeterAnomalyTypeCount> kNames = {
    "voltage_sag", "voltage_swell", "outage",           "silent_meter", "reverse_flow",
    "bypass",      "stuck_meter",   "consumption_drop", "spike",        "tamper"};

constexpr std::array<AnomalyLength, kMeterAnomalyTypeCount> kLengths = {{
    {1, 4},   // voltage_sag
    {1, 4},   // voltage_swell
    {2, 8},   // outage
    {6, 24},  // silent_meter
    {2, 8},   // reverse_flow
    {2, 8},   // bypass
    {8, 24},  // stuck_meter
    {1, 3},   // consumption_drop, in days
    {1, 1},   // spike
    {1, 1},   // tamper
}};

}  // namespace

std::string_view to_string(MeterAnomalyType t) {
  return kNames[static_cast<size_t>(t)];
}

std::optional<MeterAnomalyType> parse_meter_anomaly_type(std::string_view s) {
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == s) return static_cast<MeterAnomalyType>(i);
  }
  return std::nullopt;
}

AnomalyLength anomaly_length(MeterAnomalyType t) {
  return kLengths[static_cast<size_t>(t)];
}

void write_ground_truth_csv_header(std::ostream& os) {
  os << "anomaly_type,entity_kind,entity_id,start_event_time_ms,end_event_time_ms,readings\n";
}

void write_ground_truth_csv_row(std::ostream& os, std::string_view anomaly_type, std::string_view entity_kind,
                                std::string_view entity_id, int64_t start_ms, int64_t end_ms,
                                uint32_t readings) {
  // Ids are simulator-made ("MTR-000001", "ingest-0/queue_depth"): no commas or quotes, so no CSV quoting
  // needed.
  os << anomaly_type << ',' << entity_kind << ',' << entity_id << ',' << start_ms << ',' << end_ms << ','
     << readings << '\n';
}

void write_ground_truth_csv(std::ostream& os, const std::vector<InjectedAnomaly>& anomalies) {
  write_ground_truth_csv_header(os);
  for (const auto& a : anomalies) {
    write_ground_truth_csv_row(os, to_string(a.type), "meter", a.meter_id, a.start_event_time_ms,
                               a.end_event_time_ms, a.readings);
  }
}

}  // namespace gridsentinel::sim
