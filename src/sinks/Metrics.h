#pragma once
// Metrics: every Prometheus metric gridsentinel exports, resolved once at start-up so that the per-record
// path only increments (prometheus-cpp counters are atomics; histograms take an uncontended mutex).
//
// Naming: gridsentinel_<thing>_<unit>, counters end in _total. Label values come from bounded sets only:
// configured topic names, input kinds, detector names, severities, dead-letter reasons. Never a meter id. The
// Registry is always there (tests read values from it); the HTTP endpoint is started separately
// (MetricsServer).
// Threads: one Metrics serves every stream thread of the process (KafkaRunner). Counters and histograms add
// up by themselves; the lazily resolved label sets take a mutex (only on alerts, errors and drift tests,
// never per record); a gauge that is a per-thread quantity (entities, partitions, in-flight records, lag,
// risk bands) is written through a GaugeShare, so that the exported value is the sum over threads.
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "ingest/DeadLetterReason.h"

namespace gridsentinel::sinks {

// One thread's part of a gauge several threads contribute to: set() moves the gauge by the change of this
// part (an atomic add), so the gauge reads the sum of every part. The part leaves the gauge when destroyed.
class GaugeShare {
 public:
  GaugeShare() = default;
  explicit GaugeShare(prometheus::Gauge& g) : gauge_(&g) {}
  // Binds a default-constructed share (before any set()).
  void attach(prometheus::Gauge& g) { gauge_ = &g; }
  GaugeShare(const GaugeShare&) = delete;
  GaugeShare& operator=(const GaugeShare&) = delete;
  ~GaugeShare() { set(0); }
  void set(double v) {
    if (gauge_ && v != value_) gauge_->Increment(v - value_);
    value_ = v;
  }
  void add(double d) { set(value_ + d); }

 private:
  prometheus::Gauge* gauge_ = nullptr;
  double value_ = 0;
};

// Observations of one histogram gathered by one thread and added in one step by flush() (prometheus-cpp's
// ObserveMultiple): the per-record path then neither takes the histogram's mutex nor shares its cache lines
// with other threads. The owner flushes once per loop turn; what was not flushed is not exported.
class HistogramBatch {
 public:
  explicit HistogramBatch(prometheus::Histogram& h);
  HistogramBatch(const HistogramBatch&) = delete;
  HistogramBatch& operator=(const HistogramBatch&) = delete;
  void observe(double v) {
    size_t b = 0;
    while (b < bounds_.size() && v > bounds_[b]) ++b;  // a dozen buckets: a linear scan is the fastest
    counts_[b] += 1;
    sum_ += v;
    pending_ = true;
  }
  void flush();

