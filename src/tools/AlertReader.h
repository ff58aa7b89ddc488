#pragma once
// AlertReader: reads the alerts topic and prints each alert readably (or as JSON), optionally dropping
// duplicates by alert_id as an alert consumer should (gridsentinel delivers at least once).
#include <atomic>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>

#include "gridsentinel/v1/alert.pb.h"

namespace gridsentinel::tools {

struct AlertReaderOptions {
  std::string bootstrap_servers;
  std::string topic = "gridsentinel-alerts";
  std::string group_id;     // "" = a fresh group reading from the beginning
  bool json = false;        // protobuf's JSON mapping, one object per line
  bool dedupe = true;       // drop alerts whose alert_id was already seen (bounded memory: last 1M ids)
  uint64_t max_alerts = 0;  // stop after this many (0 = no limit)
  int idle_timeout_ms = 0;  // stop after this long without a new alert (0 = never)
};

// One line describing the alert, for people.
std::string format_alert(const v1::Alert& a);

// Reads until `stop`, max_alerts or the idle timeout. Returns alerts printed. Throws kafka::KafkaError at
// start-up.
uint64_t run_alert_reader(const AlertReaderOptions& opts, std::ostream& out, const std::atomic<bool>& stop);

}  // namespace gridsentinel::tools
