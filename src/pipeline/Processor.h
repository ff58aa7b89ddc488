#pragma once
// Processor: the per-record data path, ingest -> features -> detectors -> outputs, with no Kafka in it.
//
// For each consumed record: decode and validate (ingest/RecordDecoder), then per reading:
//   1. the entity's state (bounded table); events later than the allowed lateness are refused (dead letter);
//   2. per entity, prequentially (score first, then learn): z-score per configured feature over its rolling
//      window; IQR fences and the robust spike detector on the kind's primary feature (meter: active_power_w,
//      infra: value); for meters, the domain rules (sag, swell, outage, reverse flow, bypass, tamper,
//      consumption drop, stuck meter) and missing-reading tracking in event time;
//   3. per kind (fleet-wide): the streaming isolation forest over a per-event feature vector (with
//   per-feature
//      attribution), and two-sample K-S drift tests of the fleet's feature distributions (drift refreshes the
//      forest);
//   4. outputs: one alert per episode per detector, dead letters, and for meters a risk score whose band
//   changes
//      are published to the compacted meter-risk topic.
// Flagged points are kept out of learning (LearningGuard) unless the shift persists. Everything is
// deterministic given the records, so a replay gives the same alerts and alert ids. Never throws on record
// data. Not thread-safe: one processor per consuming thread.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/Config.h"
#include "detectors/Detector.h"
#include "detectors/EpisodeTracker.h"
#include "detectors/IqrDetector.h"
#include "detectors/SpikeDetector.h"
#include "detectors/ZScoreDetector.h"
#include "detectors/drift/KsDriftDetector.h"
#include "detectors/iforest/StreamingIsolationForest.h"
#include "detectors/rules/FleetWatermark.h"
#include "detectors/rules/MeterRiskScorer.h"
#include "detectors/rules/MeterRules.h"
#include "detectors/rules/SilenceTracker.h"
#include "features/PooledArray.h"
#include "ingest/RecordDecoder.h"
#include "kafka/KafkaClients.h"
#include "pipeline/Emitter.h"
#include "pipeline/EntityTable.h"
#include "pipeline/EventTimeSampler.h"
#include "pipeline/GuardedDetector.h"
#include "pipeline/RecentReadings.h"
#include "sinks/Metrics.h"

namespace gridsentinel::pipeline {

class Processor {
 public:
  // A dead letter keeps at most this much of the original value and key (DeadLetter in alert.proto says why),
  // so that with the rest of its fields it stays below librdkafka's default message.max.bytes (1,000,000).
  static constexpr size_t kMaxDeadLetterValueBytes = 786'432;
  static constexpr size_t kMaxDeadLetterKeyBytes = 16'384;

  Processor(const config::Config& cfg, sinks::Metrics& metrics);

  // Processes one record. `now_ms` is the wall clock (dead-letter times, event-time bounds, detection time).
  void process(const kafka::Record& record, int64_t now_ms, Emitter& out);
  // A hint for a record that will be processed soon (the next one): starts loading the entity table's slot
  // for the entity its key names, since producers key readings by meter id (or infra series id). A record
  // keyed otherwise costs one wasted prefetch; nothing visible changes either way.
  void prefetch(const kafka::Record& record) const;
  // Adds the records and readings counted since the last call to the shared counters (done per record,
  // they would be atomic adds on cache lines every stream thread writes). The runner calls it once per loop
  // turn; the destructor does too.
  void flush_metrics();
  ~Processor();
  // Reports meters silent past their deadline in event time (call periodically; process() also calls it).
  void check_missing(int64_t now_ms, Emitter& out);
  // The assignment changed: forget per-partition event-time progress (it is rebuilt from the next records).
  void reset_partition_progress();

  size_t entities(config::InputKind kind) const;
  // The kind's fleet isolation forest (nullptr when disabled), for diagnostics and tests.
  const detectors::StreamingIsolationForest* forest(config::InputKind kind) const;

