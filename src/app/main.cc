// gridsentinel: streaming anomaly detection for smart-meter and infrastructure telemetry.
// Subcommands: run, check-config, broker, simulate, alerts. See README.md.
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <thread>

#include "app/BacktestCommand.h"
#include "app/Logging.h"
#include "common/HeapTuning.h"
#include "config/Config.h"
#include "kafka/KafkaClients.h"
#include "pipeline/Processor.h"
#include "pipeline/StreamThreads.h"
#include "sinks/Metrics.h"
#include "tools/AlertReader.h"
#include "tools/SimulatorProducer.h"

namespace {

using namespace gridsentinel;

std::atomic<bool> g_stop{false};
// Set when cmd_run returns or throws: the shutdown-deadline thread then neither logs (spdlog may be being
// destroyed with the other statics) nor ends the process with its own code.
std::atomic<bool> g_run_returned{false};
constexpr int kShutdownDeadlineMs =
    9'000;  // SIGTERM -> exit at the latest (Kubernetes' grace period is 30 s)
// The exit code when the deadline cut the shutdown short: not 0, so that a supervisor (systemd, a CI job, an
// operator's script) sees that the final commit did not happen, and not a code of a start-up failure.
constexpr int kExitShutdownDeadline = 5;

extern "C" void on_signal(int) {
  g_stop.store(true);
}

void install_signal_handlers() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGPIPE, SIG_IGN);
}

config::Config load(const std::string& path) {
  return path.empty() ? config::parse_config("", "(defaults)") : config::load_config_file(path);
}

std::unique_ptr<kafka::MockCluster> start_embedded(const config::Config& cfg, std::string& bootstrap) {
  auto mock = std::make_unique<kafka::MockCluster>(1);
  for (const auto& t : cfg.topics.inputs) {
    mock->create_topic(t.name, cfg.embedded.partitions);
    // Co-partitioned with its input (the mock keeps every record: no compaction; restore reads the latest).
    if (cfg.state.changelog)
      mock->create_topic(cfg.state.changelog_for(cfg.kafka.group_id, t.name), cfg.embedded.partitions);
  }
  mock->create_topic(cfg.topics.alerts, cfg.embedded.partitions);
  mock->create_topic(cfg.topics.dead_letter, cfg.embedded.partitions);
  mock->create_topic(cfg.topics.risk, cfg.embedded.partitions);
  bootstrap = mock->bootstrap_servers();
  std::cout << "embedded Kafka (librdkafka mock cluster) listening at " << bootstrap << std::endl;
  if (!cfg.embedded.bootstrap_file.empty()) {
    std::ofstream(cfg.embedded.bootstrap_file) << bootstrap << "\n";
  }
  return mock;
}

