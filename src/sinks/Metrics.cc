#include "sinks/Metrics.h"

#include <CivetServer.h>
#include <fmt/format.h>
#include <prometheus/counter.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "gridsentinel/v1/alert.pb.h"

namespace gridsentinel::sinks {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

const char* severity_name(int severity) {
  switch (severity) {
    case v1::SEVERITY_INFO:
      return "info";
    case v1::SEVERITY_WARNING:
      return "warning";
    case v1::SEVERITY_CRITICAL:
      return "critical";
    default:
      return "unspecified";
  }
}

Metrics::Metrics(const std::vector<std::string>& input_topics, const std::vector<std::string>& detectors,
                 const std::vector<AlertKind>& alert_kinds)
    : registry_(std::make_shared<prometheus::Registry>()) {
  auto& r = *registry_;
  BuildGauge()
      .Name("gridsentinel_build_info")
      .Help("Build information; the value is always 1.")
      .Register(r)
      .Add({{"version", GS_VERSION}})
      .Set(1);

  consumed_family_ = &BuildCounter()
                          .Name("gridsentinel_records_consumed_total")
                          .Help("Kafka records consumed, by input topic.")
                          .Register(r);
  for (const auto& t : input_topics) consumed_[t] = &consumed_family_->Add({{"topic", t}});
  consumed_["other"] = &consumed_family_->Add({{"topic", "other"}});

  auto& readings = BuildCounter()
                       .Name("gridsentinel_readings_processed_total")
                       .Help("Valid readings scored by the detectors, by input kind.")
                       .Register(r);
  readings_meter_ = &readings.Add({{"kind", "meter"}});
  readings_infra_ = &readings.Add({{"kind", "infra"}});
  auto& duplicates =
      BuildCounter()
          .Name("gridsentinel_duplicate_readings_total")
          .Help(
              "Readings skipped as exact repeats of one of their entity's latest readings (same event time, "
              "same values), by input kind.")
          .Register(r);
  duplicates_meter_ = &duplicates.Add({{"kind", "meter"}});
  duplicates_infra_ = &duplicates.Add({{"kind", "infra"}});
  auto& evicted =
      BuildCounter()
          .Name("gridsentinel_entities_evicted_total")
          .Help(
              "Entities forgotten after reporting nothing for features.<kind>.entity_ttl of event "
              "time, by input kind.")
          .Register(r);
  evicted_meter_ = &evicted.Add({{"kind", "meter"}});
  evicted_infra_ = &evicted.Add({{"kind", "infra"}});

  auto& dl = BuildCounter()
                 .Name("gridsentinel_dead_letters_total")
                 .Help("Records or readings sent to the dead-letter topic, by reason.")
                 .Register(r);
  for (size_t i = 0; i < dead_letters_.size(); ++i)
    dead_letters_[i] = &dl.Add({{"reason", ingest::reason_name(static_cast<ingest::DeadLetterReason>(i))}});

  alerts_family_ = &BuildCounter()
                        .Name("gridsentinel_alerts_total")
                        .Help("Alerts published, by detector, anomaly type and severity.")
                        .Register(r);
  suppressed_family_ = &BuildCounter()
                            .Name("gridsentinel_alerts_suppressed_total")
                            .Help("Flagged points not alerted because their episode was already reported.")
                            .Register(r);
  for (const auto& k : alert_kinds)
    for (int s : {v1::SEVERITY_WARNING, v1::SEVERITY_CRITICAL}) alerts(k.detector, k.anomaly_type, s);
  for (const auto& d : detectors) suppressed_[d] = &suppressed_family_->Add({{"detector", d}});

  // Event time -> ack spans minutes for meters that report every 15 minutes; record -> ack is milliseconds.
  event_to_ack_ = &BuildHistogram()
                       .Name("gridsentinel_event_to_alert_ack_seconds")
                       .Help("From a reading's event time to its alert being acknowledged by the broker.")
                       .Register(r)
                       .Add({}, prometheus::Histogram::BucketBoundaries{0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60,
                                                                        300, 900, 3600, 21600, 86400});
  record_to_ack_ =
      &BuildHistogram()
           .Name("gridsentinel_record_latency_seconds")
           .Help("From consuming a record to every output it caused being acknowledged.")
           .Register(r)
           .Add({}, prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                            0.1, 0.25, 0.5, 1, 2.5, 10});
  // As Kafka Streams' record-e2e-latency: the record's Kafka timestamp (the producer's CreateTime unless the
  // topic uses LogAppendTime) to its completion here, so it includes the producer's batching, the broker and
  // the fetch. Fine buckets below 20 ms: the latency target is milliseconds.
  record_e2e_ =
      &BuildHistogram()
           .Name("gridsentinel_record_e2e_latency_seconds")
           .Help("From a record's Kafka timestamp to every output it caused being acknowledged.")
           .Register(r)
           .Add({}, prometheus::Histogram::BucketBoundaries{
                        0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.008, 0.01, 0.0125, 0.015, 0.02, 0.03,
                        0.05,  0.075, 0.1,   0.25,  0.5,   1,     2.5,   5,    10,     30,    60});