  // --- State checkpoints (the changelog; KafkaRunner does the I/O, see pipeline/StateChangelog.h) ---
  // An entity's home is the input partition it last arrived on: (index of its topic in topics.inputs,
  // partition). Its state is checkpointed to that partition of the topic's changelog.
  static constexpr uint64_t home_of(size_t topic_index, int32_t partition) {
    return (uint64_t{topic_index} << 32) | static_cast<uint32_t>(partition);
  }
  // Index of `topic` in topics.inputs, or -1.
  int topic_index(std::string_view topic) const;
  const std::string& topic_name(size_t topic_index) const { return decoders_[topic_index].topic().name; }
  // Calls fn(home, key, value) with the saved state of every entity homed on one of `homes` that changed
  // since its last checkpoint (every one when `all`) and marks it clean. One pass over the entity tables
  // however many homes (a thread owning 200 partitions once scanned its 50k meters 200 times a checkpoint).
  // Returns how many were written. First it hands fn the tombstones (`value` nullptr: delete the key) of the
  // entities of those homes evicted as idle (see entity_ttl) whose deletion is not known to have arrived:
  // each is handed out again after a mark_dirty() until tombstones_delivered() (an entity back at the same
  // home since needs none: its new state is dirty, and is written instead).
  using StateSink = std::function<void(uint64_t home, std::string_view key, const std::string_view* value)>;
  size_t checkpoint(std::span<const uint64_t> homes, bool all, const StateSink& fn);
  // A checkpoint written in slices across loop turns (KafkaRunner's periodic cycle), so that no turn spends
  // long on it: where the next slice resumes (meters, then infra, in table order). A revocation or
  // assignment, which drops entities, abandons the cycle; an entity erased within it (an evicted one) frees
  // an index that a new entity may take behind the cursor: that one is dirty, and the next cycle writes it.
  struct CheckpointCursor {
    size_t kind = 0;     // 0 meters, 1 infra, 2 done
    uint32_t index = 0;  // next entity index in that kind's table
    bool done() const { return kind >= 2; }
  };
  // checkpoint(homes, false, fn) for the entities from `at` on, until all were visited or `deadline` passed
  // (looked at every 8 entities); advances `at`. Returns how many were written. No tombstones: see
  // checkpoint_tombstones().
  size_t checkpoint_slice(std::span<const uint64_t> homes, CheckpointCursor& at,
                          std::chrono::steady_clock::time_point deadline, const StateSink& fn);
  // Restores one entity from a changelog record written by checkpoint(). False when the key or value is
  // malformed or was written under a different detector configuration: the entity then starts cold.
  bool restore(uint64_t home, std::string_view key, std::string_view value);
  // Marks every entity homed on one of `homes` changed (a checkpoint failed: write them all again next time),
  // and hands out their tombstones again.
  void mark_dirty(std::span<const uint64_t> homes);
  // Every changelog write handed out so far arrived: the tombstones among them are not handed out again.
  void tombstones_delivered();
  // Tombstones waiting to be written or confirmed, both kinds (bounded: KindRuntime::max_tombstones each).
  size_t pending_tombstones() const;
  // Hands fn the pending tombstones of `homes` (see checkpoint()), at most `limit`, and no entity.
  // KafkaRunner writes them before a cycle's positions, so that a restore from those positions finds none
  // of them.
  size_t checkpoint_tombstones(std::span<const uint64_t> homes, const StateSink& fn,
                               size_t limit = std::numeric_limits<size_t>::max());
  // Tombstones not handed out yet (both kinds).
  size_t unwritten_tombstones() const { return meters_.tombstones.size() + infra_.tombstones.size(); }
  // Forgets every entity homed on one of `homes` (their partitions went to another instance). Returns how
  // many.
  size_t drop(std::span<const uint64_t> homes);
  // Forgets every entity homed anywhere but on `homes` (without the changelog, on a new assignment: the
  // partitions that stayed keep their state, those that went elsewhere would otherwise linger, their meters
  // reported missing and counted against limits.max_entities). Returns how many.
  size_t drop_all_but(std::span<const uint64_t> homes);
  // Event-time progress of a partition (the FleetWatermark its readings feed; missing readings are judged
  // against the minimum over the partitions), checkpointed with the partition's position: kUnknown before
  // enough readings. resume_partition_progress() restores it on the partition's next owner, before any of its
  // records arrive, so that the partition holds the fleet's watermark back from the start as it did on its
  // previous owner. Without it, a partition whose restored meters had not reported yet did not count, and
  // partitions fetched ahead of it made all its meters look silent (one rebalance: 32,811 false
  // missing_readings alerts at 100k meters).
  int64_t partition_watermark(uint64_t home);
  // (A partition of an infra topic has no progress: only meter readings are judged missing.)
  void resume_partition_progress(uint64_t home, int64_t watermark, int64_t now_ms);
  // The fleet-wide models of a kind (isolation forest, drift detector and its sampler) as one value, and
  // their restore. restore_models only replaces models that have learned nothing yet (a cold start); it
  // returns whether it did.
  std::string save_models(config::InputKind kind) const;
  bool restore_models(config::InputKind kind, std::string_view value);
  config::InputKind kind_of_topic(size_t topic_index) const;
  // Every detector name this processor can put on an alert (a bounded label set for metrics).
  static std::vector<std::string> detector_names();
  // Every (detector, anomaly_type) pair an alert of this pipeline can carry.
  static std::vector<sinks::AlertKind> alert_kinds();

