#pragma once
// ScenarioScorer: matches the alerts of a simulated fleet run with the anomalies the simulator injected
// (sim/InjectedAnomaly.h) and scores them per anomaly type, at the episode level.
//
// Matching, as documented in README.md ("Meter scenarios"):
//   - An alert's class is the injected type its anomaly_type names (alert_class below): each meter rule's
//     type is the injected type of the same name (missing_readings -> silent_meter); the spike detector's
//     "spike" -> spike. Every other alert (z-score and IQR high_value / low_value, isolation forest,
//     level shift, fleet drift) is generic: it says that a value is unusual, not which fault it is.
//   - An injected episode on meter m covering readings [start, end] has the window
//     [start, end + tolerance_readings x interval]; an alert on m whose detection time (the event time of
//     the reading being processed when it was raised) lies in the window is inside the episode.
//   - The episode is detected when an alert of its own class is inside it; its detection delay is the
//     number of readings from the episode's first reading to the first such alert (0 = on the first
//     reading).
//   - An alert inside an episode of another type is a cross-type alert (a side effect of a real anomaly:
//     an outage also lowers the voltage z-score); it is counted but is not a false positive. An alert inside
//     no episode on its meter is a false positive of its class (generic alerts: of the "generic" row).
//   - Per type: recall = detected / episodes; precision = detected / (detected + false positives), both
//     counting episodes, so three detectors firing on one spike count once. Overall sums every type, the
//     generic false positives included.
// Pure and deterministic; no I/O.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sim/InjectedAnomaly.h"

namespace gridsentinel::backtest {

struct ScenarioAlert {
  std::string meter_id;  // Alert.entity_id (meter alerts only)
  std::string detector;
  std::string anomaly_type;
  std::string feature;
  int64_t event_time_ms = 0;
  int64_t detection_time_ms = 0;
};

// The injected type an alert claims, nullopt for a generic alert.
std::optional<sim::MeterAnomalyType> alert_class(std::string_view detector, std::string_view anomaly_type,
                                                 std::string_view feature);

struct ScenarioMatchConfig {
  int64_t interval_ms = 900'000;
  uint32_t tolerance_readings = 4;
};

struct TypeScore {
  uint32_t episodes = 0;
  uint32_t detected = 0;
  uint32_t false_positives = 0;
  uint32_t cross_type = 0;       // alerts of this class inside an episode of another type
  std::vector<uint32_t> delays;  // readings, one per detected episode
  double recall() const;         // 1 when there are no episodes
  double precision() const;      // 1 when nothing was detected and nothing falsely alerted
  double median_delay() const;   // NaN when nothing was detected
  uint32_t max_delay() const;
};

enum class AlertOutcome : uint8_t { kDetection, kRepeat, kCrossType, kGenericInEpisode, kFalsePositive };
std::string_view to_string(AlertOutcome o);

struct EpisodeOutcome {
  bool detected = false;
  uint32_t delay_readings = 0;
  int first_alert = -1;  // index into the alerts
};

struct ScenarioScore {
  std::array<TypeScore, sim::kMeterAnomalyTypeCount> by_type;
  TypeScore generic;  // only false_positives and cross_type (generic alerts inside episodes) are used
  TypeScore overall;
  std::vector<EpisodeOutcome> episodes;  // parallel to the injected anomalies
  std::vector<AlertOutcome> alerts;      // parallel to the alerts
  std::vector<int> alert_episode;        // parallel to the alerts: the episode it lies in, -1 if none
};

ScenarioScore score_scenario(const std::vector<sim::InjectedAnomaly>& injected,
                             const std::vector<ScenarioAlert>& alerts, const ScenarioMatchConfig& cfg);

// The per-type table (markdown), one row per type with episodes or false positives, then generic and
// overall.
std::string format_scenario_table(const ScenarioScore& score);
// type,episodes,detected,recall,false_positives,precision,median_delay,max_delay,cross_type
std::string format_scenario_csv(const ScenarioScore& score);

}  // namespace gridsentinel::backtest
