#pragma once
// KafkaRunner: gridsentinel's main loop against a Kafka cluster.
//
// One processing thread consumes records in a consumer group, runs them through the Processor, produces
// alerts and dead letters (idempotent producer), and stores each partition's offset only once every output of
// that record and of all earlier ones is acknowledged by the broker (OffsetTracker): at-least-once, end to
// end. Offsets are committed by librdkafka's auto-commit of stored offsets, and synchronously on revocation
// and shutdown. Backpressure: when `limits.max_inflight_records` records await acknowledgements, or the
// producer queue is full, consumption waits (serving delivery reports) instead of buffering more. An
// undeliverable output is retried, never dropped: its record's offset is not committed until it is delivered.
// Shutdown: `stop` set (SIGTERM/SIGINT) -> stop consuming, deliver what is queued, commit, leave the group.
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "config/Config.h"
#include "kafka/KafkaClients.h"
#include "pipeline/Emitter.h"
#include "pipeline/OffsetTracker.h"
#include "pipeline/Processor.h"
#include "sinks/Metrics.h"

namespace gridsentinel::pipeline {

class KafkaRunner : public kafka::Consumer::Listener, public kafka::Producer::Listener, public Emitter {
 public:
  // Throws kafka::KafkaError / config::ConfigError at start-up.
  // `health` (optional) receives the loop's heartbeat and assignment for the /healthz and /readyz endpoints.
  KafkaRunner(const config::Config& cfg, const std::string& bootstrap_servers, sinks::Metrics& metrics,
              sinks::HealthState* health = nullptr);
  ~KafkaRunner() override;

  // Runs until `stop` becomes true; returns the process exit code (0 after a clean shutdown).
  int run(const std::atomic<bool>& stop);

  // Consumer::Listener
  void on_assigned(const std::vector<kafka::TopicPartition>& partitions) override;
  void on_revoked(const std::vector<kafka::TopicPartition>& partitions) override;
  void on_stats(std::string_view json) override;
  void on_error(std::string_view what, bool fatal) override;
  // Producer::Listener
  void on_delivery(uint64_t token, const kafka::UndeliveredMessage* failed, std::string_view error) override;
  // Emitter (called by the Processor for the record being processed)
  void alert(const v1::Alert& alert) override;
  void dead_letter(const v1::DeadLetter& dead_letter, std::string_view key) override;
  void risk(const v1::MeterRisk& risk) override;

  uint64_t alerts_acknowledged() const { return alerts_acked_; }

 private:
  struct Outgoing {  // one produced message awaiting its delivery report
    OffsetTracker::Token record = 0;
    int64_t event_time_ms = -1;  // alerts: for the event-time latency histogram
    bool in_use = false;
  };
  void produce(const std::string& topic, std::string_view key, std::string_view value, int64_t event_time_ms,
               std::span<const kafka::Header> headers);
  void serve_producer(int timeout_ms);
  void store_offsets();
  void drain(int timeout_ms);
  void commit();

  const config::Config& cfg_;
  sinks::Metrics& metrics_;
  Processor processor_;
  OffsetTracker tracker_;
  std::unique_ptr<kafka::Producer> producer_;
  std::unique_ptr<kafka::Consumer> consumer_;
  std::vector<Outgoing> outgoing_;
  std::vector<uint32_t> free_outgoing_;
  std::vector<std::pair<uint64_t, kafka::UndeliveredMessage>> retry_;
  OffsetTracker::Token current_ = 0;
  bool have_current_ = false;
  const std::atomic<bool>* stop_ = nullptr;
  std::string buffer_;
  uint64_t alerts_acked_ = 0;
  int assigned_ = 0;
  sinks::HealthState* health_;
};

}  // namespace gridsentinel::pipeline
