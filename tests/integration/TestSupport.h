#pragma once
// Helpers for tests against the real Kafka protocol (librdkafka's mock cluster) and real HTTP.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <librdkafka/rdkafkacpp.h>

#include "config/Config.h"
#include "gridsentinel/v1/alert.pb.h"
#include "kafka/KafkaClients.h"
#include "pipeline/Emitter.h"
#include "pipeline/KafkaRunner.h"
#include "pipeline/Processor.h"
#include "sim/FleetSimulator.h"
#include "sinks/Metrics.h"

extern char** environ;

namespace gridsentinel::testing {

// Plain HTTP/1.0 GET on 127.0.0.1; returns the body ("" on failure) and, when asked, the status code.
inline std::string http_get(int port, const std::string& path, int* status = nullptr) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd, req.data(), req.size(), 0) == static_cast<ssize_t>(req.size())) {
      char buf[65536];
      for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) response.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  if (status) *status = response.size() > 12 ? std::atoi(response.substr(9, 3).c_str()) : 0;
  const auto body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

// Runs a shell command, returning its exit status and combined output.
inline int run_command(const std::string& cmd, std::string* output) {
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) output->append(buf, n);
  return ::pclose(p);
}

struct OwnedRecord {
  std::string topic, key, value;
  int32_t partition;
  int64_t offset;
};

class NullListener : public kafka::Consumer::Listener {
 public:
  void on_assigned(std::vector<kafka::TopicPartition>&) override {}
  void on_revoked(const std::vector<kafka::TopicPartition>&) override {}
};

// Reads `topic` from the beginning with a fresh group until `done(records)` or the timeout.
inline std::vector<OwnedRecord> consume_until(
    const std::string& bootstrap, const std::string& topic,
    const std::function<bool(const std::vector<OwnedRecord>&)>& done, std::chrono::seconds timeout) {
  NullListener l;
  static int n = 0;
  kafka::Consumer c({{"bootstrap.servers", bootstrap},
                     {"group.id", "test-reader-" + std::to_string(::getpid()) + "-" + std::to_string(++n)},
                     {"auto.offset.reset", "earliest"},
                     {"enable.auto.commit", "false"}},
                    {topic}, &l);
  std::vector<OwnedRecord> out;
  std::vector<kafka::Record> batch;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline && !done(out)) {
    c.poll(batch, 1000, 100);
    for (const auto& r : batch)
      out.push_back({std::string(r.topic), std::string(r.key), std::string(r.value), r.partition, r.offset});
  }
  return out;
}

// For tests that inject Produce request errors (rd_kafka_mock_push_request_errors): one request in flight per
// connection. librdkafka 2.0.2's mock broker checks the sequence numbers of an idempotent producer only for a
// transactional one (rd_kafka_mock_validate_records returns early without a TransactionalId), so when request
// R1 gets the injected error and R2, sent behind it, does not, the mock appends R2 where a real broker would
// refuse it (OUT_OF_ORDER_SEQUENCE_NUMBER); librdkafka then takes R2's success as proof that R1 was persisted
// (rd_kafka_dr_implicit_ack) and reports R1's messages delivered, though they never reached the log. Measured
// with a plain librdkafka producer on the mock: 20,000 messages in 40 rounds of 2 injected
// NOT_ENOUGH_REPLICAS, all 20,000 reported delivered and 19,961 on the topic with 5 requests in flight;
// 20,000 with 1. A real broker has no such gap: this setting only keeps the mock from losing what the
// producer was told it had written.
inline const kafka::Properties kOneRequestInFlight = {{"max.in.flight.requests.per.connection", "1"}};

