#pragma once
// KafkaRunner: gridsentinel's main loop against a Kafka cluster.
//
// One runner is one processing thread (StreamThreads.h runs several in a process); it consumes records in a
// consumer group, runs them through the Processor, produces alerts and dead letters (idempotent producer),
// and stores each partition's offset only once every output of that record and of all earlier ones is
// acknowledged by the broker (OffsetTracker): at-least-once, end to end. Offsets are committed by
// librdkafka's auto-commit of stored offsets, and synchronously on revocation and shutdown. Backpressure:
// when `limits.max_inflight_records` records await acknowledgements, or outputs wait for room in the
// producer queue (they are never waited for inside a record's processing: backlog_), consumption waits
// (serving delivery reports) instead of buffering more. When that lasts (kPauseAfter: an
// output topic the broker does not accept writes to, say), the assigned partitions are paused and the
// consumer is polled on every turn of the wait: a consumer not polled for `max.poll.interval.ms` would leave
// the group and set off a rebalance of every member, while the wait may last as long as the broker's
// trouble. They are resumed when the wait ends (librdkafka refetches from the last record handed out, so
// nothing is skipped). An undeliverable output is retried, never dropped: its record's offset is not
// committed until it is delivered. Shutdown: `stop` set
// (SIGTERM/SIGINT) -> stop consuming, deliver what is queued, checkpoint state, commit, leave the group.
//
// State (config `state`): a checkpoint writes the state of every entity that changed to the changelog
// partition co-partitioned with its input partition, the fleet models, and a position record ("_pos": the
// next input offset, and the partition's event-time watermark there) whose state is in the log before it.
// Periodic checkpoints (every `checkpoint_interval`, or 9x the last one's time in the loop if longer: a
// catch-up that changes every entity between two of them spends at most a tenth of its time checkpointing)
// never wait for the broker, so they do not stall the loop: at a loop turn where every output is acknowledged
// (state may only contain records whose alerts are delivered) and the previous cycle's writes have all
// arrived, the loop writes the previous cycle's models and positions (their state is now in the log) and
// takes this cycle's (the positions of this turn); then it writes the entities that changed, in slices over
// the next turns, each at a turn where every output is acknowledged. The slices take at most a tenth of the
// wall-clock time (4 ms at most at once), so that no turn holds its records back for long and a cycle's work
// (at 100k meters changing between two cycles, ~0.3 s of a thread's time) is spread over ten times its length
// instead of arriving on the cores as one burst. An entity
// written after the cycle began may hold records past its position: harmless, as a restored state skips the
// records it already contains. This cycle's models and positions are written by the next one. A position
// becomes the group's committed offset once its record is acknowledged, i.e. a cycle later again: the
// committed offset is never ahead of the state in the log. On revocation and at shutdown the checkpoint is
// synchronous: drain, write entities, models and current positions, wait for the broker. On assignment each
// partition's changelog is read to its end (latest value per key wins, tombstones delete, so a compacted and
// an uncompacted topic restore the same), its entities are restored and consumption starts at the
// checkpointed position: records after it are processed again on warm state, and their alerts come out again
// with the same ids (at-least-once), while nothing already reported re-alerts as a new episode. On
// revocation: drain, checkpoint, commit, forget the partition's entities.
#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/Config.h"
#include "kafka/KafkaClients.h"
#include "kafka/PartitionReader.h"
#include "pipeline/Emitter.h"
#include "pipeline/OffsetTracker.h"
#include "pipeline/Processor.h"
#include "sinks/Metrics.h"

namespace gridsentinel::pipeline {

// The consumer's prefetch properties, set unless kafka.consumer_properties sets them; the bare-consumer bench
// (bench/bare_consume_bench.cc) uses the same, so that the ceiling it measures fetches as gridsentinel does.
kafka::Properties consumer_prefetch_defaults();

class KafkaRunner : public kafka::Consumer::Listener, public kafka::Producer::Listener, public Emitter {
 public:
  // Throws kafka::KafkaError / config::ConfigError at start-up.
  // `health` (optional) receives the loop's heartbeat and assignment for the /healthz and /readyz endpoints.
  // `loop`: this runner's index among the process's stream threads (its heartbeat slot in `health`, its
  // clients' id suffix); `cfg.limits` apply to this runner alone.
  KafkaRunner(const config::Config& cfg, const std::string& bootstrap_servers, sinks::Metrics& metrics,
              sinks::HealthState* health = nullptr, int loop = 0);
  ~KafkaRunner() override;

  // Runs until `stop` becomes true; returns the process exit code (0 after a clean shutdown), or
  // kExitChangelogTooSmall at once when an assigned input partition has no changelog partition to checkpoint
  // to (a deployment error, as Kafka Streams treats it: its offsets could never be committed).
  static constexpr int kExitChangelogTooSmall = 4;
  // kExitKafkaFatal when one of its Kafka clients raises a fatal error (kafka::Producer::fatal_error): such a
  // client never recovers, so the runner commits what is committable (records whose outputs were all
  // acknowledged; with the changelog, the last confirmed checkpoint), leaves the group and ends; the next
  // owner of its partitions processes the rest again (at least once, as after a crash). Restarting the
  // process creates new clients.
  static constexpr int kExitKafkaFatal = 6;
  int run(const std::atomic<bool>& stop);