 private:
  prometheus::Histogram* histogram_;
  std::vector<double> bounds_;  // upper bounds, without +Inf
  std::vector<double> counts_;  // bounds_.size() + 1
  double sum_ = 0;
  bool pending_ = false;
};

// One (detector, anomaly_type) pair an alert can carry, e.g. ("meter_rules", "missing_readings").
struct AlertKind {
  std::string detector;
  std::string anomaly_type;
};

class Metrics {
 public:
  // `input_topics`, `detectors` and `alert_kinds` fix the label sets up front, so that every series exists
  // (at 0) before its first increment and a rate over it is right from the start.
  Metrics(const std::vector<std::string>& input_topics, const std::vector<std::string>& detectors,
          const std::vector<AlertKind>& alert_kinds = {});

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  prometheus::Counter& records_consumed(const std::string& topic);  // falls back to topic="other"
  prometheus::Counter& readings(const char* kind) {
    return *(kind[0] == 'm' ? readings_meter_ : readings_infra_);
  }
  // Exact repeats of an entity's newest reading or of one of the few before it, skipped
  // (Processor::score_entity).
  prometheus::Counter& duplicate_readings(const char* kind) {
    return *(kind[0] == 'm' ? duplicates_meter_ : duplicates_infra_);
  }
  // Entities forgotten as idle past features.<kind>.entity_ttl (Processor::evict_idle).
  prometheus::Counter& entities_evicted(const char* kind) {
    return *(kind[0] == 'm' ? evicted_meter_ : evicted_infra_);
  }
  prometheus::Counter& dead_letters(ingest::DeadLetterReason r) {
    return *dead_letters_[static_cast<size_t>(r)];
  }
  // severity: a v1::Severity value. A pair not given to the constructor is added on first use (the names come
  // from code, never from data, so the label set stays bounded).
  prometheus::Counter& alerts(std::string_view detector, std::string_view anomaly_type, int severity);
  prometheus::Counter& alerts_suppressed(const std::string& detector);
  prometheus::Histogram& event_to_ack_seconds() { return *event_to_ack_; }
  prometheus::Histogram& record_to_ack_seconds() { return *record_to_ack_; }
  prometheus::Histogram& record_e2e_seconds() { return *record_e2e_; }
  prometheus::Gauge& active_entities(const char* kind) {
    return *(kind[0] == 'm' ? entities_meter_ : entities_infra_);
  }
  prometheus::Gauge& consumer_lag(const std::string& topic);
  prometheus::Counter& producer_errors(
      const char* kind);  // kind: delivery_failed, queue_full, produce_failed
  prometheus::Gauge& assigned_partitions() { return *assigned_partitions_; }
  prometheus::Gauge& inflight_records() { return *inflight_; }
  prometheus::Gauge& paused_partitions() { return *paused_partitions_; }
  prometheus::Counter& rebalances(bool assigned) {
    return *(assigned ? rebalances_assigned_ : rebalances_revoked_);
  }
  prometheus::Counter& commits(bool ok) { return *(ok ? commits_ok_ : commits_failed_); }
  // State checkpoints to the changelog and restores from it.
  struct State {
    // gridsentinel_state_checkpoints_total{result}: ok = every write arrived (its positions are restore
    // points), failed = changelog writes failed, deferred = given up because the outputs of the records it
    // would cover were not acknowledged yet.
    prometheus::Counter *checkpoints_ok, *checkpoints_failed, *checkpoints_deferred;
    prometheus::Counter* checkpointed_entities;           // ..._state_checkpointed_entities_total
    prometheus::Counter* checkpoint_bytes;                // ..._state_checkpoint_bytes_total
    prometheus::Histogram* checkpoint_seconds;            // ..._state_checkpoint_duration_seconds
    prometheus::Counter* replayed_readings;               // ..._state_replayed_readings_skipped_total
    prometheus::Counter *restored_ok, *restored_refused;  // ..._state_restored_entities_total{result}
    prometheus::Counter* restore_records;                 // ..._state_restore_records_total
    prometheus::Gauge* restoring_partitions;              // ..._state_restoring_partitions
    prometheus::Gauge* last_restore_seconds;              // ..._state_last_restore_duration_seconds
    prometheus::Gauge* tombstones_pending;                // ..._state_tombstones_pending
  };
  const State& state() const { return state_; }
  // When stream thread `thread`'s last checkpoint was confirmed (Unix seconds; set to the start time when the
  // changelog is on, before the first). Series exist only with the changelog on.
  prometheus::Gauge& last_checkpoint_timestamp(uint32_t thread);
  // Latest two-sample K-S test of a fleet feature: p-value and D. Labels: kind and configured feature names.
  prometheus::Gauge& drift_p_value(const std::string& kind, const std::string& feature);
  prometheus::Gauge& drift_statistic(const std::string& kind, const std::string& feature);
  prometheus::Counter& drift_tests(const std::string& kind);
  // Meters per risk band in this instance (band: high, medium, low).
  prometheus::Gauge& meters_by_risk_band(int band);  // 0 low, 1 medium, 2 high
  prometheus::Counter& risk_updates() { return *risk_updates_; }
  prometheus::Counter& forest_refreshes(const std::string& kind);
  prometheus::Gauge& event_time_watermark_seconds(const char* kind) {
    return *(kind[0] == 'm' ? watermark_meter_ : watermark_infra_);
  }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* consumed_family_;
  std::map<std::string, prometheus::Counter*> consumed_;
  prometheus::Counter *readings_meter_, *readings_infra_;
  prometheus::Counter *duplicates_meter_, *duplicates_infra_;
  prometheus::Counter *evicted_meter_, *evicted_infra_;
  prometheus::Family<prometheus::Gauge>* last_checkpoint_family_;
  std::array<prometheus::Counter*, static_cast<size_t>(ingest::DeadLetterReason::kCount)> dead_letters_{};
  prometheus::Family<prometheus::Counter>* alerts_family_;
  // (detector, anomaly_type, severity), looked up by string_views without building strings.
  struct AlertKeyLess {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
      return as_views(a) < as_views(b);
    }
    template <class K>
    static std::tuple<std::string_view, std::string_view, int> as_views(const K& k) {
      return {std::get<0>(k), std::get<1>(k), std::get<2>(k)};
    }
  };
  std::map<std::tuple<std::string, std::string, int>, prometheus::Counter*, AlertKeyLess> alerts_;
  prometheus::Family<prometheus::Counter>* suppressed_family_;
  std::map<std::string, prometheus::Counter*> suppressed_;
  prometheus::Histogram *event_to_ack_, *record_to_ack_, *record_e2e_;
  prometheus::Gauge *entities_meter_, *entities_infra_;
  prometheus::Family<prometheus::Gauge>* lag_family_;
  std::map<std::string, prometheus::Gauge*> lag_;
  prometheus::Family<prometheus::Counter>* producer_errors_family_;
  std::map<std::string, prometheus::Counter*> producer_errors_;
  prometheus::Gauge *assigned_partitions_, *inflight_, *paused_partitions_;
  prometheus::Counter *rebalances_assigned_, *rebalances_revoked_;
  prometheus::Counter *commits_ok_, *commits_failed_;
  State state_{};
  prometheus::Gauge *watermark_meter_, *watermark_infra_;
  prometheus::Family<prometheus::Gauge>*drift_p_family_, *drift_d_family_;
  std::map<std::pair<std::string, std::string>, std::pair<prometheus::Gauge*, prometheus::Gauge*>> drift_;
  prometheus::Family<prometheus::Counter>*drift_tests_family_, *refresh_family_;
  std::map<std::string, prometheus::Counter*> drift_tests_, refreshes_;
  std::array<prometheus::Gauge*, 3> risk_bands_{};
  prometheus::Counter* risk_updates_;
  std::mutex lazy_mu_;  // the maps above filled on first use (alerts_, suppressed_, lag_, ...)
};

