#include "tools/AlertReader.h"

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <deque>
#include <unordered_set>

#include "kafka/KafkaClients.h"
#include "sinks/Metrics.h"

namespace gridsentinel::tools {

namespace {

std::string iso_time(int64_t ms) {
  const std::time_t s = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

const char* kind_name(v1::EntityKind k) {
  switch (k) {
    case v1::ENTITY_KIND_METER:
      return "meter";
    case v1::ENTITY_KIND_INFRA_SERIES:
      return "infra";
    case v1::ENTITY_KIND_FLEET:
      return "fleet";
    default:
      return "entity";
  }
}

}  // namespace

std::string format_alert(const v1::Alert& a) {
  std::string sev = sinks::severity_name(a.severity());
  for (auto& c : sev) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return fmt::format("{} {:<8} {} {} {}/{} {}={:.6g} expected [{:.6g}, {:.6g}] score={:.3f} id={}\n    {}",
                     iso_time(a.event_time_ms()), sev, kind_name(a.entity_kind()), a.entity_id(),
                     a.detector(), a.anomaly_type(), a.feature(), a.observed_value(), a.expected_low(),
                     a.expected_high(), a.score(), a.alert_id().substr(0, 12), a.explanation());
}

namespace {
class NoopListener : public kafka::Consumer::Listener {
 public:
  void on_assigned(std::vector<kafka::TopicPartition>&) override {}
  void on_revoked(const std::vector<kafka::TopicPartition>&) override {}
};
}  // namespace

uint64_t run_alert_reader(const AlertReaderOptions& opts, std::ostream& out, const std::atomic<bool>& stop) {
  NoopListener listener;
  const std::string group = opts.group_id.empty()
                                ? fmt::format("gridsentinel-alert-reader-{}-{}", getpid(),
                                              std::chrono::steady_clock::now().time_since_epoch().count())
                                : opts.group_id;
  kafka::Consumer consumer({{"bootstrap.servers", opts.bootstrap_servers},
                            {"group.id", group},
                            {"auto.offset.reset", "earliest"},
                            {"enable.auto.commit", opts.group_id.empty() ? "false" : "true"},
                            {"client.id", "gridsentinel-alert-reader"}},
                           {opts.topic}, &listener);
  std::unordered_set<std::string> seen;
  std::deque<std::string> order;  // bounds `seen`
  std::vector<kafka::Record> records;
  v1::Alert alert;
  uint64_t printed = 0;
  auto last_alert = std::chrono::steady_clock::now();
  while (!stop.load()) {
    consumer.poll(records, 1000, 200);
    for (const auto& r : records) {
      if (!alert.ParseFromArray(r.value.data(), static_cast<int>(r.value.size()))) continue;
      last_alert = std::chrono::steady_clock::now();
      if (opts.dedupe) {
        if (!seen.insert(alert.alert_id()).second) continue;
        order.push_back(alert.alert_id());
        if (order.size() > 1'000'000) {
          seen.erase(order.front());
          order.pop_front();
        }
      }
      if (opts.json) {
        std::string json;
        google::protobuf::util::JsonPrintOptions o;
        (void)google::protobuf::util::MessageToJsonString(alert, &json, o);
        out << json << "\n";
      } else {
        out << format_alert(alert) << "\n";
      }
      out.flush();
      if (++printed == opts.max_alerts) return printed;
    }
    if (opts.idle_timeout_ms > 0 &&
        std::chrono::steady_clock::now() - last_alert > std::chrono::milliseconds(opts.idle_timeout_ms))
      break;
  }
  return printed;
}

}  // namespace gridsentinel::tools