 private:
  struct EntityState {
    int64_t newest_event_ms = std::numeric_limits<int64_t>::min();
    uint64_t home = 0;   // see home_of()
    bool dirty = false;  // changed since its last checkpoint
    // Offset (in `home`) of the last input record applied, and whether the state came from a checkpoint and
    // has not applied a record since: a redelivered record the state already contains is skipped (see
    // score_entity), which makes restoring a state newer than the resume position harmless.
    bool restored = false;
    // Digest of the reading at newest_event_ms (reading_digest() in Processor.cc; 0 = unknown, as after a
    // restore: it is not checkpointed, see ProcessorState.cc): another reading of the entity at that same
    // event time is a duplicate when its digest matches (skipped) and a conflicting reading when it does not
    // (dead-lettered). In the padding after the flags.
    uint32_t newest_digest = 0;
    int64_t applied_offset = -1;
    // The digests of the few readings before the newest, within the allowed lateness: a repeat of one of them
    // is skipped and another reading at its event time dead-lettered, as at newest_event_ms. Not
    // checkpointed.
    RecentReadings recent;
    features::PooledArray<Guarded<detectors::ZScoreDetector>> zscore;  // one per configured feature
    OptionalGuarded<detectors::IqrDetector> iqr;
    OptionalGuarded<detectors::SpikeDetector> spike;
    detectors::EpisodeTracker iforest_episode;
    detectors::MeterRuleState rules;  // meters only
    detectors::MeterRiskState risk;   // meters only
  };
  struct Tombstone {
    uint64_t home;
    std::string key;  // the entity's changelog key
  };
  struct KindRuntime {
    config::InputKind input_kind;
    const config::KindConfig* cfg;
    v1::EntityKind entity_kind;
    const char* name;  // "meter" / "infra": metric label and fleet entity id
    EntityTable<EntityState> table;
    int64_t watermark_ms = 0;
    size_t primary_feature;  // index into the kind's feature values
    size_t zscore_primary;   // z-score slot on the primary feature, or SIZE_MAX
    std::unique_ptr<detectors::StreamingIsolationForest> forest;
    std::optional<EventTimeSampler> forest_sampler;  // which points the forest learns (window_span)
    std::unique_ptr<detectors::KsDriftDetector> drift;
    std::vector<size_t> drift_features;  // indices into the kind's feature values
    uint64_t drift_tests_seen = 0;
    std::optional<EventTimeSampler> drift_sampler;
    sinks::GaugeShare entities_gauge;  // this Processor's part of gridsentinel_active_entities{kind}
    uint32_t evict_cursor = 0;         // the next table index evict_idle looks at
    // Changelog keys of evicted entities to delete (with the changelog on): `tombstones` not handed to a
    // checkpoint yet (or handed out again after a failed one), `tombstones_sent` handed out and not known to
    // have arrived. Both together hold at most max_tombstones; at that, evict_idle waits for a checkpoint.
    std::vector<Tombstone> tombstones{};
    std::vector<Tombstone> tombstones_sent{};
    size_t max_tombstones = 0;
  };
  // What every alert of one reading shares.
  struct Context {
    KindRuntime* kind;
    std::string_view entity_id;
    int64_t t;
    const std::string* transformer_id;
    int64_t now_ms;
    Emitter* out;
  };