int cmd_run(const std::string& config_path, const std::string& bootstrap_override,
            const std::string& metrics_bind, const std::string& bootstrap_file) {
  config::Config cfg = load(config_path);
  if (!bootstrap_override.empty()) cfg.kafka.bootstrap_servers = bootstrap_override;
  if (!metrics_bind.empty()) cfg.metrics.bind = metrics_bind;
  if (!bootstrap_file.empty()) cfg.embedded.bootstrap_file = bootstrap_file;
  app::setup_logging(cfg.log.level, cfg.log.json);
  spdlog::info("gridsentinel {} starting", GS_VERSION);

  std::string bootstrap = cfg.kafka.bootstrap_servers;
  std::unique_ptr<kafka::MockCluster> mock;
  if (bootstrap.empty()) mock = start_embedded(cfg, bootstrap);

  std::vector<std::string> input_topics;
  for (const auto& t : cfg.topics.inputs) input_topics.push_back(t.name);
  sinks::Metrics metrics(input_topics, pipeline::Processor::detector_names(),
                         pipeline::Processor::alert_kinds());
  // Static: the detached shutdown-deadline thread below reads it until the process exits.
  static sinks::HealthState health;
  std::unique_ptr<sinks::MetricsServer> server;
  if (!cfg.metrics.bind.empty()) {
    server = std::make_unique<sinks::MetricsServer>(cfg.metrics.bind, metrics.registry(), &health);
    spdlog::info("metrics at http://{}/metrics", cfg.metrics.bind);
    std::cout << "metrics at http://" << cfg.metrics.bind << "/metrics" << std::endl;
  }

  std::atomic<bool> tools_stop{false};
  std::thread simulator, reader;
  if (mock && cfg.embedded.simulate_meters > 0) {
    tools::SimulatorProducerOptions o;
    o.bootstrap_servers = bootstrap;
    o.topic = cfg.topics.inputs.front().name;
    o.sim.num_meters = cfg.embedded.simulate_meters;
    o.sim.interval_s = static_cast<uint32_t>(cfg.embedded.simulate_interval_ms / 1000);
    o.sim.anomalies_per_meter_day = cfg.embedded.simulate_anomaly_rate;
    o.speedup = cfg.embedded.simulate_speedup;
    simulator = std::thread([o, &tools_stop] {
      try {
        const auto r = tools::run_simulator_producer(o, tools_stop);
        spdlog::info("simulator finished: {} readings, {} anomalies injected", r.readings, r.anomalies);
      } catch (const std::exception& e) {
        spdlog::error("simulator: {}", e.what());
      }
    });
  }
  if (cfg.embedded.print_alerts) {
    tools::AlertReaderOptions o;
    o.bootstrap_servers = bootstrap;
    o.topic = cfg.topics.alerts;
    reader = std::thread([o, &tools_stop] {
      try {
        tools::run_alert_reader(o, std::cout, tools_stop);
      } catch (const std::exception& e) {
        spdlog::error("alert reader: {}", e.what());
      }
    });
  }

  // Bounded shutdown: librdkafka's synchronous commit, consumer close and producer flush wait for the broker,
  // so with the broker unreachable they would block past an orchestrator's grace period. The deadline runs
  // from the signal, or from the moment a stream thread begins to stop on an error (a fatal client error,
  // a changelog too small), whichever comes first. Past it the process exits without them: nothing is lost
  // (uncommitted records are redelivered to the next owner). The exit code is the error's when a thread
  // stopped on one, else kExitShutdownDeadline.
  struct MarkReturned {
    ~MarkReturned() { g_run_returned.store(true); }
  } mark_returned;  // also when run_stream_threads throws
  std::thread([] {
    while (!g_stop.load() && !health.stopping.load())
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::this_thread::sleep_for(std::chrono::milliseconds(kShutdownDeadlineMs));
    if (g_run_returned.load()) return;
    const int failure = health.failure_code.load();
    spdlog::error(
        "shutdown still blocked {} ms after it began (broker unreachable?); exiting without the final "
        "commit (exit code {}): uncommitted records will be redelivered",
        kShutdownDeadlineMs, failure != 0 ? failure : kExitShutdownDeadline);
    spdlog::default_logger()->flush();
    std::_Exit(failure != 0 ? failure : kExitShutdownDeadline);
  }).detach();

  int rc = 0;
  { rc = pipeline::run_stream_threads(cfg, bootstrap, metrics, &health, g_stop); }
  tools_stop.store(true);
  if (simulator.joinable()) simulator.join();
  if (reader.joinable()) reader.join();
  return rc;
}

