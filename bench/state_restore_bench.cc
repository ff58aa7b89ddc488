// State checkpoint and restore cost, without Kafka: M meters (default 20,000) x T readings (default 8)
// through a Processor, every entity checkpointed (Processor::checkpoint), then restored into a fresh
// Processor (Processor::restore), as KafkaRunner does on assignment. Prints bytes per meter and microseconds
// per entity.
//
//   build/bench/state_restore_bench [--meters M] [--ticks T]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "config/Config.h"
#include "kafka/KafkaClients.h"
#include "pipeline/Emitter.h"
#include "pipeline/Processor.h"
#include "sim/FleetSimulator.h"
#include "sinks/Metrics.h"

namespace gs = gridsentinel;

namespace {
struct NullEmitter : gs::pipeline::Emitter {
  void alert(const gs::v1::Alert&) override {}
  void dead_letter(const gs::v1::DeadLetter&, std::string_view) override {}
  void risk(const gs::v1::MeterRisk&) override {}
};
double seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

int main(int argc, char** argv) {
  uint32_t meters = 20'000, ticks = 8;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--meters")) meters = static_cast<uint32_t>(std::atoi(argv[i + 1]));
    if (!std::strcmp(argv[i], "--ticks")) ticks = static_cast<uint32_t>(std::atoi(argv[i + 1]));
  }
  gs::config::Config cfg = gs::config::parse_config(R"(
topics:
  inputs: [{name: meter-readings, kind: meter, format: protobuf, message: MeterReading}]
)");
  gs::sinks::Metrics metrics({"meter-readings"}, gs::pipeline::Processor::detector_names());
  gs::pipeline::Processor source(cfg, metrics);
  NullEmitter out;
  gs::sim::SimulatorConfig sc;
  sc.num_meters = meters;
  sc.max_ticks = ticks;
  gs::sim::FleetSimulator fleet(sc);
  std::vector<gs::v1::MeterReading> tick;
  std::string value;
  int64_t offset = 0;
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  while (fleet.next_tick(tick)) {
    for (const auto& r : tick) {
      r.SerializeToString(&value);
      gs::kafka::Record rec;
      rec.topic = "meter-readings";
      rec.offset = offset++;
      rec.key = r.meter_id();
      rec.value = value;
      source.process(rec, now, out);
    }
  }
  const uint64_t home = gs::pipeline::Processor::home_of(0, 0);
  std::vector<std::pair<std::string, std::string>> saved;
  auto t0 = std::chrono::steady_clock::now();
  source.checkpoint({&home, 1}, true, [&](uint64_t, std::string_view k, const std::string_view* v) {
    if (v) saved.emplace_back(k, *v);  // (a tombstone: nothing to restore)
  });
  const double save_s = seconds(t0);
  size_t bytes = 0;
  for (const auto& [k, v] : saved) bytes += k.size() + v.size();

  gs::pipeline::Processor target(cfg, metrics);
  size_t ok = 0;
  t0 = std::chrono::steady_clock::now();
  for (const auto& [k, v] : saved) ok += target.restore(home, k, v) ? 1 : 0;
  const double restore_s = seconds(t0);
  std::printf(
      "meters=%u ticks=%u entities=%zu restored=%zu bytes_per_meter=%.0f checkpoint_us_per_entity=%.1f "
      "restore_us_per_entity=%.1f\n",
      meters, ticks, saved.size(), ok, static_cast<double>(bytes) / static_cast<double>(saved.size()),
      save_s * 1e6 / static_cast<double>(saved.size()), restore_s * 1e6 / static_cast<double>(saved.size()));
  return ok == saved.size() ? 0 : 1;
}
