#pragma once
// The detector-independent half of NAB scoring: for one file, which rows are in probation, which window each
// row belongs to, and the position weight S of every row. It follows NAB's Sweeper.calcSweepScore in
// nab/sweeper.py at commit ea702d7 (the commit of shared/data/nab) line by line; the formulas, with signs:
//
//   Probation   L = min(floor(0.15 n), 0.15 * 5000) = min(floor(0.15 n), 750) for n rows (NAB's
//               _getProbationaryLength, same double arithmetic). Rows i < L are "probationary": dropped
//               before any threshold is applied, so a detection there is neither TP nor FP. Rows of a window
//               that lie in probation are dropped too; the window keeps its full geometry (width and
//               positions count those rows) and is scored on its remaining rows. A window wholly in
//               probation is not scored at all (it gives neither TP nor FN).
//
//   S(p)        = 2 sigmoid(-5 p) - 1 = 2 / (1 + e^(5p)) - 1 for p <= 3, and -1 for p > 3 (scaledSigmoid).
//               S(-1) = 0.98661, S(0) = 0, S(1) = -0.98661; S falls as p grows.
//
//   Window      rows first..last, where `first` is the first row (after the previous window) stamped with
//               the window's start and `last` the first row from `first` on stamped with its end; width
//               w = last - first + 1. NAB matches the label stamps to row stamps exactly; a window whose
//               start or end is no row's timestamp is an error here (NAB silently skips it, or crashes).
//
//   In window   row i gets p = -(last - i + 1) / w: the first row has p = -1, the last row p = -1/w
//               (NAB's "+ 1": no row reaches p = 0). Its TP value is  +tpWeight * S(p) / S(-1): exactly
//               tpWeight at the window's first row, falling to tpWeight * S(-1/w) / S(-1) at its last row.
//
//   Outside     a row after a window gets p' = (i - last_prev) / (w_prev - 1), measured from the preceding
//               window's last row in units of that window's width minus one (NAB's denominator); its FP
//               value is  fpWeight * S(p')  (negative: S(p') < 0 for p' > 0; about -fpWeight beyond ~1
//               width; exactly -fpWeight past 3). A row before any window costs  -fpWeight  (S = -1). A
//               preceding window one row wide makes NAB divide by zero; here p' = +inf: the full -fpWeight.
//
// What a detector scores from these values (earliest detection per window, FN cost, sums) is in NabScorer.h.
// Preparing a file costs O(n) time and 12 bytes a row; the prepared file is immutable and may be shared
// between threads.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "backtest/NabData.h"
#include "backtest/NabResult.h"

namespace gridsentinel::backtest {

inline constexpr double kNabProbationPercent = 0.15;

// NAB's probationary length, rounded up to whole rows: rows i < nab_probation_rows(n) are not scored.
size_t nab_probation_rows(size_t rows, double probation_percent = kNabProbationPercent);

// NAB's scaledSigmoid: -1 for p > 3, else 2 / (1 + exp(5 p)) - 1.
double nab_scaled_sigmoid(double p);

// A window resolved to row indices, both inclusive.
struct NabWindowRows {
  size_t first = 0;
  size_t last = 0;
  size_t width() const { return last - first + 1; }
};

class NabScoringFile {
 public:
  // Where a row stands in scoring.
  static constexpr int32_t kProbation = -2;  // dropped before scoring
  static constexpr int32_t kOutside = -1;    // outside every window: a detection is a false positive

  // Resolves `windows` against `timestamps_ms` (see "Window" above). Errors: a window stamp that no row
  // carries (after the previous window), windows out of order, an empty file.
  static NabResult<NabScoringFile> prepare(std::string name, std::span<const int64_t> timestamps_ms,
                                           std::span<const NabWindow> windows,
                                           double probation_percent = kNabProbationPercent);
  static NabResult<NabScoringFile> prepare(const NabCorpusFile& file,
                                           double probation_percent = kNabProbationPercent);

  const std::string& name() const { return name_; }
  size_t rows() const { return role_.size(); }
  size_t probation_rows() const { return probation_; }
  const std::vector<NabWindowRows>& windows() const { return windows_; }
  // Windows with at least one row past probation: the ones that can be detected or missed.
  size_t scored_windows() const { return scored_windows_; }

  // Row i's role: kProbation, kOutside, or the index of its window in windows().
  int32_t role(size_t i) const { return role_[i]; }
  // Row i's unweighted S: S(p) inside a window (TP value = tpWeight * S / S(-1)), S(p') outside (FP value =
  // fpWeight * S); 0 in probation.
  double position_weight(size_t i) const { return weight_[i]; }

 private:
  NabScoringFile() = default;

  std::string name_;
  size_t probation_ = 0;
  size_t scored_windows_ = 0;
  std::vector<NabWindowRows> windows_;
  std::vector<int32_t> role_;
  std::vector<double> weight_;
};

// Prepares every file of a corpus (same order).
NabResult<std::vector<NabScoringFile>> prepare_nab_corpus(const NabCorpus& corpus,
                                                          double probation_percent = kNabProbationPercent);

}  // namespace gridsentinel::backtest
