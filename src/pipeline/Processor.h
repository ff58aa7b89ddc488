#pragma once
// Processor: the per-record data path, ingest -> features -> detectors -> outputs, with no Kafka in it.
//
// For each consumed record: decode and validate (ingest/RecordDecoder), then per reading: find the entity's state
// (bounded table), refuse events later than the allowed lateness, score every configured z-score feature against its
// rolling window (score first, then learn: prequential), decide, apply the learning policy (flagged points are not
// learned unless the shift persists), and emit one alert per episode. Rejected input is emitted as dead letters with
// its reason. Everything is deterministic given the records and `now_ms`, so a replay gives the same alerts and
// alert ids. Never throws on record data. Not thread-safe: one processor per consuming thread.
#include <memory>
#include <string>
#include <vector>

#include "config/Config.h"
#include "detectors/Detector.h"
#include "detectors/EpisodeTracker.h"
#include "detectors/ZScoreDetector.h"
#include "ingest/RecordDecoder.h"
#include "kafka/KafkaClients.h"
#include "pipeline/Emitter.h"
#include "pipeline/EntityTable.h"
#include "sinks/Metrics.h"

namespace gridsentinel::pipeline {

class Processor {
 public:
  Processor(const config::Config& cfg, sinks::Metrics& metrics);

  // Processes one record. `now_ms` is the wall clock (dead-letter times, event-time bounds, detection time).
  void process(const kafka::Record& record, int64_t now_ms, Emitter& out);

  size_t entities(config::InputKind kind) const;
  // Every detector name this processor can put on an alert (a bounded label set for metrics).
  static std::vector<std::string> detector_names();

 private:
  struct ZSlot {
    detectors::ZScoreDetector detector;
    detectors::LearningGuard guard;
    detectors::EpisodeTracker episode;
  };
  struct EntityState {
    int64_t newest_event_ms = std::numeric_limits<int64_t>::min();
    std::vector<ZSlot> zscore;
  };
  struct KindRuntime {
    const config::KindConfig* cfg;
    v1::EntityKind entity_kind;
    EntityTable<EntityState> table;
    int64_t watermark_ms = 0;
  };
  struct Point {
    int64_t time_ms;
    const std::string* transformer_id;  // null when unknown
  };

  void process_meter(const v1::MeterReading& r, const kafka::Record& rec, int index, int64_t now_ms, Emitter& out);
  void process_infra(const v1::InfraMetric& m, const kafka::Record& rec, int64_t now_ms, Emitter& out);
  // Shared by both kinds once an entity's feature values are known. Returns false when refused (late, limit).
  bool score_entity(KindRuntime& kind, std::string_view entity_id, int64_t t, const double* values,
                    const std::string* transformer_id, int64_t now_ms, Emitter& out,
                    ingest::DeadLetterReason& refused, std::string& detail);
  void emit_zscore_alert(const KindRuntime& kind, std::string_view entity_id, const config::ZScoreFeature& f,
                         const ZSlot& slot, double value, double score, int64_t t, const std::string* transformer_id,
                         int64_t now_ms, Emitter& out);
  void dead_letter(const kafka::Record& rec, std::string_view value, ingest::DeadLetterReason reason,
                   const std::string& detail, int64_t now_ms, Emitter& out);

  const config::Config& cfg_;
  sinks::Metrics& metrics_;
  std::vector<ingest::RecordDecoder> decoders_;  // one per input topic, in config order
  KindRuntime meters_, infra_;
  detectors::LearningPolicy policy_;
  ingest::DecodedRecord decoded_;
  v1::Alert alert_;
  v1::DeadLetter dead_letter_;
  std::string scratch_;
};

// Deterministic alert id: the same (entity kind, entity id, detector, anomaly type, event time) gives the same id.
std::string make_alert_id(v1::EntityKind kind, std::string_view entity_id, std::string_view detector,
                          std::string_view anomaly_type, int64_t event_time_ms);

}  // namespace gridsentinel::pipeline