  auto& ent = BuildGauge()
                  .Name("gridsentinel_active_entities")
                  .Help("Entities (meters, infra series) with state in this instance, by kind.")
                  .Register(r);
  entities_meter_ = &ent.Add({{"kind", "meter"}});
  entities_infra_ = &ent.Add({{"kind", "infra"}});

  lag_family_ =
      &BuildGauge()
           .Name("gridsentinel_consumer_lag_records")
           .Help("Records behind the partition end, summed over this instance's partitions, by topic.")
           .Register(r);
  for (const auto& t : input_topics) lag_[t] = &lag_family_->Add({{"topic", t}});

  producer_errors_family_ =
      &BuildCounter()
           .Name("gridsentinel_producer_errors_total")
           .Help("Producer errors by kind (delivery_failed, queue_full, produce_failed).")
           .Register(r);
  for (const char* k : {"delivery_failed", "queue_full", "produce_failed"})
    producer_errors_[k] = &producer_errors_family_->Add({{"kind", k}});

  assigned_partitions_ = &BuildGauge()
                              .Name("gridsentinel_assigned_partitions")
                              .Help("Input partitions assigned to this instance.")
                              .Register(r)
                              .Add({});
  inflight_ = &BuildGauge()
                   .Name("gridsentinel_inflight_records")
                   .Help("Consumed records whose outputs are not yet all acknowledged.")
                   .Register(r)
                   .Add({});
  paused_partitions_ =
      &BuildGauge()
           .Name("gridsentinel_paused_partitions")
           .Help(
               "Assigned input partitions whose consumption is paused: their records' outputs "
               "wait for the broker longer than the backpressure grace period.")
           .Register(r)
           .Add({});
  auto& rebalances = BuildCounter()
                         .Name("gridsentinel_rebalances_total")
                         .Help("Consumer group rebalance callbacks, by event (assigned, revoked).")
                         .Register(r);
  rebalances_assigned_ = &rebalances.Add({{"event", "assigned"}});
  rebalances_revoked_ = &rebalances.Add({{"event", "revoked"}});
  auto& commits = BuildCounter()
                      .Name("gridsentinel_offset_commits_total")
                      .Help("Synchronous offset commits, by result.")
                      .Register(r);
  commits_ok_ = &commits.Add({{"result", "ok"}});
  commits_failed_ = &commits.Add({{"result", "failed"}});
  auto& checkpoints = BuildCounter()
                          .Name("gridsentinel_state_checkpoints_total")
                          .Help(
                              "State checkpoints to the changelog topics, by result: ok = every write "
                              "arrived (its positions are restore points), failed = changelog writes failed, "
                              "deferred = given up, outputs not acknowledged yet.")
                          .Register(r);
  state_.checkpoints_ok = &checkpoints.Add({{"result", "ok"}});
  state_.checkpoints_failed = &checkpoints.Add({{"result", "failed"}});
  state_.checkpoints_deferred = &checkpoints.Add({{"result", "deferred"}});
  last_checkpoint_family_ =
      &BuildGauge()
           .Name("gridsentinel_state_last_checkpoint_timestamp_seconds")
           .Help(
               "When a stream thread's last state checkpoint was confirmed (Unix seconds; "
               "its start time before the first). Only with the changelog on.")
           .Register(r);
  state_.checkpointed_entities = &BuildCounter()
                                      .Name("gridsentinel_state_checkpointed_entities_total")
                                      .Help("Entity states written to the changelog topics.")
                                      .Register(r)
                                      .Add({});
  state_.checkpoint_bytes = &BuildCounter()
                                 .Name("gridsentinel_state_checkpoint_bytes_total")
                                 .Help("Bytes of state (keys and values) written to the changelog topics.")
                                 .Register(r)
                                 .Add({});
  state_.checkpoint_seconds =
      &BuildHistogram()
           .Name("gridsentinel_state_checkpoint_duration_seconds")
           .Help(
               "Loop time of one state checkpoint: periodic ones serialize and hand the changed state to the "
               "producer (no broker wait); on revocation and shutdown also draining outputs and waiting for "
               "the broker.")
           .Register(r)
           .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30});
  auto& restored = BuildCounter()
                       .Name("gridsentinel_state_restored_entities_total")
                       .Help(
                           "Entities restored from the changelog on assignment, by result (ok, refused = "
                           "malformed or written under another detector configuration: started cold).")
                       .Register(r);
  state_.restored_ok = &restored.Add({{"result", "ok"}});
  state_.restored_refused = &restored.Add({{"result", "refused"}});
  state_.replayed_readings =
      &BuildCounter()
           .Name("gridsentinel_state_replayed_readings_skipped_total")
           .Help("Redelivered readings skipped because the entity's restored state already contains them.")
           .Register(r)
           .Add({});
  state_.restore_records = &BuildCounter()
                                .Name("gridsentinel_state_restore_records_total")
                                .Help("Changelog records read while restoring.")
                                .Register(r)
                                .Add({});
  state_.restoring_partitions = &BuildGauge()
                                     .Name("gridsentinel_state_restoring_partitions")
                                     .Help("Assigned partitions whose state is being restored.")
                                     .Register(r)
                                     .Add({});
  state_.last_restore_seconds =
      &BuildGauge()
           .Name("gridsentinel_state_last_restore_duration_seconds")
           .Help("Duration of the latest restore (all partitions of one assignment).")
           .Register(r)
           .Add({});
  state_.tombstones_pending =
      &BuildGauge()
           .Name("gridsentinel_state_tombstones_pending")
           .Help(
               "Changelog deletions of evicted entities not yet known to have arrived (at most "
               "min(limits.max_entities, 65536) a kind and stream thread; at that, eviction waits).")
           .Register(r)
           .Add({});
  auto& wm = BuildGauge()
                 .Name("gridsentinel_event_time_watermark_seconds")
                 .Help("Newest event time processed, by input kind (Unix seconds).")
                 .Register(r);
  watermark_meter_ = &wm.Add({{"kind", "meter"}});
  watermark_infra_ = &wm.Add({{"kind", "infra"}});

  drift_p_family_ =
      &BuildGauge()
           .Name("gridsentinel_drift_p_value")
           .Help("p-value of the latest two-sample K-S test of a fleet feature (reference vs recent).")
           .Register(r);
  drift_d_family_ = &BuildGauge()
                         .Name("gridsentinel_drift_statistic")
                         .Help("D statistic of the latest two-sample K-S test of a fleet feature.")
                         .Register(r);
  drift_tests_family_ = &BuildCounter()
                             .Name("gridsentinel_drift_tests_total")
                             .Help("Two-sample K-S tests run on fleet features, by kind.")
                             .Register(r);
  refresh_family_ = &BuildCounter()
                         .Name("gridsentinel_forest_refreshes_total")
                         .Help("Isolation forest rebuilt from its window after confirmed drift, by kind.")
                         .Register(r);
  auto& bands = BuildGauge()
                    .Name("gridsentinel_meters_by_risk_band")
                    .Help("Meters in this instance by current risk band.")
                    .Register(r);
  risk_bands_ = {&bands.Add({{"band", "low"}}), &bands.Add({{"band", "medium"}}),
                 &bands.Add({{"band", "high"}})};
  risk_updates_ = &BuildCounter()
                       .Name("gridsentinel_risk_updates_total")
                       .Help("Meter risk band changes published to the meter-risk topic.")
                       .Register(r)
                       .Add({});
}

