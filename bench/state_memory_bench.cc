// Per-meter state: resident memory and serialized (changelog) bytes per tracked meter, through the real
// Processor with the default configuration (issue 5: <= 2 KB per meter at 1M meters).
//
//   CCACHE_BASEDIR=$PWD scripts/build.sh build-perf -DCMAKE_BUILD_TYPE=Release
//   build-perf/bench/state_memory_bench --meters 100000 --days 3
//   build-perf/bench/state_memory_bench --meters 1000000 --days 1
//   build-perf/bench/state_memory_bench --meters 1000000 --table-only   # the entity table's own share
//
// What it does: feeds `days` of FleetSimulator readings (15-minute interval, every meter, one MeterReading
// per record, 8 partitions by meter id) through Processor::process, then prints
//   - the detector-state breakdown of one meter with the default meter config (sizeof + heap of each part);
//   - resident bytes per meter: (VmRSS after - VmRSS before the first record) / meters. It includes the
//   entity
//     table (id string, hash node), the silence tracker's slot and the fleet-wide models (isolation forest,
//     drift windows: a fixed few MB, i.e. a few bytes per meter at 1M);
//   - serialized bytes per meter: Processor::checkpoint(all) of every partition, value bytes (and key bytes)
//     per meter, i.e. what the state changelog holds per meter.
// `--table-only`: the entity table alone (EntityTable with a 1-byte state) for the same ids, to separate its
// cost. Run it as its own process (freed memory would otherwise be reused by the next measurement).
// Figures are printed, never asserted.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ProcessStats.h"
#include "config/Config.h"
#include "detectors/EpisodeTracker.h"
#include "detectors/IqrDetector.h"
#include "detectors/SpikeDetector.h"
#include "detectors/ZScoreDetector.h"
#include "detectors/rules/MeterRiskScorer.h"
#include "detectors/rules/MeterRuleState.h"
#include "features/PooledArray.h"
#include "gridsentinel/v1/telemetry.pb.h"
#include "kafka/KafkaClients.h"
#include "pipeline/EntityTable.h"
#include "pipeline/GuardedDetector.h"
#include "pipeline/Processor.h"
#include "pipeline/RecentReadings.h"
#include "sim/FleetSimulator.h"
#include "sinks/Metrics.h"

