#pragma once
// The only place gridsentinel touches librdkafka. Each handle is owned by one RAII object; no librdkafka type
// appears in this header, so the rest of the code base neither includes nor links against its API directly.
//
// Threads: every callback (rebalance, stats, delivery reports) runs on the thread that calls `poll` of the
// object it belongs to; gridsentinel calls both from its single processing thread, so listeners need no
// locking. Errors: constructors throw KafkaError (start-up: bad properties, unreachable config); `poll`,
// `produce`, `store` never throw and report through return values and listeners.
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gridsentinel::kafka {

using Properties = std::map<std::string, std::string>;

class KafkaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = -1001;  // librdkafka's "invalid/unset" offset
};

struct Header {
  std::string_view name;
  std::string_view value;
};

// A consumed record. The views stay valid until the next `Consumer::poll`.
struct Record {
  std::string_view topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string_view key;
  std::string_view value;
  int64_t timestamp_ms = -1;  // the Kafka record timestamp, -1 when absent
};

class Consumer {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    // Eager rebalancing: `assigned` is the new full assignment; `revoked` the whole previous one. Called from
    // poll. The listener may set a partition's `offset` in on_assigned to start there instead of at the
    // group's committed offset (state restored from a changelog knows its own position).
    virtual void on_assigned(std::vector<TopicPartition>& partitions) = 0;
    virtual void on_revoked(const std::vector<TopicPartition>& partitions) = 0;
    virtual void on_stats(std::string_view /*json*/) {}
    virtual void on_error(std::string_view /*what*/, bool /*fatal*/) {}
  };

  // Subscribes `topics` in group `group.id` (from props). Auto-commit of *stored* offsets only:
  // enable.auto.offset.store=false is forced, so an offset is committed only after the caller stores it.
  Consumer(const Properties& props, const std::vector<std::string>& topics, Listener* listener);
  ~Consumer();
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Appends up to `max` records to `out` (cleared first), waiting at most `timeout_ms` for the first one.
  // Records are of the assignment after the last rebalance callback run by this poll (those collected before
  // one are dropped, to be read again by the partition's owner).
  size_t poll(std::vector<Record>& out, size_t max, int timeout_ms);
  // Stores offsets (each = the next offset to consume) for the next commit. Returns false on error.
  bool store(const std::vector<TopicPartition>& offsets);
  // Commits stored offsets now; blocks. Returns false (with `error`) on failure.
  bool commit_sync(std::string* error = nullptr);
  bool pause(const std::vector<TopicPartition>& partitions);
  bool resume(const std::vector<TopicPartition>& partitions);
  // Leaves the group cleanly (final rebalance callbacks run). Idempotent; the destructor calls it.
  void close();
  // The client's fatal error (e.g. fenced as a static member), empty while there is none. A client with a
  // fatal error never recovers: it must be destroyed and created anew.
  std::string fatal_error() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A message the producer could not deliver, handed back so the caller can retry it. Owns its bytes.
struct UndeliveredMessage {
  std::string topic, key, value;
  std::vector<std::pair<std::string, std::string>> headers;
};

class Producer {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    // `token` is the caller's value passed to produce(). `failed` is null on success.
    virtual void on_delivery(uint64_t token, const UndeliveredMessage* failed, std::string_view error) = 0;
  };
  enum class Status { kOk, kQueueFull, kFailed };

  // Idempotent producer (enable.idempotence=true unless the caller overrides it explicitly).
  Producer(const Properties& props, Listener* listener);
  ~Producer();  // flushes for up to 10 s, then destroys
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Enqueues a copy of the message. Never blocks; kQueueFull asks the caller to poll and retry.
  Status produce(const std::string& topic, std::string_view key, std::string_view value, uint64_t token,
                 std::span<const Header> headers = {}, std::string* error = nullptr);
  // As produce(), to an explicit partition (co-partitioned changelogs); a null `value` is a tombstone.
  Status produce_to(const std::string& topic, int32_t partition, std::string_view key,
                    const std::string_view* value, uint64_t token, std::string* error = nullptr);
  // Serves delivery reports. Returns how many were served.
  int poll(int timeout_ms);
  // Waits for every queued message to be delivered or fail. Returns false on timeout.
  bool flush(int timeout_ms);
  int outstanding() const;
  // The client's fatal error, empty while there is none: the idempotent producer raises one when it can no
  // longer guarantee order and no duplicates (a sequence desynchronization with the broker, an unknown
  // producer id after retries). Queued messages then fail and every produce() fails: the producer never
  // recovers and must be destroyed and created anew.
  std::string fatal_error() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// librdkafka's in-process mock cluster: a real Kafka-protocol server on loopback (random ports) that other
// processes can use through its bootstrap address. No AdminClient: topics are created here. Keeps only ~5 MB
// per partition; no compaction; transactions accepted but not honoured (see README).
class MockCluster {
 public:
  explicit MockCluster(int brokers = 1);
  ~MockCluster();
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  std::string bootstrap_servers() const;
  void create_topic(const std::string& name, int partitions);
  void set_broker_down(int32_t broker_id);
  void set_broker_up(int32_t broker_id);
  void set_broker_rtt(int32_t broker_id, int rtt_ms);
  // Fault injection: the next errors.size() requests with Kafka API key `api_key` (0 Produce, 1 Fetch,
  // 8 OffsetCommit, 9 OffsetFetch, 10 FindCoordinator, 12 Heartbeat, ...) fail with these Kafka error codes
  // (e.g. 6 NOT_LEADER_OR_FOLLOWER, 7 REQUEST_TIMED_OUT, 15 COORDINATOR_NOT_AVAILABLE), one per request, on
  // any broker. 0 in the list lets one request through.
  void push_request_errors(int16_t api_key, const std::vector<int>& errors);
  // As push_request_errors, on broker `broker_id` only, each answer delayed: the next requests with
  // `api_key` to that broker get error_rtt[i].first (0: success) after error_rtt[i].second milliseconds
  // (13 LeaveGroup with {0, 30'000}: a consumer's close waits 30 s for the broker).
  void push_request_error_rtts(int32_t broker_id, int16_t api_key,
                               const std::vector<std::pair<int, int>>& error_rtt);
  // Drops the errors still queued for `api_key`.
  void clear_request_errors(int16_t api_key);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// "key=value, ..." of `props` with secret values replaced by "[redacted]": safe to log.
std::string redacted(const Properties& props);

}  // namespace gridsentinel::kafka