  void process_meter(const v1::MeterReading& r, const kafka::Record& rec, int index, int64_t now_ms,
                     Emitter& out);
  void process_infra(const v1::InfraMetric& m, const kafka::Record& rec, int64_t now_ms, Emitter& out);
  // Everything per reading once its feature values are known. What it did with the reading: scored (and
  // learned), skipped (a redelivered record the state already contains, or an exact duplicate of one of the
  // entity's latest readings), or refused (`refused` and `detail` say why; the caller dead-letters it).
  enum class Outcome : uint8_t { kScored, kSkipped, kRefused };
  Outcome score_entity(KindRuntime& kind, std::string_view entity_id, int64_t t, uint32_t digest,
                       const double* values, const v1::MeterReading* reading,
                       const std::string* transformer_id, int64_t now_ms, Emitter& out,
                       ingest::DeadLetterReason& refused, std::string& detail);
  double run_zscore(EntityState& st, const Context& c, const double* values);
  double run_iqr(EntityState& st, const Context& c, double x);
  double run_spike(EntityState& st, const Context& c, double x);
  // `sample_hash`: EventTimeSampler::hash(entity, t), which the kind's samplers decide by (0 when none).
  double run_forest(EntityState& st, const Context& c, const double* values, const v1::MeterReading* reading,
                    uint64_t sample_hash);
  void run_drift(const Context& c, const double* values, uint64_t sample_hash);
  double run_rules(EntityState& st, uint32_t idx, const Context& c, const v1::MeterReading& r,
                   detectors::RuleScores& rule_scores);
  void update_risk(EntityState& st, const Context& c, double ml, const detectors::RuleScores& rule_scores);
  // A band change (of a reading's update or a finding's, such as a silence): counted and published as a
  // MeterRisk. Nothing when the band stayed.
  void publish_risk(const Context& c, const detectors::RiskUpdate& u, std::string_view top_finding);
  // meters_by_risk_band: every tracked meter counts in its band (entering the table, leaving it, restored).
  void count_band(detectors::RiskBand band, int64_t delta);
  void emit_finding(const Context& c, const detectors::Finding& f);
  EntityState make_state(const KindRuntime& kind) const;
  void save_entity(const KindRuntime& kind, uint32_t idx, std::string& out) const;
  // The entity's changelog key ("m:<id>" or "i:<id>", see ProcessorState.cc) into `out`.
  static void changelog_key(const KindRuntime& kind, std::string_view id, std::string& out);
  // Moves the tombstones of `from` whose home wanted.contains() out (order not kept), each to take(t).
  template <class Wanted, class Take>
  static void take_tombstones(std::vector<Tombstone>& from, const Wanted& wanted, Take&& take);
  // Saves the entity, hands fn its changelog record and marks it clean.
  void write_entity(const KindRuntime& kind, uint32_t idx, std::string_view id, EntityState& st,
                    const StateSink& fn);
  // Hands fn the kind's pending tombstones of wanted.contains(home) homes, at most `limit`, moving them to
  // tombstones_sent. Returns how many.
  template <class Wanted>
  size_t write_tombstones(KindRuntime& kind, const Wanted& wanted, const StateSink& fn, size_t limit);
  void update_tombstones_gauge();
  bool restore_entity(KindRuntime& kind, uint32_t idx, std::string_view bytes);

  v1::Alert& start_alert(const Context& c, std::string_view detector, std::string_view anomaly_type,
                         double score, std::string_view feature, double observed, double lo, double hi);
  void add_feature(std::string_view name, double value);
  void publish_alert(const Context& c, v1::Severity severity, std::string_view explanation);
  v1::Severity severity_of(double score) const;
  void dead_letter(const kafka::Record& rec, std::string_view value, ingest::DeadLetterReason reason,
                   const std::string& detail, int64_t now_ms, Emitter& out);

