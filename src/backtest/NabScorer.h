#pragma once
// NAB scoring of a detector's per-row scores, as NAB's Sweeper (nab/sweeper.py), optimizer (nab/optimizer.py)
// and Runner.normalize (nab/runner.py) define it at commit ea702d7. Row geometry (probation, S(p), window
// rows, FP positions) is in NabScoringFile.h; here, with `detected(i)` meaning  score[i] >= threshold:
//
//   Window value  each scored window (one with a row past probation) starts at -fnWeight and becomes the
//                 largest TP value among its detected rows past probation:
//                 max(-fnWeight, max tpWeight S(p) / S(-1)). S falls with p, so that is the earliest
//                 detection's value; later detections in the window add nothing and cost nothing.
//   FP value      every detected row past probation outside all windows adds fpWeight * S(p') (<= 0).
//   Raw score     sum of window values + sum of FP values, per file; the corpus raw score sums the files.
//   Null          the detector that never fires: -fnWeight per scored window. NAB's null detector (constant
//                 0.5, threshold swept) lands there whenever firing everywhere scores worse, as on the real
//                 corpus (a test checks it).
//   Perfect       tpWeight per labelled window (NAB: tpCount * tpWeight, tpCount = windows in the labels
//                 file): what a detector firing exactly at each window's first row scores when no window
//                 starts in probation (true of shared/data/nab).
//   Normalised    100 (raw - null) / (perfect - null), computed once on the corpus SUMS of raw, null and
//                 perfect (NAB normalises the "Totals" row, never per file), separately for each profile.
//   Threshold     detections are score >= threshold. The sweep is exact: every distinct score past
//                 probation is a candidate, plus NAB's start value 1.1 (nothing fires); rows are sorted once
//                 by descending score and the corpus score is updated row by row, O(N log N) for N rows,
//                 shared by all profiles. The best is the largest summed raw score; ties go to the highest
//                 threshold (NAB takes the first maximum in descending-threshold order).
//
// Counts: NAB's TP/FP/FN/TN are ROW counts past probation (a window of 400 rows detected at one row is 1 TP
// row and 399 FN rows). NabCounts carries those, and the window-level counts a reader expects.
//
// Scores must be NaN or in [0, 1] (NaN = no score: never a detection); anything else, or a score vector whose
// length is not the file's row count, is returned as an error naming the file and row. All functions are
// pure.
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "backtest/NabData.h"
#include "backtest/NabResult.h"
#include "backtest/NabScoringFile.h"

namespace gridsentinel::backtest {

// NAB's initial sweep threshold: above every valid score, so nothing fires.
inline constexpr double kNabNoDetectionThreshold = 1.1;

struct NabCounts {
  // NAB's counts, in rows past probation.
  size_t tp_rows = 0;  // detected rows inside a window
  size_t fp_rows = 0;  // detected rows outside every window (= false-positive detections)
  size_t fn_rows = 0;  // undetected rows inside a window
  size_t tn_rows = 0;  // undetected rows outside every window
  // Per window.
  size_t windows_detected = 0;  // scored windows with a detection (they earn a TP value)
  size_t windows_missed = 0;    // scored windows without one (they cost fnWeight)
  size_t windows_unscored = 0;  // windows wholly inside probation (neither)

  NabCounts& operator+=(const NabCounts& o);
};

struct NabFileScore {
  std::string name;
  double raw = 0.0;          // tp_value + fp_value + fn_value
  double tp_value = 0.0;     // sum of the detected windows' values (> 0)
  double fp_value = 0.0;     // sum of FP values (<= 0)
  double fn_value = 0.0;     // -fnWeight per missed window (<= 0)
  double null_raw = 0.0;     // -fnWeight * scored windows
  double perfect_raw = 0.0;  // tpWeight * windows
  NabCounts counts;
};

struct NabCorpusScore {
  NabProfile profile;
  double threshold = kNabNoDetectionThreshold;
  std::vector<NabFileScore> files;  // in the order given
  NabFileScore total;               // name "Totals": every field summed over files
  double normalized = 0.0;          // nab_normalized_score(total.raw, total.null_raw, total.perfect_raw)
};

struct NabSweepResult {
  NabCorpusScore best;          // the corpus scored at the best threshold (best.threshold)
  double swept_raw = 0.0;       // the sweep's running total there (equals best.total.raw up to rounding)
  size_t thresholds_tried = 0;  // distinct scores + 1 (the no-detection threshold)
};

// 100 (raw - null) / (perfect - null); NaN when perfect == null (a corpus without scored windows).
double nab_normalized_score(double raw, double null_raw, double perfect_raw);

NabResult<NabFileScore> score_nab_file(const NabScoringFile& file, std::span<const double> scores,
                                       double threshold, const NabProfile& profile);

// scores[k] belongs to files[k].
NabResult<NabCorpusScore> score_nab_corpus(std::span<const NabScoringFile> files,
                                           std::span<const std::vector<double>> scores, double threshold,
                                           const NabProfile& profile);

// The corpus-wide threshold sweep of NAB's optimizer, one result per profile (same order).
NabResult<std::vector<NabSweepResult>> sweep_nab_thresholds(std::span<const NabScoringFile> files,
                                                            std::span<const std::vector<double>> scores,
                                                            std::span<const NabProfile> profiles);
NabResult<NabSweepResult> sweep_nab_threshold(std::span<const NabScoringFile> files,
                                              std::span<const std::vector<double>> scores,
                                              const NabProfile& profile);

// Reference detectors for the normalisation's two ends: never fires (all 0), and fires (1) exactly at each
// window's first row (0 elsewhere). Scored at any threshold in (0, 1] they give null and, when no window
// starts in probation, perfect.
std::vector<double> nab_null_detector_scores(const NabScoringFile& file);
std::vector<double> nab_perfect_detector_scores(const NabScoringFile& file);

}  // namespace gridsentinel::backtest