  // Consumer::Listener
  void on_assigned(std::vector<kafka::TopicPartition>& partitions) override;
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
  // Runs one poll's records through the Processor (the loop's body; `now_ms`/`now_ns`: the turn's clocks).
  void process_records(const std::vector<kafka::Record>& records, int64_t now_ms, int64_t now_ns);
  // Lasting backpressure (see above): pauses or resumes every assigned partition.
  void pause_consumption();
  void resume_consumption();
  // "<client>: <reason>" of the first of this runner's Kafka clients with a fatal error, or empty.
  std::string fatal_client_error() const;
  // Ends the run after a fatal client error (kExitKafkaFatal).
  int stop_on_fatal(const std::string& what);
  // Marks the health state stopping with `exit_code` (the first such code wins) before a failing stop's
  // commit and close, which wait for the broker: main's shutdown deadline then bounds them as it bounds a
  // signalled stop.
  void begin_failing_stop(int exit_code);
  // paused_, its gauge and the health state's paused_since_ms (readiness).
  void set_paused(bool paused);
  // Serves delivery reports (waiting up to `timeout_ms`), then hands the backlog to the producer.
  void serve_producer(int timeout_ms);
  void note_produce_failure(const std::string& topic, std::string_view error);
  // A record completed (all its outputs acknowledged): the latency histograms.
  // `now_ns` and `consumed_ns` are steady-clock readings.
  void observe_completion(int64_t now_ns, int64_t consumed_ns, int64_t created_ms);
  void store_offsets();
  void set_assigned(int n);
  // Per-record counts and histograms gathered since the last turn, into the shared registry.
  void flush_metrics();
  void drain(int timeout_ms);
  void commit();
  // Records that the next offset to process in `home` is `next_offset` (per record; see positions_).
  void note_position(uint64_t home, int64_t next_offset);
  void clear_positions();
  // State changelog (see above). checkpoint() (synchronous) returns false when it could not complete.
  bool checkpoint(const std::vector<uint64_t>& homes);
  // State may hold a record only once that record's outputs are acknowledged: whether they all are now
  // (kYes), not yet (kNotYet: look again next turn), or still not after draining for kSettleWaitMs once
  // `waiting_since` is 2 s old (kGaveUp).
  static constexpr int kSettleWaitMs = 1'000;
  enum class Settled { kYes, kNotYet, kGaveUp };
  Settled outputs_settled(std::chrono::steady_clock::time_point waiting_since);
  // Periodic cycle: begin_checkpoint_cycle at its time, then continue_checkpoint_cycle every loop turn until
  // its entities are written, in slices paid for by slice_credit_ (a tenth of the wall-clock time).
  void begin_checkpoint_cycle(std::chrono::steady_clock::time_point now);
  void continue_checkpoint_cycle(std::chrono::steady_clock::time_point now);
  // Changed entities of `homes`.
  size_t write_entities(const std::vector<uint64_t>& homes);
  // Where Processor's checkpoints go: produce_state to the home's changelog partition.
  Processor::StateSink changelog_sink();
  // Each kind's fleet models into its first home: saved[2] (an empty one is skipped), or the current ones.
  void write_models(const std::vector<uint64_t>& homes, const std::string* saved);
  // A partition's restore point: the next offset to process, and its event-time watermark at that offset
  // (Processor::partition_watermark), so that its next owner judges silence as this one would have.
  struct Position {
    int64_t offset = 0;
    int64_t watermark = 0;
  };
  Position position_of(uint64_t home, int64_t offset) {
    return {offset, processor_.partition_watermark(home)};
  }
  void write_position(uint64_t home, Position position);
  void forget_background_cycle();
  // A checkpoint's writes all arrived: counted ok, and its time exported.
  void checkpoint_confirmed();
  void restore(std::vector<kafka::TopicPartition>& partitions);
  // `value` nullptr: a tombstone (the key's state deleted).
  void produce_state(const std::string& topic, int32_t partition, std::string_view key,
                     const std::string_view* value);
  void produce_state(const std::string& topic, int32_t partition, std::string_view key,
                     std::string_view value) {
    produce_state(topic, partition, key, &value);
  }
  struct ChangelogListener : kafka::Producer::Listener {
    uint64_t failures = 0;
    std::string last_error;
    void on_delivery(uint64_t, const kafka::UndeliveredMessage* failed, std::string_view error) override {
      if (failed) {
        ++failures;
        last_error = error;
      }
    }
  };

