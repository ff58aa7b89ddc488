#pragma once
// Log set-up: spdlog to stderr, plain text or one JSON object per line (log.json) for log shippers.
#include <string>

namespace gridsentinel::app {
void setup_logging(const std::string& level, bool json);
}
