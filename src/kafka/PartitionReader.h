#pragma once
// PartitionReader: reads whole partitions from the beginning to their current end, outside any consumer
// group. Used to restore state from a changelog topic when partitions are assigned. Part of the kafka/
// folder, the only place that touches librdkafka; no librdkafka type appears here.
//
// Errors: the constructor throws KafkaError (start-up); the read methods never throw and report failure
// through their return value and `error`.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "kafka/KafkaClients.h"

namespace gridsentinel::kafka {

class PartitionReader {
 public:
  // `props`: client properties (bootstrap.servers, security); no group is joined and nothing is committed.
  explicit PartitionReader(const Properties& props);
  ~PartitionReader();
  PartitionReader(const PartitionReader&) = delete;
  PartitionReader& operator=(const PartitionReader&) = delete;

  // The topic's partition count, or -1 (with `error`) when its metadata cannot be had within timeout_ms.
  int partition_count(const std::string& topic, int timeout_ms, std::string* error);

  // Calls `fn(offset, key, value)` for every record of topic/partition from the low to the high watermark as
  // of the call, in offset order; `value` is null for a tombstone. Returns the number of records read, or -1
  // (with `error`) on failure or when the end is not reached within timeout_ms.
  using Visitor = std::function<void(int64_t offset, std::string_view key, const std::string_view* value)>;
  int64_t read_all(const std::string& topic, int32_t partition, int timeout_ms, const Visitor& fn,
                   std::string* error);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gridsentinel::kafka
