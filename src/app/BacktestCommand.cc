#include "app/BacktestCommand.h"

#include <array>
#include <iostream>
#include <memory>
#include <string>

#include "backtest/BacktestRunner.h"

namespace gridsentinel::app {

void add_backtest_command(CLI::App& app, std::function<int()>& action) {
  auto opts = std::make_shared<backtest::BacktestOptions>();
  auto strings = std::make_shared<std::array<std::string, 4>>();  // nab dir, series, windows, out
  auto* cmd =
      app.add_subcommand("backtest", "Score the NAB corpus (or one labelled series) with the detectors");
  auto* nab = cmd->add_option("--nab-dir", (*strings)[0], "NAB corpus folder (data/, labels/, config/)");
  auto* series =
      cmd->add_option("--series", (*strings)[1], "One series CSV (timestamp,value) instead of a corpus");
  cmd->add_option("--windows", (*strings)[2], "Its labelled windows (NAB windows JSON)")->needs(series);
  cmd->add_option("--out", (*strings)[3], "Write per-row CSVs (timestamp,value,anomaly_score,label) here");
  cmd->add_option("--threshold", opts->threshold, "Fixed detection threshold")->check(CLI::Range(0.0, 1.1));
  cmd->add_option("--profile", opts->profile, "Profile of the per-file tables");
  nab->excludes(series);
  cmd->callback([&action, opts, strings] {
    action = [opts, strings] {
      opts->nab_dir = (*strings)[0];
      opts->series_csv = (*strings)[1];
      opts->windows_json = (*strings)[2];
      opts->out_dir = (*strings)[3];
      if (opts->nab_dir.empty() && opts->series_csv.empty()) {
        std::cerr << "backtest: give --nab-dir or --series" << std::endl;
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