// What the health endpoints report, written by the processing thread, read by the HTTP threads.
struct HealthState {
  static constexpr int kMaxLoops = 64;
  std::atomic<int> loops{1};  // processing loops (stream threads) reporting
  // Wall clock of each loop's latest iteration (0 = not started). Liveness is the stalest loop's.
  std::array<std::atomic<int64_t>, kMaxLoops> loop_heartbeat_ms{};
  std::atomic<int> assigned_partitions{0};  // over all loops
  // Wall clock since which each loop's partitions have been paused, its outputs waiting for the broker (0 =
  // consuming; KafkaRunner's backpressure).
  std::array<std::atomic<int64_t>, kMaxLoops> paused_since_ms{};
  std::atomic<bool> stopping{false};
  // The exit code of the first processing loop that began to stop on an error (KafkaRunner::kExitKafkaFatal,
  // kExitChangelogTooSmall), set before it commits and closes; 0 while none has. main's shutdown deadline
  // (armed by `stopping`, so also when no signal came) exits with it, so that a shutdown the deadline cut
  // short still tells its supervisor why it stopped.
  std::atomic<int> failure_code{0};
  int64_t liveness_timeout_ms = 30'000;  // no loop iteration for this long = not alive
  // Paused for this long = not ready: the broker refuses or does not take the outputs (ACLs, a missing
  // topic, min.insync.replicas). Liveness stays: a restart cannot fix the broker and would drop the state.
  int64_t unready_after_paused_ms = 60'000;
};

// The operator's HTTP endpoint (civetweb):
//   /metrics  Prometheus text exposition of the registry;
//   /healthz  200 while the processing loop iterates (liveness), else 503;
//   /readyz   200 once partitions are assigned and being consumed, else 503 with the reason (readiness): not
//             yet assigned, shutting down, or paused for unready_after_paused_ms waiting for the broker.
// Throws at start-up if the address cannot be bound. Handlers run on civetweb's threads and only read atomics
// and the registry (prometheus-cpp collection is thread-safe).
class MetricsServer {
 public:
  MetricsServer(const std::string& bind_address, std::shared_ptr<prometheus::Registry> registry,
                const HealthState* health = nullptr);
  ~MetricsServer();
  // The port actually bound (useful with port 0).
  int port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

const char* severity_name(int severity);

}  // namespace gridsentinel::sinks
