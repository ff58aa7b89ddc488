#include "app/BacktestCommand.h"

#include <array>
#include <iostream>
#include <memory>
#include <string>

#include "backtest/BacktestRunner.h"
#include "backtest/ScenarioRunner.h"
#include "config/Config.h"

namespace gridsentinel::app {

namespace {

int run_scenarios(const backtest::ScenarioOptions& options, const std::string& config_path) {
  const config::Config cfg =
      config_path.empty() ? config::parse_config("", "(defaults)") : config::load_config_file(config_path);
  auto result =
      backtest::run_scenarios(options, cfg, [](const std::string& line) { std::cerr << line << std::endl; });
  if (!result) {
    std::cerr << "backtest: " << result.error() << std::endl;
    return 2;
  }
  std::cout << result->report << std::flush;
  return 0;
}

}  // namespace

void add_backtest_command(CLI::App& app, std::function<int()>& action) {
  auto opts = std::make_shared<backtest::BacktestOptions>();
  auto scen = std::make_shared<backtest::ScenarioOptions>();
  auto scenarios = std::make_shared<bool>(false);
  auto strings = std::make_shared<std::array<std::string, 5>>();  // nab dir, series, windows, out, config
  auto* cmd = app.add_subcommand(
      "backtest",
      "Score the NAB corpus (or one labelled series), or simulated meter scenarios, with the detectors");
  auto* nab = cmd->add_option("--nab-dir", (*strings)[0], "NAB corpus folder (data/, labels/, config/)");
  auto* series =
      cmd->add_option("--series", (*strings)[1], "One series CSV (timestamp,value) instead of a corpus");
  cmd->add_option("--windows", (*strings)[2], "Its labelled windows (NAB windows JSON)")->needs(series);
  cmd->add_option("--out", (*strings)[3],
                  "Write per-row CSVs (timestamp,value,anomaly_score,label) here; with --scenarios, the "
                  "scenario CSVs");
  cmd->add_option("--threshold", opts->threshold, "Fixed detection threshold")->check(CLI::Range(0.0, 1.1));
  cmd->add_option("--profile", opts->profile, "Profile of the per-file tables");
  auto* scen_flag =
      cmd->add_flag("--scenarios", *scenarios,
                    "Run simulated meters with injected anomalies through the full processor and "
                    "score the alerts per anomaly type");
  cmd->add_option("--meters", scen->meters, "Scenarios: fleet size")->check(CLI::Range(1u, 1'000'000u));
  cmd->add_option("--days", scen->days, "Scenarios: simulated days (the first 4 are warm-up)")
      ->check(CLI::Range(5u, 3650u));
  cmd->add_option("--seed", scen->seed, "Scenarios: simulator seed");
  cmd->add_option("--anomaly-rate", scen->anomalies_per_meter_day,
                  "Scenarios: injected anomalies per meter-day")
      ->check(CLI::Range(0.0, 10.0));
  cmd->add_option("--tolerance", scen->tolerance_readings,
                  "Scenarios: readings after an episode's end an alert still counts as its detection");
  cmd->add_option("-c,--config", (*strings)[4],
                  "Scenarios: YAML config of the processor (defaults when omitted)");
  nab->excludes(series);
  scen_flag->excludes(nab)->excludes(series);
  cmd->callback([&action, opts, scen, scenarios, strings] {
    action = [opts, scen, scenarios, strings] {
      if (*scenarios) {
        scen->out_dir = (*strings)[3];
        return run_scenarios(*scen, (*strings)[4]);
      }
      opts->nab_dir = (*strings)[0];
      opts->series_csv = (*strings)[1];
      opts->windows_json = (*strings)[2];
      opts->out_dir = (*strings)[3];
      if (opts->nab_dir.empty() && opts->series_csv.empty()) {
        std::cerr << "backtest: give --nab-dir, --series or --scenarios" << std::endl;
        return 2;
      }
      auto result =
          backtest::run_backtest(*opts, [](const std::string& line) { std::cerr << line << std::endl; });
      if (!result) {
        std::cerr << "backtest: " << result.error() << std::endl;
        return 2;
      }
      std::cout << result->report << std::flush;
      return 0;
    };
  });
}

}  // namespace gridsentinel::app
