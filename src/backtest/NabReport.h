#pragma once
// Plain-text tables of NAB scores, for backtest logs and reviews. Fixed-width columns, one line per row, a
// header line first; numbers with 4 decimals (scores) or as integers (counts). Pure formatting: no I/O.
#include <span>
#include <string>

#include "backtest/NabScorer.h"

namespace gridsentinel::backtest {

// One line per file, then the Totals line: raw score and its TP/FP/FN parts, windows detected/missed (win+,
// win-), and NAB's row counts past probation (TP, FP, FN, TN rows; FP rows = false-positive detections).
// Headed by the profile, threshold, corpus raw/null/perfect and normalised score.
std::string format_nab_file_table(const NabCorpusScore& score);

// One line per profile: threshold, raw, null, perfect, normalised score, windows detected/missed, FP
// detections. Pass one NabCorpusScore per profile (e.g. each NabSweepResult::best, or fixed-threshold runs).
std::string format_nab_profile_table(std::span<const NabCorpusScore> scores);

}  // namespace gridsentinel::backtest
