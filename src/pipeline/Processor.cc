#include "pipeline/Processor.h"

#include <fmt/format.h>

#include <cmath>

#include "common/StableHash.h"

namespace gridsentinel::pipeline {

namespace {

constexpr const char* kZScore = "zscore";
constexpr uint8_t kHighValue = 1, kLowValue = 2;

// Meter feature values, in the order of kMeterFeatures; NaN when the reading does not carry the field.
constexpr const char* kMeterFeatures[] = {"voltage_v", "current_a", "active_power_w", "power_factor", "frequency_hz"};
constexpr size_t kMaxFeatures = 5;

void meter_values(const v1::MeterReading& r, double* v) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  v[0] = r.has_voltage_v() ? r.voltage_v() : nan;
  v[1] = r.has_current_a() ? r.current_a() : nan;
  v[2] = r.has_active_power_w() ? r.active_power_w() : nan;
  v[3] = r.has_power_factor() ? r.power_factor() : nan;
  v[4] = r.has_frequency_hz() ? r.frequency_hz() : nan;
}

size_t feature_index(config::InputKind kind, const std::string& name) {
  if (kind == config::InputKind::kInfra) return 0;
  for (size_t i = 0; i < std::size(kMeterFeatures); ++i)
    if (name == kMeterFeatures[i]) return i;
  return 0;  // unreachable: config validation accepts only the names above
}

std::string human_window(int64_t ms) {
  if (ms % 86'400'000 == 0) return std::to_string(ms / 86'400'000) + "d";
  if (ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  return std::to_string(ms / 1000) + "s";
}

}  // namespace

std::string make_alert_id(v1::EntityKind kind, std::string_view entity_id, std::string_view detector,
                          std::string_view anomaly_type, int64_t event_time_ms) {
  return StableHash()
      .add(int64_t{kind})
      .add(entity_id)
      .add(detector)
      .add(anomaly_type)
      .add(event_time_ms)
      .hex();
}

std::vector<std::string> Processor::detector_names() { return {kZScore}; }

Processor::Processor(const config::Config& cfg, sinks::Metrics& metrics)
    : cfg_(cfg),
      metrics_(metrics),
      meters_{&cfg.meter, v1::ENTITY_KIND_METER, EntityTable<EntityState>(cfg.limits.max_entities), 0},
      infra_{&cfg.infra, v1::ENTITY_KIND_INFRA_SERIES, EntityTable<EntityState>(cfg.limits.max_entities), 0},
      policy_{0.5, cfg.detection.skip_flagged, cfg.detection.adopt_after} {
  for (const auto& t : cfg.topics.inputs) decoders_.emplace_back(cfg.ingest, t);
}

size_t Processor::entities(config::InputKind kind) const {
  return kind == config::InputKind::kMeter ? meters_.table.size() : infra_.table.size();
}

void Processor::process(const kafka::Record& rec, int64_t now_ms, Emitter& out) {
  metrics_.records_consumed(std::string(rec.topic)).Increment();
  const ingest::RecordDecoder* decoder = nullptr;
  for (const auto& d : decoders_)
    if (d.topic().name == rec.topic) decoder = &d;
  if (!decoder) return;  // not an input topic of ours (cannot happen with our subscription)

  decoder->decode(rec.value, now_ms, decoded_);
  for (const auto& rej : decoded_.rejections) {
    if (rej.batch_index < 0) {
      dead_letter(rec, rec.value, rej.reason, rej.detail, now_ms, out);
    } else {
      // One bad reading of a batch: dead-letter that reading alone, re-encoded, so the rest of the batch goes on.
      decoded_.meters.readings(rej.batch_index).SerializeToString(&scratch_);
      dead_letter(rec, scratch_, rej.reason, fmt::format("reading #{} of a batch: {}", rej.batch_index, rej.detail),
                  now_ms, out);
    }
  }
  if (decoder->topic().kind == config::InputKind::kInfra) {
    if (decoded_.infra_valid) process_infra(decoded_.infra, rec, now_ms, out);
    return;
  }
  for (int i = 0; i < decoded_.meters.readings_size(); ++i)
    if (decoded_.valid[static_cast<size_t>(i)]) process_meter(decoded_.meters.readings(i), rec, i, now_ms, out);
}

void Processor::process_meter(const v1::MeterReading& r, const kafka::Record& rec, int index, int64_t now_ms,
                              Emitter& out) {
  double values[kMaxFeatures];
  meter_values(r, values);
  ingest::DeadLetterReason refused{};
  std::string detail;
  if (score_entity(meters_, r.meter_id(), r.event_time_ms(), values,
                   r.has_transformer_id() ? &r.transformer_id() : nullptr, now_ms, out, refused, detail)) {
    metrics_.readings("meter").Increment();
    return;
  }
  if (decoded_.meters.readings_size() == 1) {
    dead_letter(rec, rec.value, refused, detail, now_ms, out);
  } else {
    r.SerializeToString(&scratch_);
    dead_letter(rec, scratch_, refused, fmt::format("reading #{} of a batch: {}", index, detail), now_ms, out);
  }
}

void Processor::process_infra(const v1::InfraMetric& m, const kafka::Record& rec, int64_t now_ms, Emitter& out) {
  scratch_.assign(m.source()).append("/").append(m.metric());
  const double value = m.value();
  ingest::DeadLetterReason refused{};
  std::string detail;
  const std::string entity = scratch_;
  if (score_entity(infra_, entity, m.event_time_ms(), &value, nullptr, now_ms, out, refused, detail)) {
    metrics_.readings("infra").Increment();
    return;
  }
  dead_letter(rec, rec.value, refused, detail, now_ms, out);
}

bool Processor::score_entity(KindRuntime& kind, std::string_view entity_id, int64_t t, const double* values,
                             const std::string* transformer_id, int64_t now_ms, Emitter& out,
                             ingest::DeadLetterReason& refused, std::string& detail) {
  const auto idx = kind.table.find_or_insert(entity_id, [&] {
    EntityState s;
    s.zscore.reserve(kind.cfg->zscore.size());
    for (const auto& f : kind.cfg->zscore) s.zscore.push_back({detectors::ZScoreDetector(f.params), {}, {}});
    return s;
  });
  if (!idx) {
    refused = ingest::DeadLetterReason::kEntityLimit;
    detail = fmt::format("{} entities already tracked (limits.max_entities)", kind.table.size());
    return false;
  }
  EntityState& st = kind.table.at(*idx);
  if (st.newest_event_ms != std::numeric_limits<int64_t>::min() &&
      t < st.newest_event_ms - kind.cfg->allowed_lateness_ms) {
    refused = ingest::DeadLetterReason::kLateEvent;
    detail = fmt::format("event time {} is {} s older than the entity's newest {} (allowed lateness {} s)", t,
                         (st.newest_event_ms - t) / 1000, st.newest_event_ms, kind.cfg->allowed_lateness_ms / 1000);
    return false;
  }
  const config::InputKind input_kind =
      kind.entity_kind == v1::ENTITY_KIND_METER ? config::InputKind::kMeter : config::InputKind::kInfra;
  for (size_t i = 0; i < st.zscore.size(); ++i) {
    const auto& f = kind.cfg->zscore[i];
    const double x = values[feature_index(input_kind, f.feature)];
    if (!std::isfinite(x)) continue;
    ZSlot& slot = st.zscore[i];
    const double score = slot.detector.score({t, x});
    const bool flagged = score >= policy_.threshold;
    if (flagged) {
      const uint8_t type = slot.detector.signed_z(x) > 0 ? kHighValue : kLowValue;
      if (slot.episode.should_report(type, t, kind.cfg->cooldown_ms)) {
        emit_zscore_alert(kind, entity_id, f, slot, x, score, t, transformer_id, now_ms, out);
      } else {
        metrics_.alerts_suppressed(kZScore).Increment();
      }
    }
    if (slot.guard.should_learn(flagged, policy_)) slot.detector.learn({t, x});
  }
  st.newest_event_ms = std::max(st.newest_event_ms, t);
  if (t > kind.watermark_ms) {
    kind.watermark_ms = t;
    metrics_.event_time_watermark_seconds(input_kind == config::InputKind::kMeter ? "meter" : "infra")
        .Set(static_cast<double>(t) / 1000.0);
  }
  metrics_.active_entities(input_kind == config::InputKind::kMeter ? "meter" : "infra")
      .Set(static_cast<double>(kind.table.size()));
  return true;
}

void Processor::emit_zscore_alert(const KindRuntime& kind, std::string_view entity_id,
                                  const config::ZScoreFeature& f, const ZSlot& slot, double value, double score,
                                  int64_t t, const std::string* transformer_id, int64_t now_ms, Emitter& out) {
  const double z = slot.detector.signed_z(value);
  const char* type = z > 0 ? "high_value" : "low_value";
  const auto s = slot.detector.stats();
  const auto [lo, hi] = slot.detector.expected_range();
  const std::string window = human_window(f.params.window_ms);
  alert_.Clear();
  alert_.set_alert_id(make_alert_id(kind.entity_kind, entity_id, kZScore, type, t));
  alert_.set_entity_kind(kind.entity_kind);
  alert_.set_entity_id(std::string(entity_id));
  alert_.set_detector(kZScore);
  alert_.set_anomaly_type(type);
  const auto severity = score >= cfg_.detection.critical_score ? v1::SEVERITY_CRITICAL : v1::SEVERITY_WARNING;
  alert_.set_severity(severity);
  alert_.set_score(score);
  alert_.set_feature(f.feature);
  alert_.set_observed_value(value);
  alert_.set_expected_low(lo);
  alert_.set_expected_high(hi);
  const std::pair<std::string, double> feats[] = {{"z", z},
                                                  {f.feature + ".mean_" + window, s.mean},
                                                  {f.feature + ".stddev_" + window, s.stddev},
                                                  {f.feature + ".min_" + window, s.min},
                                                  {f.feature + ".max_" + window, s.max},
                                                  {f.feature + ".count_" + window, static_cast<double>(s.count)},
                                                  {f.feature + ".last", s.last},
                                                  {f.feature + ".rate_per_s", s.rate_per_s}};
  for (const auto& [name, v] : feats) {
    if (!std::isfinite(v)) continue;
    auto* fv = alert_.add_features();
    fv->set_name(name);
    fv->set_value(v);
  }
  alert_.set_event_time_ms(t);
  alert_.set_detection_time_ms(now_ms);
  alert_.set_gridsentinel_version(GS_VERSION);
  alert_.set_explanation(fmt::format("{} = {:.6g} is {:.1f} standard deviations {} its {} mean {:.6g} "
                                     "(expected {:.6g} .. {:.6g})",
                                     f.feature, value, std::abs(z), z > 0 ? "above" : "below", window, s.mean, lo,
                                     hi));
  if (transformer_id) alert_.set_transformer_id(*transformer_id);
  metrics_.alerts(kZScore, severity).Increment();
  out.alert(alert_);
}

void Processor::dead_letter(const kafka::Record& rec, std::string_view value, ingest::DeadLetterReason reason,
                            const std::string& detail, int64_t now_ms, Emitter& out) {
  dead_letter_.Clear();
  dead_letter_.set_original_value(std::string(value));
  dead_letter_.set_original_key(std::string(rec.key));
  dead_letter_.set_reason(ingest::reason_name(reason));
  dead_letter_.set_detail(detail);
  dead_letter_.set_stage(ingest::reason_stage(reason));
  dead_letter_.set_source_topic(std::string(rec.topic));
  dead_letter_.set_source_partition(rec.partition);
  dead_letter_.set_source_offset(rec.offset);
  dead_letter_.set_source_timestamp_ms(rec.timestamp_ms);
  dead_letter_.set_dead_letter_time_ms(now_ms);
  dead_letter_.set_gridsentinel_version(GS_VERSION);
  metrics_.dead_letters(reason).Increment();
  out.dead_letter(dead_letter_, rec.key);
}

}  // namespace gridsentinel::pipeline
