#include "pipeline/Processor.h"

#include <fmt/format.h>

#include <bit>
#include <cmath>

#include "common/StableHash.h"
#include "ingest/EntityId.h"

namespace gridsentinel::pipeline {

namespace {

constexpr std::string_view kZScore = "zscore", kIqr = "iqr", kSpike = "spike", kIForest = "iforest",
                           kDrift = "ks_drift", kRules = "meter_rules";
// EpisodeTracker condition types (one tracker per detector slot, so only the direction needs a type).
constexpr uint8_t kHigh = 1, kLow = 2, kLevelShiftEpisode = 3;

// Meter feature values, in this order; NaN when the reading does not carry the field.
constexpr const char* kMeterFeatures[] = {"voltage_v", "current_a", "active_power_w", "power_factor",
                                          "frequency_hz"};
constexpr size_t kMaxFeatures = std::size(kMeterFeatures);
constexpr size_t kMeterPrimary = 2;  // active_power_w

// The silence tracker's handles are meter-table indices, below limits.max_entities (this Processor's share):
// its bound is that limit. (Its own default, 2^21, once refused every meter indexed above it on a thread
// allowed more, so those meters were never reported missing and their state never restored.)
detectors::SilenceTrackerConfig silence_config(const config::Config& cfg) {
  detectors::SilenceTrackerConfig c = cfg.silence;
  c.max_meters = cfg.limits.max_entities;
  return c;
}

void meter_values(const v1::MeterReading& r, double* v) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  v[0] = r.has_voltage_v() ? r.voltage_v() : nan;
  v[1] = r.has_current_a() ? r.current_a() : nan;
  v[2] = r.has_active_power_w() ? r.active_power_w() : nan;
  v[3] = r.has_power_factor() ? r.power_factor() : nan;
  v[4] = r.has_frequency_hz() ? r.frequency_hz() : nan;
}

// What makes two readings of one entity at one event time the same reading: every measured value and its
// presence (ids, the event time and metadata such as labels or the transformer are not measurements). 32 bits
// of a 64-bit avalanche, never 0 (0 = unknown in EntityState): two different readings at one instant look
// the same with odds of 1 in 4 billion, and that one would be skipped as a duplicate.
class Digest {
 public:
  void add(uint64_t v) { h_ = mix64(h_ ^ v) + 0x9e3779b97f4a7c15ULL; }
  void add(bool present, double v) {
    add(present ? std::bit_cast<uint64_t>(v == 0 ? 0.0 : v) : 0x7ff8dead0000beefULL);  // -0 == 0
  }
  uint32_t value() const {
    const auto v = static_cast<uint32_t>(h_ ^ (h_ >> 32));
    return v == 0 ? 1 : v;
  }