class CountingProducer : public kafka::Producer::Listener {
 public:
  // `extra`: more producer properties (e.g. kOneRequestInFlight).
  explicit CountingProducer(const std::string& bootstrap, const kafka::Properties& extra = {})
      : producer_(with(extra, {{"bootstrap.servers", bootstrap}, {"linger.ms", "5"}}), this) {}
  void on_delivery(uint64_t, const kafka::UndeliveredMessage* failed, std::string_view) override {
    failed ? ++failed_ : ++delivered_;
  }
  void send(const std::string& topic, std::string_view key, std::string_view value) {
    while (producer_.produce(topic, key, value, 0) == kafka::Producer::Status::kQueueFull) producer_.poll(10);
    ++sent_;
  }
  // To one partition, whatever the key.
  void send_to(const std::string& topic, int32_t partition, std::string_view key, std::string_view value) {
    while (producer_.produce_to(topic, partition, key, &value, 0) == kafka::Producer::Status::kQueueFull)
      producer_.poll(10);
    ++sent_;
  }
  bool flush() { return producer_.flush(30'000) && failed_ == 0 && delivered_ == sent_; }
  // Waits up to `timeout_ms` (e.g. through a broker outage); true once everything sent was delivered.
  bool flush(int timeout_ms) { return producer_.flush(timeout_ms) && failed_ == 0 && delivered_ == sent_; }
  void poll(int timeout_ms) { producer_.poll(timeout_ms); }
  uint64_t sent() const { return sent_; }
  uint64_t delivered() const { return delivered_; }

 private:
  static kafka::Properties with(kafka::Properties p, const kafka::Properties& base) {
    for (const auto& [k, v] : base) p.try_emplace(k, v);
    return p;
  }
  kafka::Producer producer_;
  uint64_t sent_ = 0, delivered_ = 0, failed_ = 0;
};

// ---------------------------------------------------------------------------------------------------------
// Fault, shutdown and security tests.

// An input record as a test produces it (production order = per-key order on the broker: idempotent
// producer).
struct InputRecord {
  std::string topic, key, value;
};

// `ticks` 15-minute ticks of `meters` simulated meters with random injected anomalies, as protobuf records
// keyed by meter id.
inline std::vector<InputRecord> simulated_readings(uint32_t meters, uint64_t ticks, double anomalies_per_day,
                                                   uint64_t seed,
                                                   const std::string& topic = "meter-readings") {
  sim::SimulatorConfig sc;
  sc.seed = seed;
  sc.num_meters = meters;
  sc.max_ticks = ticks;
  sc.anomalies_per_meter_day = anomalies_per_day;
  sim::FleetSimulator fleet(sc);
  std::vector<InputRecord> out;
  std::vector<v1::MeterReading> tick;
  while (fleet.next_tick(tick))
    for (const auto& r : tick) out.push_back({topic, r.meter_id(), r.SerializeAsString()});
  return out;
}

// Alerts that depend only on their entity's own readings (one partition, in order): identical on every run,
// replay and fault schedule. Fleet-level ones (isolation forest, K-S drift, missing readings) depend on how
// partitions interleave and are left out of exact comparisons.
inline bool per_entity_alert(const v1::Alert& a) {
  return a.detector() != "iforest" && a.detector() != "ks_drift" && a.anomaly_type() != "missing_readings";
}

// per_entity_alert() and missing readings. A missing-readings alert's id carries the silence's deadline,
// whether the fleet's progress or the meter's next reading revealed it, so the same silences are alerted with
// the same ids when the records of each partition are processed in order, whatever instance, restart or
// rebalance processed them (only its observed silence length, and a silence that outlasts the data, depend on
// how far the partitions had got). Not for an oracle that reorders records across partitions.
inline bool per_entity_or_silence_alert(const v1::Alert& a) {
  return per_entity_alert(a) || a.anomaly_type() == "missing_readings";
}

class CollectingEmitter : public pipeline::Emitter {
 public:
  void alert(const v1::Alert& a) override { alerts.push_back(a); }
  void dead_letter(const v1::DeadLetter& d, std::string_view) override { dead_letters.push_back(d); }
  void risk(const v1::MeterRisk&) override {}
  std::vector<v1::Alert> alerts;
  std::vector<v1::DeadLetter> dead_letters;
};

// The oracle: `records` through a Processor in memory (no Kafka, no faults). Returns the ids of the
// per-entity alerts; `dead_letters` (optional) receives the count of dead letters.
inline std::set<std::string> expected_alert_ids(const config::Config& cfg,
                                                const std::vector<InputRecord>& records,
                                                size_t* dead_letters = nullptr,
                                                std::map<std::string, v1::Alert>* by_id = nullptr,
                                                bool (*counted)(const v1::Alert&) = per_entity_alert) {
  std::vector<std::string> inputs;
  for (const auto& t : cfg.topics.inputs) inputs.push_back(t.name);
  sinks::Metrics metrics(inputs, pipeline::Processor::detector_names());
  pipeline::Processor processor(cfg, metrics);
  CollectingEmitter out;
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  int64_t offset = 0;
  for (const auto& r : records) {
    kafka::Record rec;
    rec.topic = r.topic;
    rec.partition = 0;
    rec.offset = offset++;
    rec.key = r.key;
    rec.value = r.value;
    processor.process(rec, now, out);
  }
  std::set<std::string> ids;
  for (const auto& a : out.alerts) {
    if (!counted(a)) continue;
    ids.insert(a.alert_id());
    if (by_id) by_id->emplace(a.alert_id(), a);
  }
  if (dead_letters) *dead_letters = out.dead_letters.size();
  return ids;
}

// Every record of `topic` from the beginning, parsed as alerts, read until `done(alerts)` or the timeout.
inline std::vector<v1::Alert> read_alerts(const std::string& bootstrap, const std::string& topic,
                                          const std::function<bool(const std::vector<v1::Alert>&)>& done,
                                          std::chrono::seconds timeout) {
  std::vector<v1::Alert> alerts;
  consume_until(
      bootstrap, topic,
      [&](const std::vector<OwnedRecord>& recs) {
        for (size_t i = alerts.size(); i < recs.size(); ++i) {
          v1::Alert a;
          a.ParseFromString(recs[i].value);
          alerts.push_back(a);
        }
        return done(alerts);
      },
      timeout);
  return alerts;
}

// Sum over `topics` x `partitions` of the group's committed offsets (= records committed, topics created
// empty). `per_partition` (optional) receives each partition's committed offset (-1 for none). Asks the group
// coordinator without joining the group (a member joining would make the group rebalance).
inline int64_t committed_total(const std::string& bootstrap, const std::string& group,
                               const std::vector<std::string>& topics, int partitions,
                               std::map<std::pair<std::string, int>, int64_t>* per_partition = nullptr) {
  std::string err;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  conf->set("bootstrap.servers", bootstrap, err);
  conf->set("group.id", group, err);
  conf->set("enable.auto.commit", "false", err);
  conf->set("log_level", "3", err);
  std::unique_ptr<RdKafka::KafkaConsumer> c(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!c) return -1;
  std::vector<RdKafka::TopicPartition*> parts;
  for (const auto& t : topics)
    for (int p = 0; p < partitions; ++p) parts.push_back(RdKafka::TopicPartition::create(t, p));
  int64_t total = 0;
  if (c->committed(parts, 10'000) == RdKafka::ERR_NO_ERROR) {
    for (const auto* tp : parts) {
      total += std::max<int64_t>(0, tp->offset());
      if (per_partition)
        (*per_partition)[{tp->topic(), tp->partition()}] = std::max<int64_t>(-1, tp->offset());
    }
  } else {
    total = -1;
  }
  RdKafka::TopicPartition::destroy(parts);
  c->close();
  return total;
}

// A KafkaRunner on its own thread, as `gridsentinel run` drives it.
class RunnerThread {
 public:
  // `unready_after_paused_ms`: the health state's readiness threshold (sinks::HealthState).
  RunnerThread(const config::Config& cfg, const std::string& bootstrap,
               int64_t unready_after_paused_ms = sinks::HealthState{}.unready_after_paused_ms)
      : inputs_(input_names(cfg)),
        metrics_(inputs_, pipeline::Processor::detector_names()),
        health_(unready_after_paused_ms),
        server_("127.0.0.1:0", metrics_.registry(), &health_) {
    runner_ = std::make_unique<pipeline::KafkaRunner>(cfg, bootstrap, metrics_, &health_);
    thread_ = std::thread([this] {
      rc_ = runner_->run(stop_);
      ended_ = true;
    });
  }
  ~RunnerThread() { stop(); }
  RunnerThread(const RunnerThread&) = delete;
  RunnerThread& operator=(const RunnerThread&) = delete;

  // Records consumed so far (all input topics).
  double consumed() {
    double n = 0;
    for (const auto& t : inputs_) n += metrics_.records_consumed(t).Value();
    return n;
  }
  sinks::Metrics& metrics() { return metrics_; }
  // Alerts acknowledged by the broker so far.
  uint64_t alerts_acked() { return metrics_.event_to_ack_seconds().Collect().histogram.sample_count; }
  // /metrics as Prometheus would scrape it.
  std::string scrape() { return http_get(server_.port(), "/metrics"); }
  // GET `path` (/healthz, /readyz): the body, and the status in *status.
  std::string probe(const char* path, int* status) { return http_get(server_.port(), path, status); }
  // Waits until `n` records were consumed; false on timeout.
  bool wait_consumed(double n, std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (consumed() < n && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return consumed() >= n;
  }
  // Whether run() returned by itself within `timeout` (a fatal error: stop() then gives its exit code).
  bool wait_ended(std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!ended_ && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return ended_;
  }
  // Graceful stop (as on SIGTERM); returns run()'s exit code.
  int stop() {
    if (thread_.joinable()) {
      stop_ = true;
      thread_.join();
      runner_.reset();
    }
    return rc_;
  }

 private:
  static std::vector<std::string> input_names(const config::Config& cfg) {
    std::vector<std::string> v;
    for (const auto& t : cfg.topics.inputs) v.push_back(t.name);
    return v;
  }
  struct Health : sinks::HealthState {
    explicit Health(int64_t unready_after_paused) { unready_after_paused_ms = unready_after_paused; }
  };
  std::vector<std::string> inputs_;
  sinks::Metrics metrics_;
  Health health_;
  sinks::MetricsServer server_;
  std::unique_ptr<pipeline::KafkaRunner> runner_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> ended_{false};
  int rc_ = -1;
  std::thread thread_;
};

// Waits until the group's committed offsets add up to `total`; returns the last sum seen.
inline int64_t wait_committed(const std::string& bootstrap, const std::string& group,
                              const std::vector<std::string>& topics, int partitions, int64_t total,
                              std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int64_t got = committed_total(bootstrap, group, topics, partitions);
  while (got < total && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    got = committed_total(bootstrap, group, topics, partitions);
  }
  return got;
}

// A free TCP port on 127.0.0.1 (racy by nature, good enough for tests).
inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// A child process with stdout and stderr going to `output_file`; the current environment is inherited.
inline pid_t spawn_process(const std::vector<std::string>& argv, const std::string& output_file) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, output_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = -1;
  if (posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

// Waits for `pid` to exit; its exit code (128 + signal when killed), or -1 when still running at the
// timeout.
inline int wait_exit(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r < 0) return -2;
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The value of the sample `series` (name with labels exactly as exposed) in a Prometheus text scrape; -1 if
// absent.
inline double metric_value(const std::string& scrape, const std::string& series) {
  std::istringstream in(scrape);
  for (std::string line; std::getline(in, line);)
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ')
      return std::atof(line.c_str() + series.size() + 1);
  return -1;
}

// Seconds since `t0`, for printed figures.
inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace gridsentinel::testing
