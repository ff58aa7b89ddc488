#pragma once
// Helpers for tests against the real Kafka protocol (librdkafka's mock cluster) and real HTTP.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "kafka/KafkaClients.h"

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
  void on_assigned(const std::vector<kafka::TopicPartition>&) override {}
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

class CountingProducer : public kafka::Producer::Listener {
 public:
  explicit CountingProducer(const std::string& bootstrap)
      : producer_({{"bootstrap.servers", bootstrap}, {"linger.ms", "5"}}, this) {}
  void on_delivery(uint64_t, const kafka::UndeliveredMessage* failed, std::string_view) override {
    failed ? ++failed_ : ++delivered_;
  }
  void send(const std::string& topic, std::string_view key, std::string_view value) {
    while (producer_.produce(topic, key, value, 0) == kafka::Producer::Status::kQueueFull) producer_.poll(10);
    ++sent_;
  }
  bool flush() { return producer_.flush(30'000) && failed_ == 0 && delivered_ == sent_; }
  uint64_t sent() const { return sent_; }

 private:
  kafka::Producer producer_;
  uint64_t sent_ = 0, delivered_ = 0, failed_ = 0;
};

}  // namespace gridsentinel::testing