  const config::Config& cfg_;
  sinks::Metrics& metrics_;
  Processor processor_;
  OffsetTracker tracker_;
  std::unique_ptr<kafka::Producer> producer_;
  std::unique_ptr<kafka::Consumer> consumer_;
  ChangelogListener changelog_listener_;
  std::unique_ptr<kafka::Producer> changelog_producer_;  // null when state.changelog is off
  std::unique_ptr<kafka::PartitionReader> changelog_reader_;
  std::vector<std::string> changelog_topics_;      // per input topic, in config order
  std::vector<uint64_t> homes_;                    // Processor::home_of() of the assigned partitions
  std::vector<kafka::TopicPartition> assignment_;  // the assigned partitions (topic, partition)
  // Backpressure: since when the loop has waited for acknowledgements (none: it is not waiting), and whether
  // the assignment is paused. The grace period keeps short waits (a burst of alerts) from discarding the
  // consumer's prefetched records, which a pause does and a resume fetches again.
  static constexpr std::chrono::steady_clock::duration kPauseAfter = std::chrono::seconds(1);
  std::optional<std::chrono::steady_clock::time_point> waiting_since_;
  bool paused_ = false;
  bool fatal_ = false;  // a client's fatal error: nothing more is waited for (stop_on_fatal)
  std::map<uint64_t, int64_t> positions_;  // next offset to process, per assigned home
  int64_t wall_minus_mono_us_ = 0;         // system_clock - steady_clock, refreshed every loop turn
  uint64_t produce_calls_ = 0;             // outputs handed to the producer, ever
  int64_t* last_position_ = nullptr;       // note_position's last entry (of last_position_home_)
  uint64_t last_position_home_ = 0;
  // Records completed in a row that share one clock read for their latency (see run()).
  static constexpr uint32_t kCompletionsPerClockRead = 4;
  // Positions checkpointed (or restored) since the last store: with the changelog on, the only offsets
  // stored.
  std::vector<kafka::TopicPartition> checkpointed_offsets_;
  // Background checkpoints: the last cycle's positions and models (its entities are on their way), and the
  // positions whose _pos records are on their way.
  std::map<uint64_t, Position> pending_positions_;
  std::string pending_models_[2];  // meter, infra; empty = none
  std::map<uint64_t, Position> written_positions_;
  // The cycle whose entities are being written, slice by slice (none between cycles), its loop time so far,
  // entities and bytes written and the last turn it could write at.
  std::optional<Processor::CheckpointCursor> cycle_;
  // Whether this cycle's begin wrote the previous cycle's positions (the stage is skipped while tombstones
  // wait): only such a cycle can be confirmed, so that `ok` means restore points moved.
  bool cycle_wrote_positions_ = false;
  // A cycle that wrote positions wrote its last slice, and the next one has not yet seen whether its writes
  // arrived: that one counts it ok (failed writes count failed whatever the cycle; a synchronous checkpoint
  // supersedes it).
  bool awaiting_confirmation_ = false;
  prometheus::Gauge* last_checkpoint_gauge_ = nullptr;  // state_last_checkpoint_timestamp_seconds{thread}
  std::chrono::steady_clock::duration cycle_spent_{};
  size_t cycle_entities_ = 0;
  uint64_t cycle_bytes_ = 0;
  std::chrono::steady_clock::time_point cycle_last_slice_;
  // Loop time the cycle's slices may still take (negative: overspent), and when it was last topped up.
  static constexpr std::chrono::steady_clock::duration kMaxSlice = std::chrono::milliseconds(4);
  // Changelog messages queued or in flight above which no slice starts (~14 MB of ~1.4 kB meter states, of
  // the producer's 64 MiB).
  static constexpr int kMaxChangelogQueued = 10'000;
  std::chrono::steady_clock::duration slice_credit_{};
  std::chrono::steady_clock::time_point slice_credit_at_;
  std::chrono::steady_clock::time_point last_checkpoint_;
  // Time from one periodic checkpoint to the next: the interval, or 9x the last one's cost in the loop.
  std::chrono::steady_clock::duration checkpoint_gap_{};
  uint64_t checkpoint_bytes_ = 0;
  std::vector<Outgoing> outgoing_;
  std::vector<uint32_t> free_outgoing_;
  // Outputs not in the producer's queue: those it had no room for or refused (produce()) and failed
  // deliveries (on_delivery), oldest first, each with its Outgoing slot. Bounded: the loop consumes nothing
  // while it is not empty, so it holds at most one poll's outputs and the deliveries that were in flight.
  std::vector<std::pair<uint64_t, kafka::UndeliveredMessage>> backlog_;
  uint64_t produce_failures_ = 0;  // produce calls refused other than for a full queue, for the log's pace
  uint64_t unreported_delivery_failures_ = 0;  // since the last log line (on_delivery)
  std::chrono::steady_clock::time_point last_delivery_report_{};
  OffsetTracker::Token current_ = 0;
  bool have_current_ = false;
  const std::atomic<bool>* stop_ = nullptr;
  std::string buffer_;
  uint64_t alerts_acked_ = 0;
  int assigned_ = 0;
  // This runner's parts of gauges every stream thread contributes to.
  sinks::GaugeShare assigned_gauge_, inflight_gauge_, restoring_gauge_, paused_gauge_;
  std::string changelog_too_small_;           // set by restore(): what run() stops with
  std::deque<sinks::GaugeShare> lag_gauges_;  // per input topic, in config order
  sinks::HistogramBatch record_to_ack_batch_, record_e2e_batch_;
  sinks::HealthState* health_;
  int loop_;
};

}  // namespace gridsentinel::pipeline