HistogramBatch::HistogramBatch(prometheus::Histogram& h) : histogram_(&h) {
  // The boundaries, as the histogram reports them (its +Inf bucket last).
  for (const auto& b : h.Collect().histogram.bucket)
    if (std::isfinite(b.upper_bound)) bounds_.push_back(b.upper_bound);
  counts_.assign(bounds_.size() + 1, 0.0);
}

void HistogramBatch::flush() {
  if (!pending_) return;
  histogram_->ObserveMultiple(counts_, sum_);
  std::fill(counts_.begin(), counts_.end(), 0.0);
  sum_ = 0;
  pending_ = false;
}

prometheus::Gauge& Metrics::last_checkpoint_timestamp(uint32_t thread) {
  return last_checkpoint_family_->Add({{"thread", std::to_string(thread)}});  // Family::Add locks
}

prometheus::Gauge& Metrics::drift_p_value(const std::string& kind, const std::string& feature) {
  const std::lock_guard lock(lazy_mu_);
  auto& g = drift_[{kind, feature}];
  if (!g.first) {
    g.first = &drift_p_family_->Add({{"kind", kind}, {"feature", feature}});
    g.second = &drift_d_family_->Add({{"kind", kind}, {"feature", feature}});
  }
  return *g.first;
}

prometheus::Gauge& Metrics::drift_statistic(const std::string& kind, const std::string& feature) {
  drift_p_value(kind, feature);
  const std::lock_guard lock(lazy_mu_);
  return *drift_[{kind, feature}].second;
}

