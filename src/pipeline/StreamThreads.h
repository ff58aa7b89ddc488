#pragma once
// StreamThreads: the process's `kafka.stream_threads` processing loops, as Kafka Streams runs
// num.stream.threads: each thread is a whole KafkaRunner, with its own consumer in the group (so the group
// balances partitions across threads as across instances), its own producers, changelog, entity state and
// fleet models. Nothing is shared between threads but the Metrics registry and the health state, so a
// thread's per-record path never takes a lock or touches another thread's memory, and every guarantee of
// one runner (offsets after acknowledgement, checkpoints, restore on assignment) holds per thread unchanged.
//
// Why threads of whole runners rather than a pool behind one consumer: the per-entity state is partitioned
// by input partition already (changelog co-partitioning, restore on assignment), so a partition is the
// natural unit of ownership; one consumer feeding workers would need a hand-off queue per record and a
// cross-thread offset tracker, and would still serialise on that consumer.
// Costs of a thread: one more group member (its join is part of every rebalance), its librdkafka clients'
// threads and prefetch buffers, and fleet models (isolation forest, drift) that each see only that thread's
// partitions, as separate instances do.
// Limits: `limits.max_entities` and `limits.max_inflight_records` are the process's; each thread gets an even
// share (rounded up), since its partitions hold about an even share of the fleet.
#include <atomic>
#include <string>
#include <vector>

#include "config/Config.h"
#include "sinks/Metrics.h"

namespace gridsentinel::pipeline {

// The configuration one of `threads` stream threads runs with: `cfg` with the limits divided among them.
config::Config stream_thread_config(const config::Config& cfg, uint32_t threads);

// Runs cfg.kafka.stream_threads KafkaRunners (one on the calling thread when it is 1) until `stop` becomes
// true or one of them fails; then stops the others. Returns 0 after a clean shutdown of every thread, else
// the exit code of the thread that began to stop on an error first (HealthState::failure_code), or else of
// the one that ended with a non-zero code first (the cause; the others stop cleanly, or fail in turn). A
// runner that fails to start (kafka::KafkaError, config::ConfigError) stops the others and its exception is
// rethrown here once all have stopped. `health->loops` is set here.
int run_stream_threads(const config::Config& cfg, const std::string& bootstrap_servers,
                       sinks::Metrics& metrics, sinks::HealthState* health, const std::atomic<bool>& stop);

}  // namespace gridsentinel::pipeline
