// Security: secrets given in the config file and through the environment (${ENV:NAME}) never reach the logs
// (debug level, librdkafka's configuration dump included), /metrics or the dead-letter and alert topics;
// the operator endpoint binds only where metrics.bind says; the TLS/SASL example in README.md passes
// `gridsentinel check-config`.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "TestSupport.h"
#include "config/Config.h"
#include "kafka/KafkaClients.h"
#include "sinks/Metrics.h"

namespace gridsentinel {
namespace {

const char* const kConfigSecret = "cfgSecret-91b2e4d7";
const char* const kEnvSecret = "envSecret-7f3a9c05";
const char* const kEnvSecret2 = "envSecret2-c4d1e8b6";

// Listening TCP sockets on `port` from /proc/net/tcp{,6}: their local addresses as the kernel prints them
// (hex, e.g. "0100007F" = 127.0.0.1, "00000000" = 0.0.0.0).
std::vector<std::string> listeners(int port) {
  std::vector<std::string> out;
  char want[8];
  std::snprintf(want, sizeof want, "%04X", port);
  for (const char* file : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(file);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream ls(line);
      std::string slot, local, remote, state;
      ls >> slot >> local >> remote >> state;
      const auto colon = local.find(':');
      if (state == "0A" && colon != std::string::npos && local.substr(colon + 1) == want)
        out.push_back(local.substr(0, colon));
    }
  }
  return out;
}

TEST(Security, EnvironmentReferencesInKafkaPropertiesAreExpandedAndCheckedAtLoad) {
  ::setenv("GS_TEST_SECRET_A", kEnvSecret, 1);
  ::unsetenv("GS_TEST_SECRET_UNSET");
  const auto c = config::parse_config(R"(
kafka:
  properties: {sasl.password: "${ENV:GS_TEST_SECRET_A}", sasl.username: "user-${ENV:GS_TEST_SECRET_A}-x"}
  producer_properties: {ssl.key.password: "${ENV:GS_TEST_SECRET_A}", client.id: "literal-$${ENV:NOT_EXPANDED}"}
)");
  EXPECT_EQ(c.kafka.properties.at("sasl.password"), kEnvSecret);
  EXPECT_EQ(c.kafka.properties.at("sasl.username"), std::string("user-") + kEnvSecret + "-x");
  EXPECT_EQ(c.kafka.producer_properties.at("ssl.key.password"), kEnvSecret);
  EXPECT_EQ(c.kafka.producer_properties.at("client.id"), "literal-${ENV:NOT_EXPANDED}");
  try {
    config::parse_config("kafka: {consumer_properties: {sasl.password: '${ENV:GS_TEST_SECRET_UNSET}'}}");
    FAIL() << "an unset variable must be an error";
  } catch (const config::ConfigError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("kafka.consumer_properties.sasl.password"), std::string::npos) << what;
    EXPECT_NE(what.find("GS_TEST_SECRET_UNSET"), std::string::npos) << what;
  }
  EXPECT_THROW(config::parse_config("kafka: {properties: {sasl.password: '${ENV:BAD NAME}'}}"),
               config::ConfigError);
  EXPECT_THROW(config::parse_config("kafka: {properties: {sasl.password: '${ENV:UNTERMINATED'}}"),
               config::ConfigError);
  // The redacted form used for logging hides every secret-named property.
  const std::string logged =
      kafka::redacted(c.kafka.properties) + kafka::redacted(c.kafka.producer_properties);
  EXPECT_EQ(logged.find(std::string("=") + kEnvSecret), std::string::npos) << logged;
  EXPECT_NE(logged.find("sasl.password=[redacted]"), std::string::npos) << logged;
}

