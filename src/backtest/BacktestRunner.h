#pragma once
// The NAB backtest behind `gridsentinel backtest`: scores every labelled series of a NAB corpus with
// BacktestScorer, optionally writes per-row CSVs (timestamp,value,anomaly_score,label; label 1 inside a
// labelled window), and formats the summary: the normalised score of every profile with the threshold swept
// over the corpus (NAB's scoreboard) and with a fixed threshold, plus the per-file table of one profile.
// Errors (bad corpus, unwritable output) come back as NabResult failures; nothing is thrown.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "backtest/BacktestScorer.h"
#include "backtest/NabResult.h"
#include "backtest/NabScorer.h"

namespace gridsentinel::backtest {

struct BacktestOptions {
  std::filesystem::path nab_dir;       // corpus mode: the folder holding data/, labels/, config/
  std::filesystem::path series_csv;    // single-series mode: a `timestamp,value` CSV ...
  std::filesystem::path windows_json;  // ... and its windows: [["start", "end"], ...] or NAB's {name: [...]}
  std::filesystem::path out_dir;       // per-row CSVs; empty = none
  double threshold = 0.5;              // the fixed threshold
  std::string profile = "standard";    // the per-file table's profile
  BacktestScorerConfig scorer;
};

struct BacktestSummary {
  std::vector<NabSweepResult> swept;  // one per profile
  std::vector<NabCorpusScore> fixed;  // one per profile, at options.threshold
  size_t files = 0, rows = 0;
  double scoring_seconds = 0;
  std::string report;  // the printed summary
};

// `progress` (may be empty) receives one line per scored file.
NabResult<BacktestSummary> run_backtest(const BacktestOptions& options,
                                        const std::function<void(const std::string&)>& progress = {});

}  // namespace gridsentinel::backtest
