#pragma once
// InfraSimulator: a handful of infrastructure series (the hosts and services around gridsentinel) with
// injected spikes and level shifts and their ground truth.
//
// Every source reports three metrics per tick (event time start_time_ms + k * step):
//   cpu_utilisation_ratio   base 0.2-0.35 + 0.2 x a daily cycle (peak 16:00 UTC) + AR(1) noise (sd 0.03), in
//   [0.01, 0.99] request_latency_seconds base 0.02-0.05 s x (1 + 0.5 x daily cycle) x lognormal AR(1) noise
//   (sigma 0.15) queue_depth             base 20-60 x (1 + 0.5 x daily cycle) + AR(1) noise (sd 5), a
//   non-negative integer
// Anomalies (one at a time per series, from a Poisson process per series after the warm-up):
//   spike (1 sample):         cpu 0.92-1.0; latency and queue depth x5-10 (queue depth + 50)
//   level_shift (40-120):     cpu + 0.25-0.4 (at most 0.99); latency and queue depth x2-3 (queue depth + 20)
// Deterministic for a config; the normal values use a fixed number of draws per tick, so runs with and
// without anomalies agree outside the anomaly windows. No I/O, no clock; not thread-safe.
#include <array>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "gridsentinel/v1/telemetry.pb.h"
#include "ingest/EntityId.h"
#include "sim/SimRandom.h"

namespace gridsentinel::sim {

enum class InfraAnomalyType : uint8_t { kSpike = 0, kLevelShift };
std::string_view to_string(InfraAnomalyType t);

struct InjectedInfraAnomaly {
  InfraAnomalyType type = InfraAnomalyType::kSpike;
  std::string source;
  std::string metric;
  int64_t start_event_time_ms = 0;  // first affected sample
  int64_t end_event_time_ms = 0;    // last affected sample (inclusive)
  uint32_t samples = 0;
  // As in Alert.entity_id for ENTITY_KIND_INFRA_SERIES.
  std::string entity_id() const { return ingest::infra_entity_id(source, metric); }
};

struct InfraSimulatorConfig {
  uint64_t seed = 1;
  int64_t start_time_ms = 1704067200000;  // event time of the first tick
  uint32_t step_s = 15;                   // sampling step, [1, 3600] (infra metrics: usually 10-60 s)
  uint64_t max_ticks = 0;                 // 0 = until the caller stops
  std::vector<std::string> sources = {"ingest-0", "ingest-1",
                                      "detector-0"};  // at most 1000, ids <= 100 bytes
  double anomalies_per_series_day = 2.0;
  std::array<double, 2> type_weights = {1.0, 1.0};  // spike, level_shift
  int64_t warmup_ms = 6 * 3'600'000LL;
  uint32_t min_gap_samples = 40;

  // Throws std::invalid_argument on the first bad field.
  void validate() const;
};

class InfraSimulator {
 public:
  static constexpr std::array<std::string_view, 3> kMetrics = {"cpu_utilisation_ratio",
                                                               "request_latency_seconds", "queue_depth"};

  explicit InfraSimulator(InfraSimulatorConfig config);

  // One sample per (source, metric), source-major, reusing the messages in `out`. False once max_ticks are
  // done.
  bool next_tick(std::vector<gridsentinel::v1::InfraMetric>& out);

  int64_t now_ms() const { return start_ms_ + (static_cast<int64_t>(tick_) - 1) * step_ms_; }
  int64_t next_tick_time_ms() const { return start_ms_ + static_cast<int64_t>(tick_) * step_ms_; }
  uint64_t ticks_done() const { return tick_; }
  bool done() const { return tick_ >= tick_limit_; }

  const std::vector<InjectedInfraAnomaly>& ground_truth() const { return ground_truth_; }
  // Same columns as FleetSimulator's, with entity_kind "infra_series".
  void write_ground_truth_csv(std::ostream& os) const;

 private:
  static constexpr uint32_t kNone = 0xFFFFFFFFu;
  struct Series {
    double base;  // the metric's base level
    double ar;    // AR(1) noise state, unit variance
    uint32_t next_random;
    uint32_t end_tick;  // of the running anomaly, kNone if none
    InfraAnomalyType type;
    double factor;  // the running anomaly's size
  };

  uint32_t draw_next_random(size_t series, uint64_t from_tick) const;
  void try_start(size_t series, uint32_t tick);

  InfraSimulatorConfig config_;
  int64_t start_ms_;
  int64_t step_ms_;
  uint32_t tick_ = 0;
  uint32_t tick_limit_;
  uint32_t warmup_ticks_;
  std::vector<Series> series_;  // source-major, kMetrics order
  TickRng tick_rng_;
  std::vector<InjectedInfraAnomaly> ground_truth_;
};

}  // namespace gridsentinel::sim