namespace gridsentinel {
namespace {

using bench::cpu_seconds;
using bench::rss_bytes;
using bench::wall_now_ms;

struct Args {
  uint32_t meters = 100'000;
  double days = 3;
  bool table_only = false;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (k == "--meters" && v) {
      a.meters = static_cast<uint32_t>(std::strtoul(v, nullptr, 10));
      ++i;
    } else if (k == "--days" && v) {
      a.days = std::strtod(v, nullptr);
      ++i;
    } else if (k == "--table-only") {
      a.table_only = true;
    } else {
      std::fprintf(stderr, "usage: %s [--meters N] [--days D] [--table-only]\n", argv[0]);
      std::exit(2);
    }
  }
  return a;
}

// The members of Processor's EntityState (src/pipeline/Processor.h), for sizeof: the Processor keeps its own
// private.
using pipeline::Guarded;
using pipeline::OptionalGuarded;
struct EntityStateEquivalent {
  int64_t newest_event_ms;
  uint64_t home;
  bool dirty;
  bool restored;
  uint32_t newest_digest;
  int64_t applied_offset;
  pipeline::RecentReadings recent;
  features::PooledArray<Guarded<detectors::ZScoreDetector>> zscore;
  OptionalGuarded<detectors::IqrDetector> iqr;
  OptionalGuarded<detectors::SpikeDetector> spike;
  detectors::EpisodeTracker iforest_episode;
  detectors::MeterRuleState rules;
  detectors::MeterRiskState risk;
};

// One meter's detectors with the default meter config, fed `days` of a daily load curve, then measured.
void print_breakdown(const config::Config& cfg, double days) {
  std::vector<detectors::ZScoreDetector> z;
  for (const auto& f : cfg.meter.zscore) z.emplace_back(f.params);
  detectors::IqrDetector iqr(cfg.meter.iqr);
  detectors::SpikeDetector spike(cfg.meter.spike);
  const int64_t t0 = 1704067200000;
  const auto n = static_cast<int>(days * 96);
  for (int i = 0; i < n; ++i) {
    const int64_t t = t0 + int64_t{i} * 900'000;
    const double p = 400 + 300 * std::sin(i * 6.2831853 / 96) + 37 * ((i * 7919) % 13);
    const double v = 230 + 0.1 * ((i * 31) % 17);
    z[0].learn({t, p});
    z[1].learn({t, v});
    iqr.learn({t, p});
    spike.learn({t, p});
  }
  std::printf("per-meter detector state, default meter config, after %.1f days of 15-minute readings:\n",
              days);
  std::printf("  %-44s %7s %7s %9s\n", "part", "object", "heap", "saved");
  size_t total_obj = 0, total_heap = 0, total_saved = 0;
  const auto row = [&](const char* name, size_t obj, size_t heap, size_t saved) {
    std::printf("  %-44s %7zu %7zu %9zu\n", name, obj, heap, saved);
    total_obj += obj;
    total_heap += heap;
    total_saved += saved;
  };
  for (size_t i = 0; i < z.size(); ++i) {
    const std::string name = "z-score " + cfg.meter.zscore[i].feature + " (RollingWindow)";
    row(name.c_str(), sizeof(Guarded<detectors::ZScoreDetector>),
        z[i].window().memory_bytes() - sizeof(features::RollingWindow), z[i].save().size());
  }
  row("IQR (window + config)", sizeof(OptionalGuarded<detectors::IqrDetector>),
      iqr.memory_bytes() - sizeof(detectors::IqrDetector), iqr.save().size());
  row("spike (window + candidate + config)", sizeof(OptionalGuarded<detectors::SpikeDetector>),
      spike.memory_bytes() - sizeof(detectors::SpikeDetector), spike.save().size());
  row("MeterRuleState", sizeof(detectors::MeterRuleState), 0, 0);
  row("MeterRiskState", sizeof(detectors::MeterRiskState), 0, 0);
  std::printf("  sizeof(EntityState equivalent) = %zu (z-score vector elements on the heap: %zu)\n",
              sizeof(EntityStateEquivalent), z.size() * sizeof(Guarded<detectors::ZScoreDetector>));
  std::printf("  detector parts above: object %zu + heap %zu bytes; saved detector bytes %zu\n", total_obj,
              total_heap, total_saved);
}

int run_table_only(const Args& a) {
  struct Tiny {
    uint8_t x = 0;
  };
  const double before = rss_bytes();
  pipeline::EntityTable<Tiny> table(a.meters + 1);
  char id[32];
  for (uint32_t i = 0; i < a.meters; ++i) {
    std::snprintf(id, sizeof id, "MTR-%0*u", a.meters >= 1'000'000 ? 7 : 6, i + 1);
    table.find_or_insert(id, [] { return Tiny{}; });
  }
  const double per = (rss_bytes() - before) / a.meters;
  std::printf(
      "entity table alone (id string, hash node + bucket, index vectors, 1-byte state): %.0f bytes per "
      "meter at %u meters\n",
      per, a.meters);
  return 0;
}

int run(const Args& a) {
  config::Config cfg = config::parse_config("", "(defaults)");
  print_breakdown(cfg, a.days);

  sim::SimulatorConfig sc;
  sc.num_meters = a.meters;
  sc.max_ticks = static_cast<uint64_t>(a.days * 86400 / sc.interval_s);
  sc.anomalies_per_meter_day = 0.02;
  sim::FleetSimulator fleet(sc);

  std::vector<std::string> input_topics;
  for (const auto& t : cfg.topics.inputs) input_topics.push_back(t.name);
  const std::string topic = cfg.topics.inputs.front().name;
  sinks::Metrics metrics(input_topics, pipeline::Processor::detector_names());
  auto proc = std::make_unique<pipeline::Processor>(cfg, metrics);
  struct NullEmitter : pipeline::Emitter {
    void alert(const v1::Alert& a) override {
      ++alerts;
      ++by_detector[a.detector() + "/" + a.anomaly_type()];
    }
    std::map<std::string, uint64_t> by_detector;
    void dead_letter(const v1::DeadLetter&, std::string_view) override { ++dead; }
    void risk(const v1::MeterRisk&) override {}
    uint64_t alerts = 0, dead = 0;
  } out;

  const double rss_before = rss_bytes();
  const double cpu_before = cpu_seconds();
  const int64_t now = wall_now_ms();
  std::string value;
  kafka::Record rec;
  rec.topic = topic;
  uint64_t readings = 0;
  std::vector<int64_t> offsets(8, 0);
  while (fleet.next_tick_streamed(1000, [&](v1::MeterReadingBatch& batch) {
    for (const auto& r : batch.readings()) {
      r.SerializeToString(&value);
      rec.partition = static_cast<int32_t>(std::hash<std::string_view>{}(r.meter_id()) % 8);
      rec.offset = offsets[static_cast<size_t>(rec.partition)]++;
      rec.key = r.meter_id();
      rec.value = value;
      rec.timestamp_ms = now;
      proc->process(rec, now, out);
      ++readings;
    }
  })) {
  }
  const double cpu = cpu_seconds() - cpu_before;
  const double rss_after = rss_bytes();
  const size_t meters = proc->entities(config::InputKind::kMeter);

  uint64_t keys = 0, values = 0, records = 0;
  std::vector<uint64_t> homes;
  for (int32_t p = 0; p < 8; ++p) homes.push_back(pipeline::Processor::home_of(0, p));
  proc->checkpoint(homes, true, [&](uint64_t, std::string_view k, const std::string_view* v) {
    keys += k.size();
    values += v ? v->size() : 0;
    ++records;
  });

  std::printf(
      "\nProcessor, default config: %zu meters x %.1f days (%lu readings, %lu alerts, %lu dead letters), "
      "%.0f readings per CPU-second\n",
      meters, a.days, static_cast<unsigned long>(readings), static_cast<unsigned long>(out.alerts),
      static_cast<unsigned long>(out.dead), static_cast<double>(readings) / cpu);
  std::printf("alerts by detector/type:");
  for (const auto& [k, n] : out.by_detector) std::printf(" %s %lu", k.c_str(), static_cast<unsigned long>(n));
  std::printf("\n");
  std::printf("resident bytes per meter   %8.0f  (VmRSS %.0f MB -> %.0f MB)\n",
              (rss_after - rss_before) / static_cast<double>(meters), rss_before / 1e6, rss_after / 1e6);
  std::printf("serialized bytes per meter %8.0f  value (+ %.0f key), %lu changelog records\n",
              static_cast<double>(values) / static_cast<double>(records),
              static_cast<double>(keys) / static_cast<double>(records), static_cast<unsigned long>(records));
  return 0;
}

}  // namespace
}  // namespace gridsentinel

int main(int argc, char** argv) {
  const auto a = gridsentinel::parse(argc, argv);
  return a.table_only ? gridsentinel::run_table_only(a) : gridsentinel::run(a);
}
