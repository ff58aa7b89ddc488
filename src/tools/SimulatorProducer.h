#pragma once
// SimulatorProducer: drives the FleetSimulator into a Kafka topic, as a meter head-end would.
// Each reading is one record (MeterReading, key = meter id) or, with `batch_size` > 1, MeterReadingBatch
// records. Paced by `speedup` (simulated seconds per wall second; 0 = as fast as the broker takes them): a
// tick's readings are spread evenly over its wall-clock share, as a fleet's meters report spread over the
// interval, not all at its start (which is what a latency measurement at a steady load needs).
#include <atomic>
#include <cstdint>
#include <string>

#include "sim/SimulatorConfig.h"

namespace gridsentinel::tools {

struct SimulatorProducerOptions {
  std::string bootstrap_servers;
  std::string topic = "meter-readings";
  sim::SimulatorConfig sim;
  double speedup = 0;             // simulated seconds per wall second; 0 = no pacing
  uint32_t batch_size = 1;        // readings per Kafka record (> 1: MeterReadingBatch)
  int linger_ms = 20;             // the producer's linger.ms (batching delay; part of end-to-end latency)
  std::string ground_truth_csv;   // write the injected anomalies here at the end ("" = don't)
  std::string ground_truth_live;  // append ground truth as it becomes known, for a live demo ("" = don't)
};

struct SimulatorProducerResult {
  uint64_t readings = 0;
  uint64_t records = 0;
  uint64_t ticks = 0;
  size_t anomalies = 0;
};

// Runs until the simulator is done or `stop` is set. Throws kafka::KafkaError at start-up.
SimulatorProducerResult run_simulator_producer(const SimulatorProducerOptions& opts,
                                               const std::atomic<bool>& stop);

}  // namespace gridsentinel::tools
