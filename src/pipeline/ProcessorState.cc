// Processor's state checkpoints: per-entity state and fleet models to and from changelog records.
//
// Entity record: key "m:<meter id>" or "i:<infra entity id>" (ingest/EntityId.h); value = format version,
// then every detector's own save() (windows included), its learning guard and episode, and for meters the
// rule, risk and silence state. A value written under another detector configuration (a different number of
// z-score features, a detector switched on or off) is refused and the entity starts cold: restoring it into
// differently shaped detectors would be wrong, and the detectors' own restore() checks their parameters too.
#include <fmt/format.h>

#include <algorithm>
#include <type_traits>

#include "common/StateCodec.h"
#include "pipeline/Processor.h"

namespace gridsentinel::pipeline {

namespace {

// 2: applied_offset. (The latest readings' digests, EntityState::newest_digest and ::recent, are not saved: a
// new format would be refused by the instances of the previous version, and in a rolling upgrade, where both
// versions share the group, every entity such an instance restored would start cold. A restored entity learns
// them again from its next readings.)
constexpr uint8_t kEntityFormat = 2;
// 2: the forest's sampler after the forest. 1 (without it) is still read: the sampler then starts anew.
constexpr uint8_t kModelsFormat = 2;

template <class D>
void put_guarded(StateWriter& w, const D& detector, const detectors::LearningGuard& guard,
                 const detectors::EpisodeTracker& episode) {
  w.put_nested([&](StateWriter& inner) { detector.save(inner); });
  w.put<uint32_t>(guard.flagged_run());
  w.put<uint8_t>(episode.last_type());
  w.put<int64_t>(episode.last_report_ms());
}

template <class D>
bool get_guarded(StateReader& r, D& detector, detectors::LearningGuard& guard,
                 detectors::EpisodeTracker& episode, std::string& scratch) {
  uint32_t run = 0;
  uint8_t type = 0;
  int64_t last = 0;
  if (!r.get_bytes(scratch) || !r.get(run) || !r.get(type) || !r.get(last)) return false;
  if (!detector.restore(scratch)) return false;
  guard.set_flagged_run(run);
  episode.restore(type, last);
  return true;
}

void put_episode(StateWriter& w, const detectors::EpisodeTracker& e) {
  w.put<uint8_t>(e.last_type());
  w.put<int64_t>(e.last_report_ms());
}
bool get_episode(StateReader& r, detectors::EpisodeTracker& e) {
  uint8_t type = 0;
  int64_t last = 0;
  if (!r.get(type) || !r.get(last)) return false;
  e.restore(type, last);
  return true;
}

}  // namespace

int Processor::topic_index(std::string_view topic) const {
  for (size_t i = 0; i < decoders_.size(); ++i)
    if (decoders_[i].topic().name == topic) return static_cast<int>(i);
  return -1;
}

config::InputKind Processor::kind_of_topic(size_t topic_index) const {
  return decoders_[topic_index].topic().kind;
}

void Processor::save_entity(const KindRuntime& kind, uint32_t idx, std::string& out) const {
  const EntityState& st = kind.table.at(idx);
  StateWriter w(std::move(out));
  w.put<uint8_t>(kEntityFormat);
  w.put<int64_t>(st.newest_event_ms);
  w.put<int64_t>(st.applied_offset);
  w.put<uint8_t>(static_cast<uint8_t>(st.zscore.size()));
  for (const auto& z : st.zscore) put_guarded(w, z.detector, z.guard, z.episode);
  w.put<uint8_t>(st.iqr ? 1 : 0);
  if (st.iqr) put_guarded(w, st.iqr->detector, st.iqr->guard, st.iqr->episode);
  w.put<uint8_t>(st.spike ? 1 : 0);
  if (st.spike) put_guarded(w, st.spike->detector, st.spike->guard, st.spike->episode);
  put_episode(w, st.iforest_episode);
  const bool meter = kind.input_kind == config::InputKind::kMeter;
  w.put<uint8_t>(meter ? 1 : 0);
  if (meter) {
    detectors::encode(st.rules, w);
    w.put<int64_t>(st.risk.rules_time_ms);
    w.put<float>(st.risk.ml);
    w.put<float>(st.risk.rules);
    w.put<uint8_t>(static_cast<uint8_t>(st.risk.band));
    silence_.save_meter(idx, w);
  }
  out = w.take();
}

bool Processor::restore_entity(KindRuntime& kind, uint32_t idx, std::string_view bytes) {
  EntityState st = make_state(kind);
  StateReader r(bytes);
  uint8_t format = 0, zscores = 0, has_iqr = 0, has_spike = 0, meter = 0;
  std::string scratch;
  // An entity is saved only after it scored a reading, whose event time the decoder checked is positive: any
  // other newest_event_ms is a damaged value (and score_entity's differences with it could overflow).
  if (!r.get(format) || format != kEntityFormat || !r.get(st.newest_event_ms) || st.newest_event_ms <= 0 ||
      !r.get(st.applied_offset) || !r.get(zscores) || zscores != st.zscore.size())
    return false;
  for (auto& z : st.zscore)
    if (!get_guarded(r, z.detector, z.guard, z.episode, scratch)) return false;
  if (!r.get(has_iqr) || (has_iqr != 0) != st.iqr.has_value()) return false;
  if (st.iqr && !get_guarded(r, st.iqr->detector, st.iqr->guard, st.iqr->episode, scratch)) return false;
  if (!r.get(has_spike) || (has_spike != 0) != st.spike.has_value()) return false;
  if (st.spike && !get_guarded(r, st.spike->detector, st.spike->guard, st.spike->episode, scratch))
    return false;
  if (!get_episode(r, st.iforest_episode)) return false;
  const bool is_meter = kind.input_kind == config::InputKind::kMeter;
  if (!r.get(meter) || (meter != 0) != is_meter) return false;
  if (is_meter) {
    uint8_t band = 0;
    if (!detectors::decode(r, st.rules) || !r.get(st.risk.rules_time_ms) || !r.get(st.risk.ml) ||
        !r.get(st.risk.rules) || !r.get(band) || band > 2)
      return false;
    st.risk.band = static_cast<detectors::RiskBand>(band);
    if (!silence_.restore_meter(idx, r)) return false;
  }
  if (!r.done()) return false;
  st.home = kind.table.at(idx).home;
  st.restored = true;
  kind.table.at(idx) = std::move(st);
  return true;
}

namespace {

// Membership in a set of homes (a thread's assigned partitions: a few hundred at most), for one pass over the
// entities.
class HomeSet {
 public:
  explicit HomeSet(std::span<const uint64_t> homes) : sorted_(homes.begin(), homes.end()) {
    std::sort(sorted_.begin(), sorted_.end());
  }
  bool contains(uint64_t home) const { return std::binary_search(sorted_.begin(), sorted_.end(), home); }

