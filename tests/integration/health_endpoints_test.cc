// /healthz and /readyz over real HTTP, driven by the state the processing loop publishes.
#include <gtest/gtest.h>

#include <chrono>

#include "TestSupport.h"
#include "sinks/Metrics.h"

namespace gridsentinel {
namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST(HealthEndpoints, FollowTheProcessingLoopAndTheAssignment) {
  sinks::Metrics metrics({"meter-readings"}, {"zscore"});
  sinks::HealthState health;
  sinks::MetricsServer server("127.0.0.1:0", metrics.registry(), &health);
  int status = 0;
  EXPECT_EQ(testing::http_get(server.port(), "/healthz", &status), "processing loop not started\n");
  EXPECT_EQ(status, 503);

  health.loop_heartbeat_ms[0] = now_ms();
  EXPECT_EQ(testing::http_get(server.port(), "/healthz", &status), "ok\n");
  EXPECT_EQ(status, 200);
  // Several stream threads: live only while every one of them iterates.
  health.loops = 2;
  EXPECT_EQ(testing::http_get(server.port(), "/healthz", &status), "processing loop not started\n");
  health.loop_heartbeat_ms[1] = now_ms() - 60'000;
  EXPECT_EQ(testing::http_get(server.port(), "/healthz", &status), "processing loop stalled\n");
  health.loop_heartbeat_ms[1] = now_ms();
  EXPECT_EQ(testing::http_get(server.port(), "/healthz", &status), "ok\n");
  health.loops = 1;
  EXPECT_EQ(testing::http_get(server.port(), "/readyz", &status), "no partitions assigned\n");
  EXPECT_EQ(status, 503);

  health.assigned_partitions = 4;
  EXPECT_EQ(testing::http_get(server.port(), "/readyz", &status), "ok\n");
  EXPECT_EQ(status, 200);

  // Partitions paused while outputs wait for the broker: ready for a while (a burst), then not; live always.
  health.paused_since_ms[0] = now_ms() - 10'000;
  EXPECT_EQ(testing::http_get(server.port(), "/readyz", &status), "ok\n");
  health.paused_since_ms[0] = now_ms() - 90'000;
  const std::string paused = testing::http_get(server.port(), "/readyz", &status);
  EXPECT_EQ(status, 503);
  EXPECT_EQ(paused.rfind("partitions paused for 90 s", 0), 0u) << paused;
  EXPECT_EQ(testing::http_get(server.port(), "/healthz", &status), "ok\n");
  health.paused_since_ms[0] = 0;
  EXPECT_EQ(testing::http_get(server.port(), "/readyz", &status), "ok\n");

  health.stopping = true;
  testing::http_get(server.port(), "/readyz", &status);
  EXPECT_EQ(status, 503);

  health.loop_heartbeat_ms[0] = now_ms() - 60'000;  // the loop has not iterated for a minute
  EXPECT_EQ(testing::http_get(server.port(), "/healthz", &status), "processing loop stalled\n");
  EXPECT_EQ(status, 503);

  const std::string text = testing::http_get(server.port(), "/metrics", &status);
  EXPECT_EQ(status, 200);
  EXPECT_NE(text.find("gridsentinel_build_info"), std::string::npos);
}

}  // namespace
}  // namespace gridsentinel