prometheus::Counter& Metrics::drift_tests(const std::string& kind) {
  const std::lock_guard lock(lazy_mu_);
  auto& c = drift_tests_[kind];
  if (!c) c = &drift_tests_family_->Add({{"kind", kind}});
  return *c;
}

prometheus::Counter& Metrics::forest_refreshes(const std::string& kind) {
  const std::lock_guard lock(lazy_mu_);
  auto& c = refreshes_[kind];
  if (!c) c = &refresh_family_->Add({{"kind", kind}});
  return *c;
}

prometheus::Gauge& Metrics::meters_by_risk_band(int band) {
  return *risk_bands_.at(static_cast<size_t>(band));
}

prometheus::Counter& Metrics::records_consumed(const std::string& topic) {
  // Filled at construction, read-only after: no lock.
  const auto it = consumed_.find(topic);
  return *(it != consumed_.end() ? it->second : consumed_.at("other"));
}

prometheus::Counter& Metrics::alerts(std::string_view detector, std::string_view anomaly_type, int severity) {
  const std::lock_guard lock(lazy_mu_);
  auto it = alerts_.find(std::tuple{detector, anomaly_type, severity});
  if (it != alerts_.end()) return *it->second;
  std::tuple<std::string, std::string, int> key{detector, anomaly_type, severity};
  auto* c = &alerts_family_->Add({{"detector", std::get<0>(key)},
                                  {"anomaly_type", std::get<1>(key)},
                                  {"severity", severity_name(severity)}});
  alerts_.emplace(std::move(key), c);
  return *c;
}

prometheus::Counter& Metrics::alerts_suppressed(const std::string& detector) {
  const std::lock_guard lock(lazy_mu_);
  auto it = suppressed_.find(detector);
  if (it != suppressed_.end()) return *it->second;
  auto* c = &suppressed_family_->Add({{"detector", detector}});
  suppressed_[detector] = c;
  return *c;
}

prometheus::Gauge& Metrics::consumer_lag(const std::string& topic) {
  const std::lock_guard lock(lazy_mu_);
  auto it = lag_.find(topic);
  if (it != lag_.end()) return *it->second;
  auto* g = &lag_family_->Add({{"topic", "other"}});
  lag_[topic] = g;
  return *g;
}