 private:
  std::vector<uint64_t> sorted_;
};

}  // namespace

void Processor::write_entity(const KindRuntime& kind, uint32_t idx, std::string_view id, EntityState& st,
                             const StateSink& fn) {
  changelog_key(kind, id, scratch_);
  save_entity(kind, idx, state_buffer_);
  const std::string_view value = state_buffer_;
  fn(st.home, scratch_, &value);
  st.dirty = false;
}

void Processor::changelog_key(const KindRuntime& kind, std::string_view id, std::string& out) {
  out.clear();
  out += kind.input_kind == config::InputKind::kMeter ? 'm' : 'i';
  out += ':';
  out += id;
}

template <class Wanted, class Take>
void Processor::take_tombstones(std::vector<Tombstone>& from, const Wanted& wanted, Take&& take) {
  for (size_t i = 0; i < from.size();) {
    if (!wanted.contains(from[i].home)) {
      ++i;
      continue;
    }
    Tombstone t = std::move(from[i]);
    from[i] = std::move(from.back());
    from.pop_back();
    if (!take(std::move(t))) return;
  }
}

template <class Wanted>
size_t Processor::write_tombstones(KindRuntime& kind, const Wanted& wanted, const StateSink& fn,
                                   size_t limit) {
  size_t written = 0;
  if (limit == 0) return 0;
  take_tombstones(kind.tombstones, wanted, [&](Tombstone t) {
    // Back at the same home since it was evicted: its new state is dirty or already written, and a tombstone
    // after it would delete it. Back at another home, its old home's copy is still deleted.
    const auto live = kind.table.find(std::string_view(t.key).substr(2));
    if (live && kind.table.at(*live).home == t.home) return true;
    fn(t.home, t.key, nullptr);
    kind.tombstones_sent.push_back(std::move(t));
    return ++written < limit;
  });
  return written;
}

size_t Processor::checkpoint_tombstones(std::span<const uint64_t> homes, const StateSink& fn, size_t limit) {
  const HomeSet wanted(homes);
  size_t written = write_tombstones(meters_, wanted, fn, limit);
  written += write_tombstones(infra_, wanted, fn, limit - written);
  update_tombstones_gauge();
  return written;
}

size_t Processor::checkpoint(std::span<const uint64_t> homes, bool all, const StateSink& fn) {
  size_t written = checkpoint_tombstones(homes, fn);
  const HomeSet wanted(homes);
  for (KindRuntime* kind : {&meters_, &infra_}) {
    kind->table.for_each([&](uint32_t idx, std::string_view id, EntityState& st) {
      if ((!st.dirty && !all) || !wanted.contains(st.home)) return;
      write_entity(*kind, idx, id, st, fn);
      ++written;
    });
  }
  return written;
}

size_t Processor::checkpoint_slice(std::span<const uint64_t> homes, CheckpointCursor& at,
                                   std::chrono::steady_clock::time_point deadline, const StateSink& fn) {
  const HomeSet wanted(homes);
  KindRuntime* const kinds[2] = {&meters_, &infra_};
  size_t written = 0, visited = 0;
  bool out_of_time = false;
  while (!at.done() && !out_of_time) {
    KindRuntime& kind = *kinds[at.kind];
    at.index = kind.table.for_each_from(at.index, [&](uint32_t idx, std::string_view id, EntityState& st) {
      if (st.dirty && wanted.contains(st.home)) {
        write_entity(kind, idx, id, st, fn);
        ++written;
      }
      out_of_time = ++visited % 8 == 0 && std::chrono::steady_clock::now() >= deadline;
      return !out_of_time;
    });
    if (!out_of_time) {
      ++at.kind;
      at.index = 0;
    }
  }
  return written;
}

bool Processor::restore(uint64_t home, std::string_view key, std::string_view value) {
  if (key.size() < 3 || key[1] != ':' || (key[0] != 'm' && key[0] != 'i')) return false;
  KindRuntime& kind = key[0] == 'm' ? meters_ : infra_;
  const std::string_view id = key.substr(2);
  bool created = false;
  const auto idx = kind.table.find_or_insert(id, [&] {
    created = true;
    return make_state(kind);
  });
  if (!idx) return false;  // table full: the entity will be refused as entity_limit when it reports
  const bool meter = kind.input_kind == config::InputKind::kMeter;
  // Its band is counted again below if the restore succeeds (else it is erased).
  if (meter && !created) count_band(kind.table.at(*idx).risk.band, -1);
  kind.table.at(*idx).home = home;
  if (!restore_entity(kind, *idx, value)) {
    // Cold start for this entity: forget whatever a partial restore left behind.
    if (kind.input_kind == config::InputKind::kMeter) silence_.forget(*idx);
    kind.table.erase(*idx);
    kind.entities_gauge.set(static_cast<double>(kind.table.size()));
    return false;
  }
  kind.table.at(*idx).dirty = false;
  if (meter) count_band(kind.table.at(*idx).risk.band, +1);
  kind.entities_gauge.set(static_cast<double>(kind.table.size()));
  if (kind.table.at(*idx).newest_event_ms > kind.watermark_ms)
    kind.watermark_ms = kind.table.at(*idx).newest_event_ms;
  return true;
}

void Processor::mark_dirty(std::span<const uint64_t> homes) {
  const HomeSet wanted(homes);
  for (KindRuntime* kind : {&meters_, &infra_}) {
    kind->table.for_each([&](uint32_t, std::string_view, EntityState& st) {
      if (wanted.contains(st.home)) st.dirty = true;
    });
    // Their tombstones may not have arrived either: handed out again (one that did arrives twice,
    // harmlessly).
    take_tombstones(kind->tombstones_sent, wanted, [&](Tombstone t) {
      kind->tombstones.push_back(std::move(t));
      return true;
    });
  }
}

void Processor::tombstones_delivered() {
  meters_.tombstones_sent.clear();
  infra_.tombstones_sent.clear();
  update_tombstones_gauge();
}

void Processor::update_tombstones_gauge() {
  tombstones_gauge_.set(static_cast<double>(pending_tombstones()));
}

size_t Processor::pending_tombstones() const {
  size_t n = 0;
  for (const KindRuntime* kind : {&meters_, &infra_})
    n += kind->tombstones.size() + kind->tombstones_sent.size();
  return n;
}

size_t Processor::drop(std::span<const uint64_t> homes) {
  const HomeSet wanted(homes);
  const size_t dropped = drop_where([&](uint64_t home) { return wanted.contains(home); });
  for (const uint64_t home : homes) partition_progress_.erase(home);
  return dropped;
}

size_t Processor::drop_all_but(std::span<const uint64_t> homes) {
  const HomeSet kept(homes);
  const size_t dropped = drop_where([&](uint64_t home) { return !kept.contains(home); });
  std::erase_if(partition_progress_, [&](const auto& entry) { return !kept.contains(entry.first); });
  return dropped;
}

template <class Pred>
size_t Processor::drop_where(Pred&& gone_home) {
  size_t dropped = 0;
  for (KindRuntime* kind : {&meters_, &infra_}) {
    std::vector<uint32_t> gone;
    kind->table.for_each([&](uint32_t idx, std::string_view, EntityState& st) {
      if (gone_home(st.home)) gone.push_back(idx);
    });
    for (uint32_t idx : gone) {
      if (kind->input_kind == config::InputKind::kMeter) {
        silence_.forget(idx);
        count_band(kind->table.at(idx).risk.band, -1);
      }
      kind->table.erase(idx);
    }
    dropped += gone.size();
    // Tombstones of those homes are the new owner's: it restores what they would have deleted, and evicts it.
    for (auto* list : {&kind->tombstones, &kind->tombstones_sent})
      std::erase_if(*list, [&](const Tombstone& t) { return gone_home(t.home); });
    kind->entities_gauge.set(static_cast<double>(kind->table.size()));
  }
  update_tombstones_gauge();
  current_progress_ = nullptr;  // may point into an entry the caller erases
  return dropped;
}

int64_t Processor::partition_watermark(uint64_t home) {
  const auto it = partition_progress_.find(home);
  return it == partition_progress_.end() ? detectors::FleetWatermark::kUnknown
                                         : it->second.watermark.watermark();
}

void Processor::resume_partition_progress(uint64_t home, int64_t watermark, int64_t now_ms) {
  const size_t topic = home >> 32;
  if (topic >= decoders_.size() || kind_of_topic(topic) != config::InputKind::kMeter)
    return;  // see run_rules
  PartitionProgress& progress = partition_progress_.try_emplace(home, cfg_.watermark).first->second;
  progress.watermark.resume_from(watermark);
  progress.active_ms = now_ms;
}

std::string Processor::save_models(config::InputKind k) const {
  const KindRuntime& kind = k == config::InputKind::kMeter ? meters_ : infra_;
  StateWriter w;
  w.put<uint8_t>(kModelsFormat);
  w.put<uint8_t>(kind.forest ? 1 : 0);
  if (kind.forest) w.put_bytes(kind.forest->save());
  static_assert(std::is_trivially_copyable_v<EventTimeSampler>);
  w.put<uint8_t>(kind.forest_sampler ? 1 : 0);
  if (kind.forest_sampler) w.put(*kind.forest_sampler);
  w.put<uint8_t>(kind.drift ? 1 : 0);
  if (kind.drift) {
    w.put_bytes(kind.drift->save());
    w.put<uint64_t>(kind.drift_tests_seen);
    w.put(*kind.drift_sampler);
  }
  return w.take();
}

bool Processor::restore_models(config::InputKind k, std::string_view value) {
  KindRuntime& kind = k == config::InputKind::kMeter ? meters_ : infra_;
  StateReader r(value);
  uint8_t format = 0, has_forest = 0, has_forest_sampler = 0, has_drift = 0;
  std::string forest_bytes, drift_bytes;
  uint64_t tests_seen = 0;
  EventTimeSampler sampler(1, 1), forest_sampler(1, 1);
  if (!r.get(format) || (format != kModelsFormat && format != 1) || !r.get(has_forest) ||
      (has_forest != 0) != !!kind.forest)
    return false;
  if (kind.forest && !r.get_bytes(forest_bytes, 1u << 30)) return false;
  if (format == kModelsFormat && (!r.get(has_forest_sampler) || has_forest_sampler > 1 ||
                                  (has_forest_sampler == 1 && !r.get(forest_sampler))))
    return false;
  if (!r.get(has_drift) || (has_drift != 0) != !!kind.drift) return false;
  if (kind.drift && (!r.get_bytes(drift_bytes, 1u << 30) || !r.get(tests_seen) || !r.get(sampler)))
    return false;
  if (!r.ok()) return false;
  // Only into a cold model: a warm one has learned from this instance's own partitions since start-up. And
  // only a forest saved under the configured settings: restore() adopts the saved ones, so a changed
  // detectors.iforest setting would otherwise never take effect while a saved model exists (it is saved
  // again with the old settings at every checkpoint); the forest then starts cold, as the entities do.
  bool restored = false;
  if (kind.forest && kind.forest->points_learned() == 0 &&
      detectors::StreamingIsolationForest::saved_config(forest_bytes) == kind.forest->config() &&
      kind.forest->restore(forest_bytes)) {
    // A sampler saved under another window_span setting (or none) is not this one's: it starts anew.
    if (kind.forest_sampler && has_forest_sampler == 1 && forest_sampler.restorable_as(*kind.forest_sampler))
      *kind.forest_sampler = forest_sampler;
    restored = true;
  }
  if (kind.drift && kind.drift_tests_seen == 0 && kind.drift->restore(drift_bytes)) {
    kind.drift_tests_seen = tests_seen;
    if (sampler.restorable_as(*kind.drift_sampler)) *kind.drift_sampler = sampler;  // else it starts anew
    restored = true;
  }
  return restored;
}

}  // namespace gridsentinel::pipeline
