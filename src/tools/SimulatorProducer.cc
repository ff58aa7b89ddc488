#include "tools/SimulatorProducer.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "kafka/KafkaClients.h"
#include "sim/FleetSimulator.h"

namespace gridsentinel::tools {

namespace {

class CountingListener : public kafka::Producer::Listener {
 public:
  void on_delivery(uint64_t, const kafka::UndeliveredMessage* failed, std::string_view error) override {
    if (failed) {
      ++failed_;
      if (failed_ % 1000 == 1) spdlog::warn("simulator: delivery failed: {}", error);
    }
  }
  uint64_t failed_ = 0;
};

void produce_blocking(kafka::Producer& p, const std::string& topic, std::string_view key,
                      std::string_view value, const std::atomic<bool>& stop) {
  while (p.produce(topic, key, value, 0) == kafka::Producer::Status::kQueueFull && !stop.load()) p.poll(20);
}

}  // namespace

SimulatorProducerResult run_simulator_producer(const SimulatorProducerOptions& opts,
                                               const std::atomic<bool>& stop) {
  CountingListener listener;
  kafka::Producer producer({{"bootstrap.servers", opts.bootstrap_servers},
                            {"linger.ms", std::to_string(opts.linger_ms)},
                            {"batch.num.messages", "10000"},
                            {"queue.buffering.max.messages", "1000000"},
                            {"client.id", "gridsentinel-simulator"}},
                           &listener);
  sim::FleetSimulator fleet(opts.sim);
  SimulatorProducerResult res;
  std::vector<v1::MeterReading> readings;
  std::vector<v1::MeterReadingBatch> batches;
  std::string buf;
  const auto wall_start = std::chrono::steady_clock::now();
  size_t gt_written = 0;
  // With pacing, record j of n in tick t is due at (t + j / n) ticks of wall time after the start.
  const auto pace = [&](size_t j, size_t n) {
    if (opts.speedup <= 0 || n == 0 || j % 16 != 0) return;
    const double sim_s = (static_cast<double>(res.ticks) + static_cast<double>(j) / static_cast<double>(n)) *
                         opts.sim.interval_s;
    const auto due = wall_start + std::chrono::duration<double>(sim_s / opts.speedup);
    while (std::chrono::steady_clock::now() < due && !stop.load()) {
      producer.poll(0);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  };
  const auto send = [&](const v1::MeterReading& r) {
    r.SerializeToString(&buf);
    produce_blocking(producer, opts.topic, r.meter_id(), buf, stop);
    ++res.readings;
    ++res.records;
  };
  while (!stop.load()) {
    bool more;
    if (opts.batch_size > 1) {
      more = fleet.next_tick_batches(batches, opts.batch_size);
      for (size_t j = 0; j < batches.size(); ++j) {
        const auto& b = batches[j];
        pace(j, batches.size());
        b.SerializeToString(&buf);
        produce_blocking(producer, opts.topic, b.readings_size() ? b.readings(0).meter_id() : "", buf, stop);
        res.readings += static_cast<uint64_t>(b.readings_size());
        ++res.records;
      }
    } else if (opts.speedup > 0) {
      // Paced: each reading is produced as it is generated. Generating a whole tick first would hold back,
      // then burst, a tick's worth of readings (~17 ms of generating at 100k meters), which a latency run
      // measures. The tick's readings are paced as if every meter reported (silent meters are few).
      size_t j = 0;
      const size_t n = fleet.num_meters();
      more = fleet.next_tick_each([&](const v1::MeterReading& r) {
        pace(j++, n);
        send(r);
      });
    } else {
      // Unpaced (pre-producing a topic): the tick is generated, then produced in one run, so that the
      // producer fills large batches; the benches' pre-produced topics keep the layout their figures were
      // measured on.
      more = fleet.next_tick(readings);
      for (const auto& r : readings) send(r);
    }
    if (!more) break;
    ++res.ticks;
    producer.poll(0);
    if (!opts.ground_truth_live.empty() && fleet.ground_truth().size() > gt_written) {
      std::ofstream live(opts.ground_truth_live, std::ios::app);
      for (; gt_written < fleet.ground_truth().size(); ++gt_written) {
        const auto& a = fleet.ground_truth()[gt_written];
        live << sim::to_string(a.type) << ",meter," << a.meter_id << "," << a.start_event_time_ms << ","
             << a.end_event_time_ms << "\n";
      }
    }
    if (opts.speedup > 0) {
      const double sim_s = static_cast<double>(res.ticks) * opts.sim.interval_s;
      const auto due = wall_start + std::chrono::duration<double>(sim_s / opts.speedup);
      while (std::chrono::steady_clock::now() < due && !stop.load()) {
        producer.poll(0);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  }
  producer.flush(30'000);
  res.anomalies = fleet.ground_truth().size();
  if (!opts.ground_truth_csv.empty()) {
    std::ofstream out(opts.ground_truth_csv);
    fleet.write_ground_truth_csv(out);
  }
  if (listener.failed_) spdlog::warn("simulator: {} readings could not be delivered", listener.failed_);
  return res;
}

}  // namespace gridsentinel::tools
