#include "backtest/ScenarioRunner.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <system_error>
#include <vector>

#include "kafka/KafkaClients.h"
#include "pipeline/Emitter.h"
#include "pipeline/Processor.h"
#include "sim/FleetSimulator.h"
#include "sinks/Metrics.h"

namespace gridsentinel::backtest {

namespace {

constexpr int64_t kMsPerDay = 86'400'000;
constexpr size_t kTraceContext = 96;  // readings kept before an episode's start, and after its end

// Collects the processor's outputs in memory.
class CollectingEmitter final : public pipeline::Emitter {
 public:
  std::vector<ScenarioAlert> meter_alerts;
  size_t fleet_alerts = 0, dead_letters = 0;

  void alert(const v1::Alert& a) override {
    if (a.entity_kind() != v1::ENTITY_KIND_METER) {
      ++fleet_alerts;
      return;
    }
    meter_alerts.push_back(ScenarioAlert{a.entity_id(), a.detector(), a.anomaly_type(), a.feature(),
                                         a.event_time_ms(), a.detection_time_ms()});
  }
  void dead_letter(const v1::DeadLetter&, std::string_view) override { ++dead_letters; }
  void risk(const v1::MeterRisk&) override {}
};

struct TracePoint {
  int64_t t;
  double voltage_v, current_a, active_power_w, energy_kwh;
};

// One meter's readings around the first episode of one type.
struct Trace {
  uint32_t meter = 0;
  size_t episode = 0;
  int64_t until_ms = 0;  // capture readings up to this event time
  std::vector<TracePoint> points;
};

std::string fmt(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

bool write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream f(p);
  f << text;
  return static_cast<bool>(f);
}

}  // namespace

NabResult<ScenarioSummary> run_scenarios(const ScenarioOptions& o, const config::Config& cfg,
                                         const std::function<void(const std::string&)>& progress) {
  using R = NabResult<ScenarioSummary>;
  if (o.meters == 0 || o.days == 0) return R::failure("--meters and --days must be > 0");
  if (o.warmup_days >= o.days) return R::failure("--days must exceed the warm-up of the detectors (4 days)");
  if (o.partitions == 0) return R::failure("partitions must be > 0");
  const config::InputTopic* topic = nullptr;
  for (const auto& t : cfg.topics.inputs) {
    if (!topic && t.kind == config::InputKind::kMeter && t.format == config::PayloadFormat::kProtobuf &&
        t.message == config::MessageType::kMeterReading)
      topic = &t;
  }
  if (!topic) return R::failure("the config has no meter input topic with protobuf MeterReading records");

  sim::SimulatorConfig sc;
  sc.seed = o.seed;
  sc.num_meters = o.meters;
  sc.interval_s = o.interval_s;
  sc.max_ticks = uint64_t{o.days} * 86400 / o.interval_s;
  sc.anomalies_per_meter_day = o.anomalies_per_meter_day;
  sc.warmup_ms = int64_t{o.warmup_days} * kMsPerDay;
  std::optional<sim::FleetSimulator> fleet;
  try {
    fleet.emplace(sc);
  } catch (const std::exception& e) {
    return R::failure(e.what());
  }
  if (!o.out_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(o.out_dir / "traces", ec);
    if (ec) return R::failure(o.out_dir.string() + ": " + ec.message());
  }

  std::vector<std::string> topics;
  for (const auto& t : cfg.topics.inputs) topics.push_back(t.name);
  sinks::Metrics metrics(topics, pipeline::Processor::detector_names(), pipeline::Processor::alert_kinds());
  pipeline::Processor processor(cfg, metrics);
  CollectingEmitter out;

  // Per-meter ring of the last kTraceContext readings, for the traces' context before an episode.
  const bool tracing = !o.out_dir.empty();
  std::vector<TracePoint> ring(tracing ? size_t{o.meters} * kTraceContext : 0);
  std::vector<uint32_t> ring_len(tracing ? o.meters : 0);
  std::vector<int> traced_by_meter(tracing ? o.meters : 0, -1);
  std::array<int, sim::kMeterAnomalyTypeCount> trace_of_type;
  trace_of_type.fill(-1);
  std::vector<Trace> traces;
  size_t seen_truth = 0;

  std::vector<int64_t> offsets(o.partitions, 0);
  std::vector<v1::MeterReading> tick;
  std::string value;
  ScenarioSummary summary;
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t ticks = 0;
  while (fleet->next_tick(tick)) {
    const int64_t now_ms = fleet->now_ms();
    if (tracing) {
      const auto& truth = fleet->ground_truth();
      for (; seen_truth < truth.size(); ++seen_truth) {
        const auto& a = truth[seen_truth];
        const auto type = static_cast<size_t>(a.type);
        const auto meter = sim::FleetSimulator::parse_meter_index(a.meter_id);
        if (trace_of_type[type] >= 0 || !meter || traced_by_meter[*meter] >= 0) continue;
        Trace tr;
        tr.meter = *meter;
        tr.episode = seen_truth;
        tr.until_ms = a.end_event_time_ms + static_cast<int64_t>(kTraceContext) * fleet->interval_ms();
        const uint32_t n = ring_len[*meter];
        for (uint32_t k = 0; k < n; ++k) {
          const uint64_t slot = (ticks + kTraceContext - n + k) % kTraceContext;  // oldest first
          tr.points.push_back(ring[size_t{*meter} * kTraceContext + slot]);
        }
        trace_of_type[type] = static_cast<int>(traces.size());
        traced_by_meter[*meter] = static_cast<int>(traces.size());
        traces.push_back(std::move(tr));
      }
    }
    for (const auto& r : tick) {
      const auto meter = sim::FleetSimulator::parse_meter_index(r.meter_id()).value_or(0);
      if (tracing) {
        const TracePoint p{r.event_time_ms(), r.voltage_v(), r.current_a(), r.active_power_w(),
                           r.energy_kwh()};
        ring[size_t{meter} * kTraceContext + ticks % kTraceContext] = p;
        ring_len[meter] = std::min<uint32_t>(ring_len[meter] + 1, kTraceContext);
        if (const int ti = traced_by_meter[meter]; ti >= 0 && p.t <= traces[static_cast<size_t>(ti)].until_ms)
          traces[static_cast<size_t>(ti)].points.push_back(p);
      }
      r.SerializeToString(&value);
      kafka::Record rec;
      rec.topic = topic->name;
      rec.partition = static_cast<int32_t>(meter % o.partitions);
      rec.offset = offsets[static_cast<size_t>(rec.partition)]++;
      rec.key = r.meter_id();
      rec.value = value;
      rec.timestamp_ms = r.event_time_ms();
      processor.process(rec, now_ms, out);
      ++summary.readings;
    }
    if (tracing) {
      // A meter that was silent this tick: its ring slot is stale; mark it with a NaN reading time gap.
      for (uint32_t m = 0; m < o.meters; ++m) {
        TracePoint& p = ring[size_t{m} * kTraceContext + ticks % kTraceContext];
        if (p.t != now_ms) {
          p = TracePoint{now_ms, std::nan(""), std::nan(""), std::nan(""), std::nan("")};
          ring_len[m] = std::min<uint32_t>(ring_len[m] + 1, kTraceContext);
        }
      }
    }
    ++ticks;
    if (progress && ticks % (96 * 7) == 0)
      progress("scenarios: day " + std::to_string(ticks / 96) + ", " +
               std::to_string(out.meter_alerts.size()) + " alerts");
  }
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  const auto& truth = fleet->ground_truth();
  summary.score =
      score_scenario(truth, out.meter_alerts,
                     {.interval_ms = fleet->interval_ms(), .tolerance_readings = o.tolerance_readings});
  summary.alerts = out.meter_alerts.size();
  summary.injected = truth.size();

  std::string& rep = summary.report;
  rep += "scenarios: " + std::to_string(o.meters) + " meters x " + std::to_string(o.days) + " days (seed " +
         std::to_string(o.seed) + ", " + fmt(o.anomalies_per_meter_day, 3) +
         " anomalies per meter-day after " + std::to_string(o.warmup_days) + " days), " +
         std::to_string(summary.readings) + " readings, " + std::to_string(summary.injected) +
         " injected episodes, " + std::to_string(summary.alerts) + " meter alerts, " +
         std::to_string(out.fleet_alerts) + " fleet alerts (not scored), " +
         std::to_string(out.dead_letters) + " dead letters, " + fmt(summary.seconds, 1) + " s\n";
  rep += "matching: an alert of the episode's own class on its meter, detection time in [start, end + " +
         std::to_string(o.tolerance_readings) + " readings]; delay in readings from the episode's first\n\n";
  rep += format_scenario_table(summary.score);
  for (size_t k = 0; k < sim::kMeterAnomalyTypeCount; ++k) {
    const TypeScore& t = summary.score.by_type[k];
    if (t.episodes == 0) continue;
    rep += "scenario " + std::string(sim::to_string(static_cast<sim::MeterAnomalyType>(k))) + " episodes " +
           std::to_string(t.episodes) + " recall " + fmt(t.recall(), 4) + " precision " +
           fmt(t.precision(), 4) + " delay_median " +
           (t.delays.empty() ? std::string("-") : fmt(t.median_delay(), 1)) + " delay_max " +
           (t.delays.empty() ? std::string("-") : std::to_string(t.max_delay())) + "\n";
  }

  if (!o.out_dir.empty()) {
    const auto& s = summary.score;
    bool ok = write_file(o.out_dir / "scenario_summary.csv", format_scenario_csv(s));
    {
      std::ofstream f(o.out_dir / "scenario_ground_truth.csv");
      fleet->write_ground_truth_csv(f);
      ok = ok && static_cast<bool>(f);
    }
    {
      std::ofstream f(o.out_dir / "scenario_meters.csv");
      fleet->write_meters_csv(f);
      ok = ok && static_cast<bool>(f);
    }
    std::string ep =
        "anomaly_type,meter_id,start_event_time_ms,end_event_time_ms,readings,detected,delay_readings,"
        "detector,alert_type\n";
    for (size_t e = 0; e < truth.size(); ++e) {
      const auto& a = truth[e];
      const auto& eo = s.episodes[e];
      ep += std::string(sim::to_string(a.type)) + ',' + a.meter_id + ',' +
            std::to_string(a.start_event_time_ms) + ',' + std::to_string(a.end_event_time_ms) + ',' +
            std::to_string(a.readings) + ',' + (eo.detected ? "1" : "0") + ',' +
            (eo.detected ? std::to_string(eo.delay_readings) : "") + ',';
      if (eo.first_alert >= 0) {
        const auto& al = out.meter_alerts[static_cast<size_t>(eo.first_alert)];
        ep += al.detector + ',' + al.anomaly_type;
      } else {
        ep += ',';
      }
      ep += '\n';
    }
    ok = ok && write_file(o.out_dir / "scenario_episodes.csv", ep);
    std::string al =
        "meter_id,detector,anomaly_type,feature,event_time_ms,detection_time_ms,class,outcome,episode\n";
    for (size_t i = 0; i < out.meter_alerts.size(); ++i) {
      const auto& a = out.meter_alerts[i];
      const auto cls = alert_class(a.detector, a.anomaly_type, a.feature);
      al += a.meter_id + ',' + a.detector + ',' + a.anomaly_type + ',' + a.feature + ',' +
            std::to_string(a.event_time_ms) + ',' + std::to_string(a.detection_time_ms) + ',' +
            (cls ? std::string(sim::to_string(*cls)) : std::string("generic")) + ',' +
            std::string(to_string(s.alerts[i])) + ',' + std::to_string(s.alert_episode[i]) + '\n';
    }
    ok = ok && write_file(o.out_dir / "scenario_alerts.csv", al);
    for (size_t k = 0; k < sim::kMeterAnomalyTypeCount; ++k) {
      if (trace_of_type[k] < 0) continue;
      const Trace& tr = traces[static_cast<size_t>(trace_of_type[k])];
      const auto& a = truth[tr.episode];
      std::string csv = "timestamp_ms,voltage_v,current_a,active_power_w,energy_kwh,in_episode,alert\n";
      for (const auto& p : tr.points) {
        int alerted = 0;
        for (const auto& x : out.meter_alerts)
          if (x.meter_id == a.meter_id && x.detection_time_ms == p.t) alerted = 1;
        const bool in = p.t >= a.start_event_time_ms && p.t <= a.end_event_time_ms;
        auto num = [](double v, int d) { return std::isnan(v) ? std::string() : fmt(v, d); };
        csv += std::to_string(p.t) + ',' + num(p.voltage_v, 1) + ',' + num(p.current_a, 3) + ',' +
               num(p.active_power_w, 1) + ',' + num(p.energy_kwh, 3) + ',' + (in ? "1" : "0") + ',' +
               std::to_string(alerted) + '\n';
      }
      ok = ok && write_file(o.out_dir / "traces" / (std::string(sim::to_string(a.type)) + ".csv"), csv);
    }
    if (!ok) return R::failure(o.out_dir.string() + ": could not write the scenario files");
  }
  return summary;
}

}  // namespace gridsentinel::backtest