  const config::Config& cfg_;
  sinks::Metrics& metrics_;
  std::vector<ingest::RecordDecoder> decoders_;          // one per input topic, in config order
  std::vector<prometheus::Counter*> consumed_counters_;  // records_consumed, per input topic
  struct {
    std::vector<uint64_t> consumed;  // per input topic
    uint64_t readings[2] = {0, 0};   // meter, infra
  } pending_;
  KindRuntime meters_, infra_;
  detectors::LearningPolicy policy_;
  detectors::MeterRules rules_;
  detectors::MeterRiskScorer risk_;
  detectors::SilenceTracker silence_;
  // Fleet event-time progress per input partition: a backlog is consumed partition by partition, so one
  // partition's progress must not make meters of a partition not yet read look silent. The fleet watermark is
  // the minimum over the partitions that delivered within `idle_partition_after_ms` (wall clock of process()
  // and check_missing(); a restored partition counts as active when restored): a partition nobody writes to
  // any more (its producer gone, or its only meters silent) would otherwise hold every silence judgement of
  // this instance back for ever, as idle sources do event-time watermarks in other stream processors.
  struct PartitionProgress {
    explicit PartitionProgress(const detectors::FleetWatermarkConfig& c) : watermark(c) {}
    detectors::FleetWatermark watermark;
    int64_t active_ms = 0;  // when it last delivered a meter reading
  };
  std::unordered_map<uint64_t, PartitionProgress> partition_progress_;  // meter partitions only
  // Each input partition's event-time progress for evicting idle entities: the 75th percentile of its last
  // 1,024 scored readings' event times, so that up to a quarter of them with a wrong clock (a replay, a
  // backlog: beyond ingest.max_future's reach) cannot make the partition's other entities look idle, at a lag
  // of a quarter of the time those readings span (nothing against a ttl of days). Recomputed (a selection
  // over 1,024 values) at most once per 256 new readings. Cleared on an assignment change.
  struct EvictionClock {
    detectors::FleetWatermark watermark{
        {.sample_size = 1024, .quantile = 0.75, .allowed_lateness_ms = 0, .min_samples = 64}};
    uint64_t refreshed_at = 0;  // watermark.observed() at the last recomputation
  };
  std::unordered_map<uint64_t, EvictionClock> eviction_clocks_;
  EvictionClock* current_clock_ = nullptr;         // the record's partition's, once a reading was scored
  PartitionProgress* current_progress_ = nullptr;  // the record's partition's, once a reading needed it
  uint64_t current_home_ = 0;                      // home_of() the record being processed
  int64_t current_offset_ = -1;                    // its offset (-1: not from Kafka)
  int64_t fleet_watermark(int64_t now_ms);
  // Forgets the entities whose home satisfies gone_home(home) (drop, drop_all_but).
  template <class Pred>
  size_t drop_where(Pred&& gone_home);
  // Looks at the next `budget` live entities of the kind (a cursor that wraps) and evicts those idle for
  // longer than the kind's entity_ttl: event time, against their home partition's progress (eviction_clock),
  // so that a partition read behind the others (a backlog, a replay) or up to a quarter of a partition's
  // recent readings with a wrong clock evict nothing. Erased at once; with the changelog on, its key joins
  // the kind's tombstones (the next checkpoint of its home deletes its state there), and while max_tombstones
  // wait nothing more is evicted.
  void evict_idle(KindRuntime& kind, uint32_t budget);
  // A partition's event-time progress for eviction (eviction_clocks_); kUnknown until 64 readings.
  int64_t eviction_clock(uint64_t home);
  std::vector<detectors::MissingReport> missing_;
  std::array<int64_t, 3> band_counts_{};
  std::array<sinks::GaugeShare, 3> band_gauges_;  // this Processor's part of meters_by_risk_band
  sinks::GaugeShare tombstones_gauge_;            // its part of state_tombstones_pending
  uint64_t readings_since_missing_check_ = 0;
  uint32_t records_since_evict_ = 0;
  ingest::DecodedRecord decoded_;
  v1::Alert alert_;
  v1::MeterRisk risk_msg_;
  v1::DeadLetter dead_letter_;
  std::string scratch_;
  std::string state_buffer_;
  std::vector<double> attribution_;
};

// Deterministic alert id: the same (entity kind, entity id, detector, anomaly type, event time) gives the
// same id.
std::string make_alert_id(v1::EntityKind kind, std::string_view entity_id, std::string_view detector,
                          std::string_view anomaly_type, int64_t event_time_ms);

}  // namespace gridsentinel::pipeline