 private:
  uint64_t h_ = 0;
};

uint32_t reading_digest(const v1::MeterReading& r) {
  Digest d;
  d.add(r.has_voltage_v(), r.voltage_v());
  d.add(r.has_current_a(), r.current_a());
  d.add(r.has_active_power_w(), r.active_power_w());
  d.add(r.has_energy_kwh(), r.energy_kwh());
  d.add(r.has_power_factor(), r.power_factor());
  d.add(r.has_frequency_hz(), r.frequency_hz());
  d.add(uint64_t{r.status_flags()});
  d.add(r.has_interval_s() ? uint64_t{r.interval_s()} + 1 : 0);
  return d.value();
}

uint32_t reading_digest(const v1::InfraMetric& m) {
  Digest d;
  d.add(true, m.value());
  return d.value();
}

size_t feature_index(config::InputKind kind, std::string_view name) {
  if (kind == config::InputKind::kInfra) return 0;
  for (size_t i = 0; i < kMaxFeatures; ++i)
    if (name == kMeterFeatures[i]) return i;
  return 0;  // unreachable: config validation accepts only the names above
}

std::string_view feature_name(config::InputKind kind, size_t i) {
  return kind == config::InputKind::kInfra ? "value" : kMeterFeatures[i];
}

std::string human_window(int64_t ms) {
  if (ms % 86'400'000 == 0) return std::to_string(ms / 86'400'000) + "d";
  if (ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  return std::to_string(ms / 1000) + "s";
}

double or_default(double v, double d) {
  return std::isfinite(v) ? v : d;
}

v1::RiskBand to_proto(detectors::RiskBand b) {
  switch (b) {
    case detectors::RiskBand::kHigh:
      return v1::RISK_BAND_HIGH;
    case detectors::RiskBand::kMedium:
      return v1::RISK_BAND_MEDIUM;
    default:
      return v1::RISK_BAND_LOW;
  }
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

std::vector<std::string> Processor::detector_names() {
  return {std::string(kZScore),  std::string(kIqr),   std::string(kSpike),
          std::string(kIForest), std::string(kDrift), std::string(kRules)};
}

std::vector<sinks::AlertKind> Processor::alert_kinds() {
  std::vector<sinks::AlertKind> kinds;
  for (const char* t : {"high_value", "low_value"}) {
    kinds.push_back({std::string(kZScore), t});
    kinds.push_back({std::string(kIqr), t});
  }
  kinds.push_back({std::string(kSpike), "spike"});
  kinds.push_back({std::string(kSpike), "level_shift"});
  kinds.push_back({std::string(kIForest), "multivariate_outlier"});
  kinds.push_back({std::string(kDrift), "distribution_drift"});
  for (const auto name : detectors::kRuleTypeNames) kinds.push_back({std::string(kRules), std::string(name)});
  return kinds;
}

Processor::Processor(const config::Config& cfg, sinks::Metrics& metrics)
    : cfg_(cfg),
      metrics_(metrics),
      meters_{config::InputKind::kMeter,
              &cfg.meter,
              v1::ENTITY_KIND_METER,
              "meter",
              EntityTable<EntityState>(cfg.limits.max_entities),
              0,
              kMeterPrimary,
              SIZE_MAX,
              nullptr,
              {},
              nullptr,
              {},
              0,
              {},
              {}},
      infra_{config::InputKind::kInfra,
             &cfg.infra,
             v1::ENTITY_KIND_INFRA_SERIES,
             "infra",
             EntityTable<EntityState>(cfg.limits.max_entities),
             0,
             0,
             SIZE_MAX,
             nullptr,
             {},
             nullptr,
             {},
             0,
             {},
             {}},
      policy_{0.5, cfg.detection.skip_flagged, cfg.detection.adopt_after},
      rules_(cfg.rules),
      risk_(cfg.risk),
      silence_(silence_config(cfg)) {
  for (const auto& t : cfg.topics.inputs) {
    decoders_.emplace_back(cfg.ingest, t);
    consumed_counters_.push_back(&metrics.records_consumed(t.name));
  }
  pending_.consumed.assign(decoders_.size(), 0);
  for (int b = 0; b < 3; ++b) band_gauges_[static_cast<size_t>(b)].attach(metrics.meters_by_risk_band(b));
  tombstones_gauge_.attach(*metrics.state().tombstones_pending);
  for (KindRuntime* k : {&meters_, &infra_}) {
    k->entities_gauge.attach(metrics.active_entities(k->name));
    // Memory for tombstones no greater than for the entities they were (a key each), and at most 64k a kind
    // (~3 MB): a retirement beyond that waits for the next checkpoint.
    k->max_tombstones = std::min<size_t>(cfg.limits.max_entities, 65'536);
    for (size_t i = 0; i < k->cfg->zscore.size(); ++i)
      if (feature_index(k->input_kind, k->cfg->zscore[i].feature) == k->primary_feature)
        k->zscore_primary = i;
    if (k->cfg->iforest_enabled) {
      k->forest = std::make_unique<detectors::StreamingIsolationForest>(k->cfg->iforest);
      if (k->cfg->iforest_window_span_ms > 0)
        k->forest_sampler.emplace(k->cfg->iforest_window_span_ms, k->cfg->iforest.window, 1.0);
    }
    if (k->cfg->drift_enabled) {
      std::vector<std::string> names;
      if (k->input_kind == config::InputKind::kMeter) {
        k->drift_features = {0, 1, 2, 3};  // voltage, current, power, power factor
      } else {
        k->drift_features = {0};
      }
      for (size_t f : k->drift_features) names.emplace_back(feature_name(k->input_kind, f));
      k->drift = std::make_unique<detectors::KsDriftDetector>(k->cfg->drift, names);
      k->drift_sampler.emplace(k->cfg->drift_cycle_ms, k->cfg->drift.recent_size);
    }
  }
  attribution_.resize(64);
}

Processor::EntityState Processor::make_state(const KindRuntime& kind) const {
  EntityState s;
  const auto& z = kind.cfg->zscore;
  s.zscore = features::PooledArray<Guarded<detectors::ZScoreDetector>>(
      static_cast<uint32_t>(z.size()), [&](uint32_t i) {
        return Guarded<detectors::ZScoreDetector>{detectors::ZScoreDetector(z[i].params), {}, {}};
      });
  if (kind.cfg->iqr_enabled)
    s.iqr = OptionalGuarded<detectors::IqrDetector>(detectors::IqrDetector(kind.cfg->iqr));
  if (kind.cfg->spike_enabled)
    s.spike = OptionalGuarded<detectors::SpikeDetector>(detectors::SpikeDetector(kind.cfg->spike));
  return s;
}

size_t Processor::entities(config::InputKind kind) const {
  return kind == config::InputKind::kMeter ? meters_.table.size() : infra_.table.size();
}

const detectors::StreamingIsolationForest* Processor::forest(config::InputKind kind) const {
  return (kind == config::InputKind::kMeter ? meters_ : infra_).forest.get();
}

Processor::~Processor() {
  flush_metrics();
}

void Processor::flush_metrics() {
  for (size_t i = 0; i < decoders_.size(); ++i) {
    if (pending_.consumed[i] == 0) continue;
    consumed_counters_[i]->Increment(static_cast<double>(pending_.consumed[i]));
    pending_.consumed[i] = 0;
  }
  for (int k = 0; k < 2; ++k) {
    if (pending_.readings[k] == 0) continue;
    metrics_.readings(k == 0 ? "meter" : "infra").Increment(static_cast<double>(pending_.readings[k]));
    pending_.readings[k] = 0;
  }
}

void Processor::process(const kafka::Record& rec, int64_t now_ms, Emitter& out) {
  size_t topic_index = 0;
  while (topic_index < decoders_.size() && decoders_[topic_index].topic().name != rec.topic) ++topic_index;
  if (topic_index == decoders_.size()) {
    metrics_.records_consumed(std::string(rec.topic)).Increment();  // counted as "other"
    return;  // not an input topic of ours (cannot happen with our subscription)
  }
  ++pending_.consumed[topic_index];
  // Idle entities are looked for a few at a time (256 table slots a kind every 1024 records): a table of
  // 2M entities is gone through once per 8M records, and no record waits long for it.
  if (++records_since_evict_ >= 1024) {
    records_since_evict_ = 0;
    evict_idle(meters_, 256);
    evict_idle(infra_, 256);
  }
  const ingest::RecordDecoder* decoder = &decoders_[topic_index];
  current_home_ = home_of(topic_index, rec.partition);
  current_progress_ = nullptr;  // found by the first meter reading the record brings (run_rules)
  current_clock_ = nullptr;     // found by the first reading the record brings that is scored
  current_offset_ = rec.offset;

  decoder->decode(rec.value, now_ms, decoded_);
  for (const auto& rej : decoded_.rejections) {
    if (rej.batch_index < 0) {
      dead_letter(rec, rec.value, rej.reason, rej.detail, now_ms, out);
    } else {
      // One bad reading of a batch: dead-letter that reading alone, re-encoded, so the rest of the batch goes
      // on.
      decoded_.meters.readings(rej.batch_index).SerializeToString(&scratch_);
      dead_letter(rec, scratch_, rej.reason,
                  fmt::format("reading #{} of a batch: {}", rej.batch_index, rej.detail), now_ms, out);
    }
  }
  if (decoder->topic().kind == config::InputKind::kInfra) {
    if (decoded_.infra_valid) process_infra(decoded_.infra, rec, now_ms, out);
    return;
  }
  for (int i = 0; i < decoded_.meters.readings_size(); ++i)
    if (decoded_.valid[static_cast<size_t>(i)])
      process_meter(decoded_.meters.readings(i), rec, i, now_ms, out);
  // Missing readings are judged against the fleet's event-time progress; checking every ~1000 readings keeps
  // the cost negligible (each check selects every partition's watermark: in one profile of pipeline_bench
  // with a check every 256 readings, that selection took 2% of the samples) and the delay far below one
  // reading interval.
  if (readings_since_missing_check_ >= 1000) check_missing(now_ms, out);
}

void Processor::prefetch(const kafka::Record& rec) const {
  // Both tables: which one the record's topic feeds would cost a topic lookup, more than a prefetch.
  meters_.table.prefetch(rec.key);
  infra_.table.prefetch(rec.key);
}

void Processor::process_meter(const v1::MeterReading& r, const kafka::Record& rec, int index, int64_t now_ms,
                              Emitter& out) {
  double values[kMaxFeatures];
  meter_values(r, values);
  ingest::DeadLetterReason refused{};
  std::string detail;
  const Outcome outcome =
      score_entity(meters_, r.meter_id(), r.event_time_ms(), reading_digest(r), values, &r,
                   r.has_transformer_id() ? &r.transformer_id() : nullptr, now_ms, out, refused, detail);
  if (outcome == Outcome::kScored) {
    ++pending_.readings[0];
    ++readings_since_missing_check_;
  }
  if (outcome != Outcome::kRefused) return;
  if (decoded_.meters.readings_size() == 1) {
    dead_letter(rec, rec.value, refused, detail, now_ms, out);
  } else {
    r.SerializeToString(&scratch_);
    dead_letter(rec, scratch_, refused, fmt::format("reading #{} of a batch: {}", index, detail), now_ms,
                out);
  }
}

void Processor::process_infra(const v1::InfraMetric& m, const kafka::Record& rec, int64_t now_ms,
                              Emitter& out) {
  const std::string entity = ingest::infra_entity_id(m.source(), m.metric());
  const double value = m.value();
  ingest::DeadLetterReason refused{};
  std::string detail;
  const Outcome outcome = score_entity(infra_, entity, m.event_time_ms(), reading_digest(m), &value, nullptr,
                                       nullptr, now_ms, out, refused, detail);
  if (outcome == Outcome::kScored) ++pending_.readings[1];
  if (outcome != Outcome::kRefused) return;
  dead_letter(rec, rec.value, refused, detail, now_ms, out);
}

Processor::Outcome Processor::score_entity(KindRuntime& kind, std::string_view entity_id, int64_t t,
                                           uint32_t digest, const double* values,
                                           const v1::MeterReading* reading, const std::string* transformer_id,
                                           int64_t now_ms, Emitter& out, ingest::DeadLetterReason& refused,
                                           std::string& detail) {
  bool created = false;
  const auto idx = kind.table.find_or_insert(entity_id, [&] {
    created = true;
    return make_state(kind);
  });
  if (!idx) {
    refused = ingest::DeadLetterReason::kEntityLimit;
    detail = fmt::format("{} entities already tracked (limits.max_entities)", kind.table.size());
    return Outcome::kRefused;
  }
  if (created && &kind == &meters_) count_band(kind.table.at(*idx).risk.band, +1);
  EntityState& st = kind.table.at(*idx);
  // A record redelivered after a restore that this entity's state already contains: skipped, or it would be
  // learned twice and could alert again. A checkpoint writes state only after every output of the records
  // behind it was acknowledged (KafkaRunner::checkpoint drains first), so nothing is lost by skipping; this
  // makes a restore correct even when the state is newer than the resume position (an instance killed
  // between writing entities and writing its position record, or compaction keeping only the newest value).
  // A batch record applies several readings of one offset: only a restored state skips at its own offset.
  if (current_offset_ >= 0 && st.home == current_home_ &&
      (current_offset_ < st.applied_offset || (current_offset_ == st.applied_offset && st.restored))) {
    metrics_.state().replayed_readings->Increment();
    return Outcome::kSkipped;
  }
  if (st.newest_event_ms != std::numeric_limits<int64_t>::min() &&
      t < st.newest_event_ms - kind.cfg->allowed_lateness_ms) {
    refused = ingest::DeadLetterReason::kLateEvent;
    detail = fmt::format("event time {} is {} s older than the entity's newest {} (allowed lateness {} s)", t,
                         (st.newest_event_ms - t) / 1000, st.newest_event_ms,
                         kind.cfg->allowed_lateness_ms / 1000);
    return Outcome::kRefused;
  }
  // A producer retrying a send (at-least-once head-ends and exporters) delivers the same readings again:
  // learning one twice would count its interval twice in every window. The newest reading and the few before
  // it within the allowed lateness (RecentReadings) are compared.
  RecentReadings::Match match = RecentReadings::Match::kNone;
  if (t == st.newest_event_ms && st.newest_digest != 0)
    match = digest == st.newest_digest ? RecentReadings::Match::kSame : RecentReadings::Match::kOther;
  else if (t < st.newest_event_ms)
    match = st.recent.find(static_cast<uint64_t>(st.newest_event_ms - t), digest);
  if (match == RecentReadings::Match::kSame) {
    metrics_.duplicate_readings(kind.name).Increment();
    return Outcome::kSkipped;
  }
  if (match == RecentReadings::Match::kOther) {
    refused = ingest::DeadLetterReason::kConflictingReading;
    detail = fmt::format(
        "event time {} already has a reading with other values for this entity (the first one was scored)",
        t);
    return Outcome::kRefused;
  }
  // The detectors' windows are separate blocks, each likely a cache miss with many entities: their loads
  // start now, in parallel, and complete while the forest walks its trees.
  for (const auto& z : st.zscore) z.detector.prefetch();
  if (st.iqr) st.iqr->detector.prefetch();
  if (st.spike) st.spike->detector.prefetch();
  const uint64_t sample_hash =
      kind.forest_sampler || kind.drift_sampler ? EventTimeSampler::hash(entity_id, t) : 0;
  const Context c{&kind, entity_id, t, transformer_id, now_ms, &out};
  const double x = values[kind.primary_feature];
  // The forest reads the univariate detectors' view of this point, so it is scored before they learn it.
  double ml = run_forest(st, c, values, reading, sample_hash);
  ml = std::max(ml, run_zscore(st, c, values));
  if (std::isfinite(x)) {
    ml = std::max(ml, run_iqr(st, c, x));
    ml = std::max(ml, run_spike(st, c, x));
  }
  run_drift(c, values, sample_hash);
  if (reading) {
    detectors::RuleScores rule_scores{};
    run_rules(st, *idx, c, *reading, rule_scores);
    update_risk(st, c, ml, rule_scores);
  }

  // (t == newest_event_ms here only with the digest unknown, after a restore: the reading scored now is the
  // one later repeats are compared with.)
  if (t > st.newest_event_ms && st.newest_event_ms != std::numeric_limits<int64_t>::min())
    st.recent.advance(static_cast<uint64_t>(t - st.newest_event_ms), st.newest_digest,
                      static_cast<uint64_t>(kind.cfg->allowed_lateness_ms));
  if (t >= st.newest_event_ms) {
    st.newest_event_ms = t;
    st.newest_digest = digest;
  } else {
    st.recent.add(static_cast<uint64_t>(st.newest_event_ms - t), digest);
  }
  if (!current_clock_) current_clock_ = &eviction_clocks_.try_emplace(current_home_).first->second;
  current_clock_->watermark.observe(t);
  st.home = current_home_;
  st.dirty = true;
  st.restored = false;
  st.applied_offset = current_offset_;
  if (t > kind.watermark_ms) {
    kind.watermark_ms = t;
    // The newest over every stream thread of the process (each has its own partitions).
    auto& g = metrics_.event_time_watermark_seconds(kind.name);
    if (static_cast<double>(t) / 1000.0 > g.Value()) g.Set(static_cast<double>(t) / 1000.0);
  }
  kind.entities_gauge.set(static_cast<double>(kind.table.size()));
  return Outcome::kScored;
}

double Processor::run_zscore(EntityState& st, const Context& c, const double* values) {
  double best = 0;
  for (size_t i = 0; i < st.zscore.size(); ++i) {
    const auto& f = c.kind->cfg->zscore[i];
    const double x = values[feature_index(c.kind->input_kind, f.feature)];
    if (!std::isfinite(x)) continue;
    auto& slot = st.zscore[i];
    const double score = slot.detector.score({c.t, x});
    best = std::max(best, score);
    const bool flagged = score >= policy_.threshold;
    if (flagged) {
      const double z = slot.detector.signed_z(x);
      const uint8_t type = z > 0 ? kHigh : kLow;
      if (slot.episode.should_report(type, c.t, c.kind->cfg->cooldown_ms)) {
        const auto s = slot.detector.stats();
        const auto [lo, hi] = slot.detector.expected_range();
        const std::string window = human_window(f.params.window_ms);
        start_alert(c, kZScore, z > 0 ? "high_value" : "low_value", score, f.feature, x, lo, hi);
        add_feature("z", z);
        add_feature(f.feature + ".mean_" + window, s.mean);
        add_feature(f.feature + ".stddev_" + window, s.stddev);
        add_feature(f.feature + ".count_" + window, s.count);
        add_feature(f.feature + ".last", s.last);
        add_feature(f.feature + ".rate_per_s", s.rate_per_s);
        publish_alert(
            c, severity_of(score),
            fmt::format("{} = {:.6g} is {:.1f} standard deviations {} its {} mean {:.6g} (expected {:.6g} "
                        ".. {:.6g})",
                        f.feature, x, std::abs(z), z > 0 ? "above" : "below", window, s.mean, lo, hi));
      } else {
        metrics_.alerts_suppressed(std::string(kZScore)).Increment();
      }
    }
    if (slot.guard.should_learn(flagged, policy_)) slot.detector.learn({c.t, x});
  }
  return best;
}

double Processor::run_iqr(EntityState& st, const Context& c, double x) {
  if (!st.iqr) return 0;
  auto& slot = *st.iqr;
  const double score = slot.detector.score({c.t, x});
  const bool flagged = score >= policy_.threshold;
  if (flagged) {
    const auto fences = slot.detector.fences();
    const bool high = fences && x > fences->upper;
    if (fences && slot.episode.should_report(high ? kHigh : kLow, c.t, c.kind->cfg->cooldown_ms)) {
      const std::string_view feature = feature_name(c.kind->input_kind, c.kind->primary_feature);
      start_alert(c, kIqr, high ? "high_value" : "low_value", score, feature, x, fences->lower,
                  fences->upper);
      add_feature("iqr", fences->iqr);
      add_feature("distance_in_iqr", slot.detector.distance(x));
      add_feature("k", c.kind->cfg->iqr.k);
      publish_alert(
          c, severity_of(score),
          fmt::format("{} = {:.6g} is {:.1f} interquartile ranges outside the Tukey fences [{:.6g}, {:.6g}] "
                      "(k = {})",
                      feature, x, slot.detector.distance(x), fences->lower, fences->upper,
                      c.kind->cfg->iqr.k));
    } else if (fences) {
      metrics_.alerts_suppressed(std::string(kIqr)).Increment();
    }
  }
  if (slot.guard.should_learn(flagged, policy_)) slot.detector.learn({c.t, x});
  return score;
}

double Processor::run_spike(EntityState& st, const Context& c, double x) {
  if (!st.spike) return 0;
  auto& slot = *st.spike;
  const double score = slot.detector.score({c.t, x});
  const bool flagged = score >= policy_.threshold;
  const std::string_view feature = feature_name(c.kind->input_kind, c.kind->primary_feature);
  const bool on_return = c.kind->cfg->spike_alert_on_return;
  if (flagged && !on_return) {
    const double level = slot.detector.level(), scale = slot.detector.scale();
    const double rz = slot.detector.robust_z(x);
    if (slot.episode.should_report(rz > 0 ? kHigh : kLow, c.t, c.kind->cfg->cooldown_ms)) {
      const double half = c.kind->cfg->spike.threshold * scale;
      start_alert(c, kSpike, "spike", score, feature, x, level - half, level + half);
      add_feature("robust_z", rz);
      add_feature(std::string(feature) + ".median_recent", level);
      add_feature(std::string(feature) + ".mad_scale_recent", scale);
      publish_alert(c, severity_of(score),
                    fmt::format("{} = {:.6g} jumped {:.1f} robust deviations from its recent level {:.6g}",
                                feature, x, std::abs(rz), level));
    } else {
      metrics_.alerts_suppressed(std::string(kSpike)).Increment();
    }
  }
  // Spike and level shift are told apart once the following points are seen: the detector learns every point
  // (its window must see a shift to confirm it), so the learning guard does not apply here.
  slot.detector.learn({c.t, x});
  if (const auto& v = slot.detector.resolved(); on_return && v && v->kind == detectors::SpikeKind::kSpike) {
    if (slot.episode.should_report(v->value > v->baseline ? kHigh : kLow, v->time_ms,
                                   c.kind->cfg->cooldown_ms)) {
      // The spike's own event time and id: the alert is the same whichever later reading confirmed it.
      const double half = c.kind->cfg->spike.threshold * slot.detector.scale();
      start_alert(c, kSpike, "spike", v->score, feature, v->value, v->baseline - half, v->baseline + half);
      add_feature(std::string(feature) + ".median_before", v->baseline);
      add_feature(std::string(feature) + ".level_after", v->level_after);
      add_feature("away_points", v->away_points);
      alert_.set_event_time_ms(v->time_ms);
      alert_.set_alert_id(make_alert_id(c.kind->entity_kind, c.entity_id, kSpike, "spike", v->time_ms));
      publish_alert(
          c, severity_of(v->score),
          fmt::format("{} = {:.6g} jumped away from its recent level {:.6g} and came back to {:.6g} "
                      "within {} readings: a spike",
                      feature, v->value, v->baseline, v->level_after, c.kind->cfg->spike.confirm_points));
    } else {
      metrics_.alerts_suppressed(std::string(kSpike)).Increment();
    }
  }
  if (const auto& v = slot.detector.resolved();
      c.kind->cfg->level_shift_alerts && v && v->kind == detectors::SpikeKind::kLevelShift &&
      slot.episode.should_report(kLevelShiftEpisode, v->time_ms, c.kind->cfg->cooldown_ms)) {
    start_alert(c, kSpike, "level_shift", v->score, feature, v->level_after, v->baseline, v->baseline);
    add_feature("baseline", v->baseline);
    add_feature("level_after", v->level_after);
    add_feature("away_points", v->away_points);
    alert_.set_event_time_ms(v->time_ms);
    alert_.set_alert_id(make_alert_id(c.kind->entity_kind, c.entity_id, kSpike, "level_shift", v->time_ms));
    publish_alert(
        c, v1::SEVERITY_WARNING,
        fmt::format("{} moved from {:.6g} to {:.6g} and stayed there ({} points): a level shift, not a spike",
                    feature, v->baseline, v->level_after, v->away_points));
  }
  return score;
}

double Processor::run_forest(EntityState& st, const Context& c, const double* values,
                             const v1::MeterReading* reading, uint64_t sample_hash) {
  if (!c.kind->forest) return 0;
  auto& forest = *c.kind->forest;
  // A fleet-wide model needs features that mean the same on every entity: each entity's value is expressed
  // against its own history (z, robust z), plus physical quantities that are comparable across meters.
  double x[6];
  size_t dim;
  const double z = c.kind->zscore_primary < st.zscore.size()
                       ? st.zscore[c.kind->zscore_primary].detector.signed_z(values[c.kind->primary_feature])
                       : 0.0;
  const double rz = st.spike && std::isfinite(values[c.kind->primary_feature])
                        ? st.spike->detector.robust_z(values[c.kind->primary_feature], c.t)
                        : 0.0;
  if (reading) {
    const double v = or_default(values[0], cfg_.rules.nominal_voltage_v);
    const double i = or_default(values[1], 0.0), p = or_default(values[2], 0.0),
                 pf = or_default(values[3], 1.0);
    x[0] = v;
    x[1] = std::clamp(z, -1e6, 1e6);
    x[2] = std::clamp(rz, -1e6, 1e6);
    x[3] = pf;
    // Consistency of the measurements: apparent power that does not match active power (log ratio).
    x[4] = std::log((v * i * std::abs(pf) + 50.0) / (std::abs(p) + 50.0));
    x[5] = or_default(values[4], 50.0);
    dim = 6;
  } else {
    x[0] = std::clamp(z, -1e6, 1e6);
    x[1] = std::clamp(rz, -1e6, 1e6);
    x[2] = st.iqr ? std::clamp(st.iqr->detector.distance(values[0]), -1e6, 1e6) : 0.0;
    dim = 3;
  }
  if (dim != forest.config().dim) return 0;  // configured for another vector (cannot happen with our config)
  const std::span<const double> vec(x, dim);
  double score = 0;
  bool flagged = false;
  if (forest.warmed_up()) {
    score = forest.score(vec);  // one walk of each tree; attribution (costlier) only for the rare alert
    flagged = forest.is_alert(score);
  }
  if (flagged && st.iforest_episode.should_report(kHigh, c.t, c.kind->cfg->cooldown_ms)) {
    forest.score_with_attribution(vec, std::span<double>(attribution_.data(), dim));
    static constexpr const char* kMeterVec[] = {
        "voltage_v",    "active_power_w.z_24h",         "active_power_w.robust_z",
        "power_factor", "apparent_vs_active_log_ratio", "frequency_hz"};
    static constexpr const char* kInfraVec[] = {"value.z", "value.robust_z", "value.iqr_distance"};
    const char* const* names = reading ? kMeterVec : kInfraVec;
    size_t top = 0;
    for (size_t k = 1; k < dim; ++k)
      if (attribution_[k] > attribution_[top]) top = k;
    start_alert(c, kIForest, "multivariate_outlier", score, names[top], x[top], 0.0, forest.threshold());
    for (size_t k = 0; k < dim; ++k) add_feature(std::string(names[k]), x[k]);
    for (size_t k = 0; k < dim; ++k) add_feature(std::string("attribution.") + names[k], attribution_[k]);
    add_feature("threshold", forest.threshold());
    publish_alert(
        c, severity_of(std::min(1.0, 0.5 + (score - forest.threshold()))),
        fmt::format("isolation forest score {:.3f} above its threshold {:.3f} (contamination {}); isolated "
                    "mostly by {} = {:.4g} ({:.0f}% of the attribution)",
                    score, forest.threshold(), forest.config().contamination, names[top], x[top],
                    100.0 * attribution_[top]));
  } else if (flagged) {
    metrics_.alerts_suppressed(std::string(kIForest)).Increment();
  }
  // Every point is counted by the sampler, flagged or not; anomalies stay out of the model of "normal".
  const bool sampled =
      !c.kind->forest_sampler || c.kind->forest_sampler->keep(EventTimeSampler::variate(sample_hash, 1), c.t);
  if (!flagged && sampled) forest.learn_scored(vec, score);
  // On the same [0, 1] footing as the other detectors: 0.5 at the forest's alert threshold.
  const double thr = forest.threshold();
  return score <= 0.5 || thr <= 0.5 ? 0.0 : std::clamp(0.5 * (score - 0.5) / (thr - 0.5), 0.0, 1.0);
}

void Processor::run_drift(const Context& c, const double* values, uint64_t sample_hash) {
  if (!c.kind->drift) return;
  auto& drift = *c.kind->drift;
  if (!c.kind->drift_sampler->keep(EventTimeSampler::variate(sample_hash, 0), c.t)) return;
  for (size_t j = 0; j < c.kind->drift_features.size(); ++j) {
    const double v = values[c.kind->drift_features[j]];
    if (std::isfinite(v)) drift.observe(j, {c.t, v});
  }
  if (drift.tests_run_total() != c.kind->drift_tests_seen) {
    // A test ran: export every feature's latest D and p (gauges), findings or not.
    metrics_.drift_tests(c.kind->name)
        .Increment(static_cast<double>(drift.tests_run_total() - c.kind->drift_tests_seen));
    c.kind->drift_tests_seen = drift.tests_run_total();
    for (size_t j = 0; j < drift.feature_count(); ++j) {
      if (const auto last = drift.last_test(j)) {
        metrics_.drift_statistic(c.kind->name, drift.feature_name(j)).Set(last->first);
        metrics_.drift_p_value(c.kind->name, drift.feature_name(j)).Set(last->second);
      }
    }
  }
  while (auto f = drift.poll()) {
    // A fleet-level alert: the entity is the input kind, not a meter.
    const Context fleet{c.kind, c.kind->name, f->detected_at_ms, nullptr, c.now_ms, c.out};
    start_alert(fleet, kDrift, "distribution_drift", std::min(1.0, 1.0 - f->pvalue), f->feature, f->statistic,
                0.0, c.kind->cfg->drift.d_min);
    alert_.set_entity_kind(v1::ENTITY_KIND_FLEET);
    alert_.set_alert_id(
        make_alert_id(v1::ENTITY_KIND_FLEET, c.kind->name, kDrift, f->feature, f->detected_at_ms));
    add_feature("ks_d", f->statistic);
    add_feature("p_value", f->pvalue);
    add_feature("alpha_per_test", f->alpha_per_test);
    add_feature("reference.start_ms", static_cast<double>(f->reference.start_ms));
    add_feature("reference.end_ms", static_cast<double>(f->reference.end_ms));
    add_feature("reference.size", f->reference.size);
    add_feature("recent.start_ms", static_cast<double>(f->recent.start_ms));
    add_feature("recent.end_ms", static_cast<double>(f->recent.end_ms));
    add_feature("recent.size", f->recent.size);
    publish_alert(
        fleet, v1::SEVERITY_WARNING,
        fmt::format("the fleet's {} distribution drifted: K-S D = {:.3f}, p = {:.3g} (threshold {:.2g}); "
                    "reference n = {} vs recent n = {}",
                    f->feature, f->statistic, f->pvalue, f->alpha_per_test, f->reference.size,
                    f->recent.size));
    if (c.kind->forest) {
      c.kind->forest->refresh();  // the model of "normal" follows the fleet's new distribution
      metrics_.forest_refreshes(c.kind->name).Increment();
    }
  }
}

double Processor::run_rules(EntityState& st, uint32_t idx, const Context& c, const v1::MeterReading& r,
                            detectors::RuleScores& rule_scores) {
  const auto eval = rules_.evaluate(r, st.rules);
  rule_scores = eval.type_scores;
  for (const auto& f : eval.findings)
    if (f.phase == detectors::EpisodePhase::kStarted) emit_finding(c, f);
  // Only meter readings move a partition's progress and keep it active: a partition of infra series, or one
  // whose records all failed validation, would otherwise count as active with no progress, and hold every
  // silence judgement of this thread back (fleet_watermark).
  if (!current_progress_)
    current_progress_ = &partition_progress_.try_emplace(current_home_, cfg_.watermark).first->second;
  current_progress_->watermark.observe(c.t);
  current_progress_->active_ms = c.now_ms;
  detectors::MissingReport gap;
  // The decoder refuses longer intervals, so the milliseconds cannot wrap.
  static_assert(uint64_t{ingest::RecordDecoder::kMaxIntervalS} * 1000 <= UINT32_MAX);
  const uint32_t interval_ms = r.has_interval_s() ? r.interval_s() * 1000u : 0u;
  if (silence_.on_reading(idx, c.t, interval_ms, &gap) == detectors::SilenceTracker::Update::kGapReported) {
    const auto f = detectors::missing_readings_finding(gap);
    // Without the reading's transformer: check_missing() finds most silences with no reading at hand, and a
    // silence's alert must be the same whichever way it was found (a redelivery may find it the other way).
    Context silence = c;
    silence.transformer_id = nullptr;
    emit_finding(silence, f);
    publish_risk(silence, risk_.add_finding(st.risk, f), f.name());
  }
  return eval.score;
}

void Processor::emit_finding(const Context& c, const detectors::Finding& f) {
  const Context at{c.kind, c.entity_id, f.event_time_ms, c.transformer_id, c.now_ms, c.out};
  start_alert(at, kRules, f.name(), f.score, f.feature, f.observed, f.expected_low, f.expected_high);
  add_feature(f.feature, f.observed);
  add_feature(std::string(f.feature) + ".expected_low", f.expected_low);
  add_feature(std::string(f.feature) + ".expected_high", f.expected_high);
  publish_alert(at, f.severity, f.explanation_text());
}

void Processor::check_missing(int64_t now_ms, Emitter& out) {
  // Heap entries taken off per call: three per reading since the last call (a reading brings about one
  // due, SilenceTracker::drain_missing; the rest is room for reports and a backlog), at least 1024. The
  // re-queueing of a whole aligned fleet's entries is spread over calls instead of stalling the records
  // behind one (bench/silence_bench.cc). A report can come a few calls later (SilenceTracker::drain_missing
  // says which late-delivered reading then ends a silence unreported).
  const size_t max_examined = std::max<size_t>(1024, 3 * readings_since_missing_check_);
  readings_since_missing_check_ = 0;
  const int64_t wm = fleet_watermark(now_ms);
  if (wm == detectors::FleetWatermark::kUnknown) return;
  missing_.clear();
  silence_.drain_missing(wm, missing_, 10'000, max_examined);
  for (const auto& m : missing_) {
    // Reports come only for live meters (a meter dropped or evicted is forgotten by the tracker); the check
    // guards the index. It once compared with size(), the count of live meters, and so dropped the reports of
    // every meter indexed above it after a rebalance had erased some: their silences were never alerted.
    if (!meters_.table.contains(m.meter)) continue;
    const auto f = detectors::missing_readings_finding(m);
    const Context c{&meters_, meters_.table.id(m.meter), f.event_time_ms, nullptr, now_ms, &out};
    emit_finding(c, f);
    auto& st = meters_.table.at(m.meter);
    publish_risk(c, risk_.add_finding(st.risk, f), f.name());
  }
}

int64_t Processor::fleet_watermark(int64_t now_ms) {
  int64_t wm = detectors::FleetWatermark::kUnknown;
  const int64_t idle_after = cfg_.idle_partition_after_ms;
  for (auto& [key, progress] : partition_progress_) {
    if (idle_after > 0 && now_ms - progress.active_ms > idle_after) continue;  // idle: does not hold back
    const int64_t w = progress.watermark.watermark();
    // A partition with too little data yet holds the fleet back: its meters are not judged silent against the
    // others' progress.
    if (w == detectors::FleetWatermark::kUnknown) return detectors::FleetWatermark::kUnknown;
    wm = wm == detectors::FleetWatermark::kUnknown ? w : std::min(wm, w);
  }
  return wm;
}

void Processor::reset_partition_progress() {
  partition_progress_.clear();
  eviction_clocks_.clear();
  current_clock_ = nullptr;
  current_progress_ = nullptr;
}

void Processor::update_risk(EntityState& st, const Context& c, double ml,
                            const detectors::RuleScores& rule_scores) {
  const auto u = risk_.update(st.risk, c.t, ml, rule_scores);
  if (!u.band_changed) return;
  size_t top = 0;
  for (size_t i = 1; i < rule_scores.size(); ++i)
    if (rule_scores[i] > rule_scores[top]) top = i;
  publish_risk(c, u, rule_scores[top] > 0 ? detectors::kRuleTypeNames[top] : std::string_view());
}

void Processor::evict_idle(KindRuntime& kind, uint32_t budget) {
  const int64_t ttl = kind.cfg->entity_ttl_ms;
  if (ttl <= 0 || kind.table.size() == 0) return;
  const bool meter = &kind == &meters_;
  const bool changelog = cfg_.state.changelog;
  // With the changelog, each eviction leaves a tombstone to write: at max_tombstones waiting, the sweep waits
  // for a checkpoint to take them (the entities stay as they are meanwhile).
  const auto tombstone_room = [&] {
    return !changelog || kind.tombstones.size() + kind.tombstones_sent.size() < kind.max_tombstones;
  };
  if (!tombstone_room()) return;
  // The clock of the last home looked at (table order mixes partitions, but a run saves a lookup).
  uint64_t clock_home = ~uint64_t{0};
  int64_t clock = detectors::FleetWatermark::kUnknown;
  uint32_t seen = 0;
  uint64_t evicted = 0;
  const uint32_t next =
      kind.table.for_each_from(kind.evict_cursor, [&](uint32_t idx, std::string_view id, EntityState& st) {
        if (st.home != clock_home) {
          clock_home = st.home;
          clock = eviction_clock(st.home);
        }
        if (st.newest_event_ms != std::numeric_limits<int64_t>::min() &&
            clock != detectors::FleetWatermark::kUnknown && st.newest_event_ms < clock - ttl) {
          ++evicted;
          if (meter) {
            silence_.forget(idx);
            count_band(st.risk.band, -1);
          }
          if (changelog) {
            Tombstone t{st.home, {}};
            changelog_key(kind, id, t.key);
            kind.tombstones.push_back(std::move(t));
          }
          kind.table.erase(idx);  // `st` and `id` are not used after this
          if (!tombstone_room()) return false;
        }
        return ++seen < budget;
      });
  // The end of the table reached: from the start next time.
  kind.evict_cursor = seen < budget && tombstone_room() ? 0 : next;
  if (evicted > 0) {
    metrics_.entities_evicted(kind.name).Increment(static_cast<double>(evicted));
    kind.entities_gauge.set(static_cast<double>(kind.table.size()));
    update_tombstones_gauge();
  }
}

int64_t Processor::eviction_clock(uint64_t home) {
  const auto it = eviction_clocks_.find(home);
  if (it == eviction_clocks_.end()) return detectors::FleetWatermark::kUnknown;
  EvictionClock& c = it->second;
  if (c.watermark.observed() - c.refreshed_at < 256 &&
      c.watermark.last() != detectors::FleetWatermark::kUnknown)
    return c.watermark.last();
  c.refreshed_at = c.watermark.observed();
  return c.watermark.watermark();
}

void Processor::count_band(detectors::RiskBand band, int64_t delta) {
  auto& n = band_counts_[static_cast<size_t>(band)];
  n = std::max<int64_t>(0, n + delta);
  band_gauges_[static_cast<size_t>(band)].set(static_cast<double>(n));
}

void Processor::publish_risk(const Context& c, const detectors::RiskUpdate& u, std::string_view top_finding) {
  if (!u.band_changed) return;
  count_band(u.previous_band, -1);
  count_band(u.band, +1);
  metrics_.risk_updates().Increment();
  risk_msg_.Clear();
  risk_msg_.set_meter_id(std::string(c.entity_id));
  risk_msg_.set_risk(u.risk);
  risk_msg_.set_band(to_proto(u.band));
  risk_msg_.set_previous_band(to_proto(u.previous_band));
  risk_msg_.set_ml_score(u.ml);
  risk_msg_.set_rules_score(u.rules);
  if (!top_finding.empty()) risk_msg_.set_top_finding(std::string(top_finding));
  risk_msg_.set_event_time_ms(c.t);
  risk_msg_.set_updated_time_ms(c.now_ms);
  if (c.transformer_id) risk_msg_.set_transformer_id(*c.transformer_id);
  risk_msg_.set_gridsentinel_version(GS_VERSION);
  c.out->risk(risk_msg_);
}

v1::Alert& Processor::start_alert(const Context& c, std::string_view detector, std::string_view anomaly_type,
                                  double score, std::string_view feature, double observed, double lo,
                                  double hi) {
  alert_.Clear();
  alert_.set_alert_id(make_alert_id(c.kind->entity_kind, c.entity_id, detector, anomaly_type, c.t));
  alert_.set_entity_kind(c.kind->entity_kind);
  alert_.set_entity_id(std::string(c.entity_id));
  alert_.set_detector(std::string(detector));
  alert_.set_anomaly_type(std::string(anomaly_type));
  alert_.set_score(std::clamp(score, 0.0, 1.0));
  alert_.set_feature(std::string(feature));
  alert_.set_observed_value(observed);
  alert_.set_expected_low(lo);
  alert_.set_expected_high(hi);
  alert_.set_event_time_ms(c.t);
  alert_.set_detection_time_ms(c.now_ms);
  alert_.set_gridsentinel_version(GS_VERSION);
  if (c.transformer_id) alert_.set_transformer_id(*c.transformer_id);
  return alert_;
}

void Processor::add_feature(std::string_view name, double value) {
  if (!std::isfinite(value)) return;
  auto* fv = alert_.add_features();
  fv->set_name(std::string(name));
  fv->set_value(value);
}

void Processor::publish_alert(const Context& c, v1::Severity severity, std::string_view explanation) {
  alert_.set_severity(severity);
  alert_.set_explanation(std::string(explanation));
  metrics_.alerts(alert_.detector(), alert_.anomaly_type(), severity).Increment();
  c.out->alert(alert_);
}

v1::Severity Processor::severity_of(double score) const {
  return score >= cfg_.detection.critical_score ? v1::SEVERITY_CRITICAL : v1::SEVERITY_WARNING;
}

void Processor::dead_letter(const kafka::Record& rec, std::string_view value, ingest::DeadLetterReason reason,
                            const std::string& detail, int64_t now_ms, Emitter& out) {
  // Cut to what fits a producer's message size limit, as the proto says: a dead letter that cannot be
  // delivered would be retried for ever and hold its record's offset back.
  const std::string_view kept_value = value.substr(0, kMaxDeadLetterValueBytes);
  const std::string_view kept_key = rec.key.substr(0, kMaxDeadLetterKeyBytes);
  dead_letter_.Clear();
  dead_letter_.set_original_value(std::string(kept_value));
  dead_letter_.set_original_key(std::string(kept_key));
  dead_letter_.set_original_value_bytes(static_cast<int64_t>(value.size()));
  dead_letter_.set_original_key_bytes(static_cast<int64_t>(rec.key.size()));
  dead_letter_.set_reason(ingest::reason_name(reason));
  if (kept_value.size() < value.size() || kept_key.size() < rec.key.size()) {
    dead_letter_.set_detail(
        fmt::format("{} (original cut to the first {} of {} value bytes and {} of {} key "
                    "bytes; the whole record is at its source offset)",
                    detail, kept_value.size(), value.size(), kept_key.size(), rec.key.size()));
  } else {
    dead_letter_.set_detail(detail);
  }
  dead_letter_.set_stage(ingest::reason_stage(reason));
  dead_letter_.set_source_topic(std::string(rec.topic));
  dead_letter_.set_source_partition(rec.partition);
  dead_letter_.set_source_offset(rec.offset);
  dead_letter_.set_source_timestamp_ms(rec.timestamp_ms);
  dead_letter_.set_dead_letter_time_ms(now_ms);
  dead_letter_.set_gridsentinel_version(GS_VERSION);
  metrics_.dead_letters(reason).Increment();
  out.dead_letter(dead_letter_, kept_key);
}

}  // namespace gridsentinel::pipeline
