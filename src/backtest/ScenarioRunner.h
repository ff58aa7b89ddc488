#pragma once
// Meter scenarios behind `gridsentinel backtest --scenarios`: a simulated fleet (sim/FleetSimulator) with
// anomalies injected at known meters and times, run through the full per-record path (pipeline/Processor,
// the code the Kafka runner drives): each reading is encoded as a protobuf MeterReading and handed over as a
// kafka::Record of the first meter input topic, keyed by meter id, on partition (meter index mod
// `partitions`); alerts are collected by an in-memory Emitter and scored against the ground truth
// (ScenarioScorer.h). The processor's wall clock is the event time of the tick being processed, so the run
// is deterministic for a seed and detection times are in event time.
//
// Injected anomalies start after `warmup_days` (the rules need 72 h of history to judge a consumption drop),
// at `anomalies_per_meter_day`, every type of the simulator with equal weight.
//
// With an output folder, writes: scenario_summary.csv (the per-type table), scenario_ground_truth.csv,
// scenario_meters.csv (each meter: transformer, exporter, mean load),
// scenario_episodes.csv (each injected episode: detected, delay, the detecting alert), scenario_alerts.csv
// (each alert with its class and outcome), and traces/<type>.csv for the first episode of each type: that
// meter's readings from a day before the episode to a day after, with the episode and alert marks (for
// plots).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "backtest/NabResult.h"
#include "backtest/ScenarioScorer.h"
#include "config/Config.h"

namespace gridsentinel::backtest {

struct ScenarioOptions {
  uint32_t meters = 1000;
  uint32_t days = 14;
  uint64_t seed = 1;
  double anomalies_per_meter_day = 0.05;
  uint32_t warmup_days = 4;
  uint32_t interval_s = 900;
  uint32_t partitions = 8;
  uint32_t tolerance_readings = 4;
  std::filesystem::path out_dir;  // empty = no files
};

struct ScenarioSummary {
  ScenarioScore score;
  uint64_t readings = 0;
  size_t alerts = 0;
  size_t injected = 0;
  double seconds = 0;
  std::string report;  // the printed summary (the markdown table and a header line)
};

// `cfg` is the processor's configuration (defaults: config::parse_config("")). Failures (bad options,
// unwritable output) come back as errors; nothing is thrown.
NabResult<ScenarioSummary> run_scenarios(const ScenarioOptions& options, const config::Config& cfg,
                                         const std::function<void(const std::string&)>& progress = {});

}  // namespace gridsentinel::backtest