TEST(Security, SecretsNeverReachLogsMetricsOrOutputTopics) {
  kafka::MockCluster cluster(1);
  for (const char* t : {"meter-readings", "gridsentinel-alerts", "gridsentinel-dead-letters", "meter-risk"})
    cluster.create_topic(t, 2);
  const std::string bootstrap = cluster.bootstrap_servers();
  ::setenv("GS_TEST_SSL_KEY_PASSWORD", kEnvSecret, 1);
  ::setenv("GS_TEST_PRODUCER_PASSWORD", kEnvSecret2, 1);
  const int port = testing::free_port();
  // The secrets are handed to librdkafka (plaintext protocol: they are accepted but not used, so the mock
  // cluster still works) and gridsentinel logs at debug level with librdkafka's configuration dump on.
  const std::string yaml = std::string(R"(
kafka:
  group_id: gs-secrets
  properties:
    security.protocol: plaintext
    sasl.mechanisms: PLAIN
    sasl.username: gs-user
    sasl.password: ")") + kConfigSecret +
                           R"("
    ssl.key.password: "${ENV:GS_TEST_SSL_KEY_PASSWORD}"
    debug: conf
  producer_properties:
    sasl.password: "${ENV:GS_TEST_PRODUCER_PASSWORD}"
topics:
  inputs: [{name: meter-readings, kind: meter}]
state: {changelog: false}
log: {level: debug}
metrics: {bind: 127.0.0.1:)" +
                           std::to_string(port) + "}\n";
  const std::string cfg_path = ::testing::TempDir() + "/secrets.yaml";
  std::ofstream(cfg_path) << yaml;

  std::string check_out;
  EXPECT_EQ(testing::run_command(std::string(GS_BINARY) + " check-config " + cfg_path, &check_out), 0)
      << check_out;

  const auto input = testing::simulated_readings(20, 2 * 96, 0.5, 31);
  {
    testing::CountingProducer in(bootstrap);
    for (const auto& r : input) in.send(r.topic, r.key, r.value);
    in.send("meter-readings", "BAD", "\xff\xff\xff\x01not-protobuf");
    ASSERT_TRUE(in.flush());
  }
  const std::string log_path = ::testing::TempDir() + "/secrets.log";
  const pid_t pid = testing::spawn_process(
      {GS_BINARY, "run", "--config", cfg_path, "--bootstrap-servers", bootstrap}, log_path);
  ASSERT_GT(pid, 0);
  const double total = static_cast<double>(input.size() + 1);
  std::string scrape;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    scrape = testing::http_get(port, "/metrics");
    if (testing::metric_value(scrape, "gridsentinel_records_consumed_total{topic=\"meter-readings\"}") >=
        total)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(testing::metric_value(scrape, "gridsentinel_records_consumed_total{topic=\"meter-readings\"}"),
            total);
  const std::string endpoints =
      scrape + testing::http_get(port, "/healthz") + testing::http_get(port, "/readyz");
  ::kill(pid, SIGTERM);
  EXPECT_EQ(testing::wait_exit(pid, std::chrono::seconds(15)), 0);
  const std::string log = testing::read_file(log_path);

  const auto dead = testing::consume_until(
      bootstrap, "gridsentinel-dead-letters", [](const auto& v) { return !v.empty(); },
      std::chrono::seconds(20));
  ASSERT_EQ(dead.size(), 1u);
  const auto alerts = testing::consume_until(
      bootstrap, "gridsentinel-alerts", [](const auto&) { return false; }, std::chrono::seconds(6));
  std::string outputs;
  for (const auto& r : dead) outputs += r.key + r.value;
  for (const auto& r : alerts) outputs += r.key + r.value;

  for (const char* secret : {kConfigSecret, kEnvSecret, kEnvSecret2}) {
    EXPECT_EQ(log.find(secret), std::string::npos) << "secret in the process's output:\n" << log;
    EXPECT_EQ(check_out.find(secret), std::string::npos) << check_out;
    EXPECT_EQ(endpoints.find(secret), std::string::npos) << "secret on the HTTP endpoints";
    EXPECT_EQ(outputs.find(secret), std::string::npos) << "secret in an output topic";
  }
  // The properties were logged, redacted (so the test did look at the places a secret would show up).
  EXPECT_NE(log.find("sasl.password=[redacted]"), std::string::npos) << log;
  EXPECT_NE(log.find("ssl.key.password=[redacted]"), std::string::npos) << log;
  std::cout << "checked " << log.size() << " bytes of logs, " << endpoints.size() << " bytes of endpoints, "
            << dead.size() + alerts.size() << " output records\n";
}

TEST(Security, MetricsEndpointBindsOnlyTheConfiguredAddress) {
  sinks::Metrics metrics({"meter-readings"}, {"zscore"});
  {
    sinks::MetricsServer server("127.0.0.1:0", metrics.registry());
    const auto l = listeners(server.port());
    ASSERT_EQ(l.size(), 1u);
    EXPECT_EQ(l[0], "0100007F") << "127.0.0.1 only";
  }
  {
    sinks::MetricsServer server("0.0.0.0:0", metrics.registry());
    const auto l = listeners(server.port());
    ASSERT_EQ(l.size(), 1u);
    EXPECT_EQ(l[0], "00000000") << "all IPv4 interfaces when configured so";
  }
  // The real process with the default-style loopback bind.
  const int port = testing::free_port();
  const std::string cfg_path = ::testing::TempDir() + "/bind.yaml";
  std::ofstream(cfg_path) << "metrics: {bind: 127.0.0.1:" << port
                          << "}\nembedded: {partitions: 1}\nstate: {changelog: false}\n";
  const pid_t pid =
      testing::spawn_process({GS_BINARY, "run", "--config", cfg_path}, ::testing::TempDir() + "/bind.log");
  ASSERT_GT(pid, 0);
  std::vector<std::string> l;
  for (int i = 0; i < 200 && l.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    l = listeners(port);
  }
  ::kill(pid, SIGTERM);
  EXPECT_EQ(testing::wait_exit(pid, std::chrono::seconds(15)), 0);
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0], "0100007F");
}

TEST(Security, ReadmeTlsSaslExamplePassesCheckConfig) {
  const std::string readme = testing::read_file(std::string(GS_SOURCE_DIR) + "/README.md");
  const auto marker = readme.find("<!-- tls-sasl-example -->");
  ASSERT_NE(marker, std::string::npos) << "README.md lost its TLS/SASL example";
  const auto begin = readme.find("```yaml\n", marker);
  ASSERT_NE(begin, std::string::npos);
  const auto end = readme.find("```", begin + 8);
  const std::string yaml = readme.substr(begin + 8, end - begin - 8);
  EXPECT_NE(yaml.find("SASL_SSL"), std::string::npos);
  const std::string path = ::testing::TempDir() + "/readme-tls.yaml";
  std::ofstream(path) << yaml;
  ::setenv("KAFKA_SASL_PASSWORD", kEnvSecret, 1);
  std::string out;
  EXPECT_EQ(testing::run_command(std::string(GS_BINARY) + " check-config " + path, &out), 0) << out << yaml;
  EXPECT_EQ(out.find(kEnvSecret), std::string::npos) << out;
  ::unsetenv("KAFKA_SASL_PASSWORD");
  out.clear();
  EXPECT_EQ(testing::run_command(std::string(GS_BINARY) + " check-config " + path, &out) >> 8, 2) << out;
  EXPECT_NE(out.find("KAFKA_SASL_PASSWORD is not set"), std::string::npos) << out;
}

}  // namespace
}  // namespace gridsentinel
