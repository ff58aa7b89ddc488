#pragma once
// `gridsentinel backtest`: the NAB backtest (backtest/BacktestRunner.h) and the meter scenarios
// (backtest/ScenarioRunner.h).
//   gridsentinel backtest --nab-dir ../shared/data/nab [--out DIR] [--threshold 0.5] [--profile standard]
//   gridsentinel backtest --series FILE.csv [--windows FILE.json] [--out DIR] ...
//   gridsentinel backtest --scenarios [--meters N] [--days D] [--seed S] [--anomaly-rate R] [--tolerance K]
//                         [-c FILE] [--out DIR]
#include <CLI/CLI.hpp>

#include <functional>

namespace gridsentinel::app {

// Adds the subcommand to `app`; when it is selected after parsing, `action` (set here) runs it and returns
// the exit code (0 ok, 2 bad input).
void add_backtest_command(CLI::App& app, std::function<int()>& action);

}  // namespace gridsentinel::app