prometheus::Counter& Metrics::producer_errors(const char* kind) {
  return *producer_errors_.at(kind);
}

namespace {

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void reply(mg_connection* conn, int status, const char* content_type, const std::string& body) {
  mg_printf(conn, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
            status, status == 200 ? "OK" : "Service Unavailable", content_type, body.size());
  mg_write(conn, body.data(), body.size());
}

class MetricsHandler : public CivetHandler {
 public:
  explicit MetricsHandler(std::shared_ptr<prometheus::Registry> r) : registry_(std::move(r)) {}
  bool handleGet(CivetServer*, mg_connection* conn) override {
    reply(conn, 200, "text/plain; version=0.0.4; charset=utf-8",
          prometheus::TextSerializer().Serialize(registry_->Collect()));
    return true;
  }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
};

class HealthHandler : public CivetHandler {
 public:
  HealthHandler(const HealthState* h, bool readiness) : health_(h), readiness_(readiness) {}
  bool handleGet(CivetServer*, mg_connection* conn) override {
    std::string why;
    if (health_) {
      int64_t beat = std::numeric_limits<int64_t>::max();
      for (int i = 0; i < std::clamp(health_->loops.load(), 1, HealthState::kMaxLoops); ++i)
        beat = std::min(beat, health_->loop_heartbeat_ms[static_cast<size_t>(i)].load());
      if (beat == 0)
        why = "processing loop not started";
      else if (wall_ms() - beat > health_->liveness_timeout_ms)
        why = "processing loop stalled";
      else if (readiness_ && health_->stopping.load())
        why = "shutting down";
      else if (readiness_ && health_->assigned_partitions.load() == 0)
        why = "no partitions assigned";
      else if (readiness_)
        why = paused_reason();
    }
    reply(conn, why.empty() ? 200 : 503, "text/plain; charset=utf-8", why.empty() ? "ok\n" : why + "\n");
    return true;
  }

 private:
  // The longest a loop's partitions have been paused, when past the threshold; else "".
  std::string paused_reason() const {
    int64_t since = 0;
    for (int i = 0; i < std::clamp(health_->loops.load(), 1, HealthState::kMaxLoops); ++i) {
      const int64_t s = health_->paused_since_ms[static_cast<size_t>(i)].load();
      if (s != 0 && (since == 0 || s < since)) since = s;
    }
    const int64_t paused_ms = since == 0 ? 0 : wall_ms() - since;
    if (since == 0 || paused_ms < health_->unready_after_paused_ms) return "";
    return fmt::format(
        "partitions paused for {} s: outputs not acknowledged by the broker (see "
        "gridsentinel_producer_errors_total "
        "and the log)",
        paused_ms / 1000);
  }
  const HealthState* health_;
  bool readiness_;
};

}  // namespace

struct MetricsServer::Impl {
  MetricsHandler metrics;
  HealthHandler live, ready;
  std::unique_ptr<CivetServer> server;
  Impl(std::shared_ptr<prometheus::Registry> r, const HealthState* h)
      : metrics(std::move(r)), live(h, false), ready(h, true) {}
};

MetricsServer::MetricsServer(const std::string& bind_address, std::shared_ptr<prometheus::Registry> registry,
                             const HealthState* health)
    : impl_(std::make_unique<Impl>(std::move(registry), health)) {
  const std::vector<std::string> options = {"listening_ports", bind_address, "num_threads", "2"};
  impl_->server = std::make_unique<CivetServer>(options);  // throws CivetException when it cannot bind
  impl_->server->addHandler("/metrics", impl_->metrics);
  impl_->server->addHandler("/healthz", impl_->live);
  impl_->server->addHandler("/readyz", impl_->ready);
}

MetricsServer::~MetricsServer() {
  if (impl_ && impl_->server) impl_->server->close();
}

int MetricsServer::port() const {
  const auto ports = impl_->server->getListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

}  // namespace gridsentinel::sinks