int cmd_broker(int partitions, const std::vector<std::string>& topics, const std::string& bootstrap_file) {
  app::setup_logging("info", false);
  kafka::MockCluster mock(1);
  // Each topic's state changelog under the default group and naming, co-partitioned with it, so that a
  // gridsentinel with the default `state` config finds it (an auto-created topic would have 4 partitions).
  const config::Config defaults;
  for (const auto& t : topics) {
    mock.create_topic(t, partitions);
    mock.create_topic(defaults.state.changelog_for(defaults.kafka.group_id, t), partitions);
  }
  const std::string bootstrap = mock.bootstrap_servers();
  std::cout << bootstrap << std::endl;
  if (!bootstrap_file.empty()) std::ofstream(bootstrap_file) << bootstrap << "\n";
  while (!g_stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  gridsentinel::keep_fetch_buffers_in_heap();
  install_signal_handlers();
  CLI::App app{"gridsentinel: streaming anomaly detection for smart-meter and infrastructure telemetry"};
  app.set_version_flag("--version", std::string("gridsentinel ") + GS_VERSION);
  app.require_subcommand(1);

  std::string config_path, bootstrap, metrics_bind, bootstrap_file;
  auto* run = app.add_subcommand("run",
                                 "Consume readings, detect anomalies, publish alerts (embedded Kafka when "
                                 "kafka.bootstrap_servers is empty)");
  run->add_option("-c,--config", config_path, "YAML config file (defaults when omitted)");
  run->add_option("--bootstrap-servers", bootstrap, "Override kafka.bootstrap_servers");
  run->add_option("--metrics-bind", metrics_bind, "Override metrics.bind (host:port)");
  run->add_option("--bootstrap-file", bootstrap_file, "Write the embedded broker's address here");

  std::string check_path;
  auto* check = app.add_subcommand("check-config", "Validate a config file and exit (0 = valid)");
  check->add_option("config", check_path, "YAML config file")->required();

  int partitions = 8;
  std::vector<std::string> broker_topics = {
      "meter-readings",      "meter-readings-json",       "infra-metrics",
      "gridsentinel-alerts", "gridsentinel-dead-letters", "meter-risk"};
  auto* broker = app.add_subcommand("broker", "Run librdkafka's mock Kafka cluster standalone (development)");
  broker->add_option("--partitions", partitions, "Partitions per topic")->check(CLI::Range(1, 1024));
  broker->add_option("--topic", broker_topics,
                     "Topics to create (each with its state changelog, gridsentinel-<topic>-changelog)");
  broker->add_option("--bootstrap-file", bootstrap_file, "Write the bootstrap address here");

  tools::SimulatorProducerOptions sim;
  std::string interval = "15m";
  auto* simulate = app.add_subcommand("simulate", "Produce a simulated meter fleet with injected anomalies");
  simulate->add_option("--bootstrap-servers", sim.bootstrap_servers)->required();
  simulate->add_option("--topic", sim.topic);
  simulate->add_option("--meters", sim.sim.num_meters, "Fleet size");
  simulate->add_option("--interval", interval, "Reading interval (e.g. 15m)");
  simulate->add_option("--ticks", sim.sim.max_ticks, "Intervals to produce (0 = until stopped)");
  simulate->add_option("--speedup", sim.speedup,
                       "Simulated seconds per wall second (0 = as fast as possible)");
  simulate->add_option("--linger-ms", sim.linger_ms, "The producer's linger.ms (batching delay)")
      ->check(CLI::Range(0, 60'000));
  simulate->add_option("--anomaly-rate", sim.sim.anomalies_per_meter_day, "Injected anomalies per meter-day");
  simulate->add_option("--seed", sim.sim.seed);
  simulate->add_option("--batch", sim.batch_size, "Readings per record (> 1: MeterReadingBatch)");
  simulate->add_option("--ground-truth", sim.ground_truth_csv, "Write the injected anomalies as CSV here");

  tools::AlertReaderOptions reader;
  auto* alerts = app.add_subcommand("alerts", "Print alerts from the alerts topic");
  alerts->add_option("--bootstrap-servers", reader.bootstrap_servers)->required();
  alerts->add_option("--topic", reader.topic);
  alerts->add_flag("--json", reader.json, "Print protobuf JSON, one alert per line");
  alerts->add_option("--max", reader.max_alerts, "Stop after this many alerts");
  alerts->add_option("--idle-timeout-ms", reader.idle_timeout_ms, "Stop after this long without alerts");
  bool keep_duplicates = false;
  alerts->add_flag("--keep-duplicates", keep_duplicates, "Print redelivered alerts again");

  std::function<int()> backtest_action;
  app::add_backtest_command(app, backtest_action);

  CLI11_PARSE(app, argc, argv);
  try {
    if (backtest_action) return backtest_action();
    if (*run) return cmd_run(config_path, bootstrap, metrics_bind, bootstrap_file);
    if (*check) {
      const auto cfg = config::load_config_file(check_path);
      std::cout << check_path << ": ok (" << cfg.topics.inputs.size() << " input topics, "
                << (cfg.kafka.bootstrap_servers.empty() ? std::string("embedded broker")
                                                        : "bootstrap " + cfg.kafka.bootstrap_servers)
                << ")" << std::endl;
      return 0;
    }
    if (*broker) return cmd_broker(partitions, broker_topics, bootstrap_file);
    if (*simulate) {
      app::setup_logging("info", false);
      sim.sim.interval_s = static_cast<uint32_t>(config::parse_duration_ms(interval, "--interval") / 1000);
      const auto r = tools::run_simulator_producer(sim, g_stop);
      std::cout << "produced " << r.readings << " readings in " << r.records << " records over " << r.ticks
                << " intervals; " << r.anomalies << " anomalies injected" << std::endl;
      return 0;
    }
    if (*alerts) {
      app::setup_logging("warn", false);
      reader.dedupe = !keep_duplicates;
      tools::run_alert_reader(reader, std::cout, g_stop);
      return 0;
    }
  } catch (const config::ConfigError& e) {
    std::cerr << e.what() << std::endl;
    return 2;
  } catch (const std::invalid_argument& e) {
    std::cerr << "invalid argument: " << e.what() << std::endl;
    return 2;
  } catch (const kafka::KafkaError& e) {
    std::cerr << "kafka: " << e.what() << std::endl;
    return 3;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
