#include "backtest/NabScorer.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

namespace gridsentinel::backtest {
namespace {

// NAB divides every TP value by S(-1) so that a detection at a window's first row is worth exactly tpWeight.
const double kMaxTp = nab_scaled_sigmoid(-1.0);

// NAB: unweightedScore * tpWeight / maxTP (same order of operations).
double tp_value(double position_weight, const NabProfile& p) {
  return position_weight * p.tp_weight / kMaxTp;
}
double fp_value(double position_weight, const NabProfile& p) {
  return position_weight * p.fp_weight;
}

// Scores must match the file's rows and be NaN or within [0, 1].
std::string check_scores(const NabScoringFile& file, std::span<const double> scores) {
  if (scores.size() != file.rows()) {
    return file.name() + ": " + std::to_string(scores.size()) + " scores for " + std::to_string(file.rows()) +
           " rows";
  }
  for (size_t i = 0; i < scores.size(); ++i) {
    const double s = scores[i];
    if (!std::isnan(s) && !(s >= 0.0 && s <= 1.0)) {
      return file.name() + ": row " + std::to_string(i) + ": score " + std::to_string(s) +
             " is outside [0, 1]";
    }
  }
  return {};
}

std::string check_corpus(std::span<const NabScoringFile> files, std::span<const std::vector<double>> scores) {
  if (files.size() != scores.size()) {
    return "NAB corpus: " + std::to_string(scores.size()) + " score vectors for " +
           std::to_string(files.size()) + " files";
  }
  for (size_t k = 0; k < files.size(); ++k) {
    if (std::string e = check_scores(files[k], scores[k]); !e.empty()) return e;
  }
  return {};
}

double file_null(const NabScoringFile& f, const NabProfile& p) {
  return -p.fn_weight * static_cast<double>(f.scored_windows());
}
double file_perfect(const NabScoringFile& f, const NabProfile& p) {
  return p.tp_weight * static_cast<double>(f.windows().size());
}

// score_nab_file without the input checks.
NabFileScore score_checked(const NabScoringFile& file, std::span<const double> scores, double threshold,
                           const NabProfile& profile) {
  NabFileScore out;
  out.name = file.name();
  out.null_raw = file_null(file, profile);
  out.perfect_raw = file_perfect(file, profile);

  // Window values start at -fnWeight and rise to the best TP value among detections (NAB's scoreParts).
  std::vector<double> window_value(file.windows().size(), -profile.fn_weight);
  std::vector<bool> window_hit(file.windows().size(), false);
  for (size_t i = file.probation_rows(); i < file.rows(); ++i) {
    const int32_t role = file.role(i);
    const bool detected = scores[i] >= threshold;  // false for NaN
    if (role == NabScoringFile::kOutside) {
      if (detected) {
        out.fp_value += fp_value(file.position_weight(i), profile);
        ++out.counts.fp_rows;
      } else {
        ++out.counts.tn_rows;
      }
      continue;
    }
    const auto k = static_cast<size_t>(role);
    if (!detected) {
      ++out.counts.fn_rows;
      continue;
    }
    ++out.counts.tp_rows;
    window_hit[k] = true;
    window_value[k] = std::max(window_value[k], tp_value(file.position_weight(i), profile));
  }
  for (size_t k = 0; k < file.windows().size(); ++k) {
    if (file.windows()[k].last < file.probation_rows()) {
      ++out.counts.windows_unscored;  // NAB never names it: no FN, no TP
    } else if (window_hit[k]) {
      ++out.counts.windows_detected;
      out.tp_value += window_value[k];
    } else {
      ++out.counts.windows_missed;
      out.fn_value += window_value[k];
    }
  }
  out.raw = out.tp_value + out.fp_value + out.fn_value;
  return out;
}

void add_to(NabFileScore& total, const NabFileScore& f) {
  total.raw += f.raw;
  total.tp_value += f.tp_value;
  total.fp_value += f.fp_value;
  total.fn_value += f.fn_value;
  total.null_raw += f.null_raw;
  total.perfect_raw += f.perfect_raw;
  total.counts += f.counts;
}

NabCorpusScore score_corpus_checked(std::span<const NabScoringFile> files,
                                    std::span<const std::vector<double>> scores, double threshold,
                                    const NabProfile& profile) {
  NabCorpusScore out;
  out.profile = profile;
  out.threshold = threshold;
  out.total.name = "Totals";
  out.files.reserve(files.size());
  for (size_t k = 0; k < files.size(); ++k) {
    out.files.push_back(score_checked(files[k], scores[k], threshold, profile));
    add_to(out.total, out.files.back());
  }
  out.normalized = nab_normalized_score(out.total.raw, out.total.null_raw, out.total.perfect_raw);
  return out;
}

// One scorable row of the corpus, for the sweep.
struct SweepRow {
  double score;
  int32_t window;  // corpus-wide window index, or -1 outside every window
  double position_weight;
};

}  // namespace

NabCounts& NabCounts::operator+=(const NabCounts& o) {
  tp_rows += o.tp_rows;
  fp_rows += o.fp_rows;
  fn_rows += o.fn_rows;
  tn_rows += o.tn_rows;
  windows_detected += o.windows_detected;
  windows_missed += o.windows_missed;
  windows_unscored += o.windows_unscored;
  return *this;
}

double nab_normalized_score(double raw, double null_raw, double perfect_raw) {
  const double span = perfect_raw - null_raw;
  if (span == 0.0) return std::numeric_limits<double>::quiet_NaN();
  return 100.0 * (raw - null_raw) / span;
}

NabResult<NabFileScore> score_nab_file(const NabScoringFile& file, std::span<const double> scores,
                                       double threshold, const NabProfile& profile) {
  if (std::string e = check_scores(file, scores); !e.empty()) return NabResult<NabFileScore>::failure(e);
  return score_checked(file, scores, threshold, profile);
}

NabResult<NabCorpusScore> score_nab_corpus(std::span<const NabScoringFile> files,
                                           std::span<const std::vector<double>> scores, double threshold,
                                           const NabProfile& profile) {
  if (std::string e = check_corpus(files, scores); !e.empty()) return NabResult<NabCorpusScore>::failure(e);
  return score_corpus_checked(files, scores, threshold, profile);
}

NabResult<std::vector<NabSweepResult>> sweep_nab_thresholds(std::span<const NabScoringFile> files,
                                                            std::span<const std::vector<double>> scores,
                                                            std::span<const NabProfile> profiles) {
  using R = NabResult<std::vector<NabSweepResult>>;
  if (std::string e = check_corpus(files, scores); !e.empty()) return R::failure(e);

  // Every row past probation with a score, tagged with its corpus-wide window, sorted once by descending
  // score.
  std::vector<SweepRow> rows;
  std::vector<size_t> scored_window_count;  // per file
  size_t total_windows = 0;
  for (size_t k = 0; k < files.size(); ++k) {
    const NabScoringFile& f = files[k];
    for (size_t i = f.probation_rows(); i < f.rows(); ++i) {
      const double s = scores[k][i];
      if (std::isnan(s)) continue;
      const int32_t role = f.role(i);
      const int32_t window = role >= 0 ? static_cast<int32_t>(total_windows) + role : -1;
      rows.push_back({s, window, f.position_weight(i)});
    }
    total_windows += f.windows().size();
  }
  std::sort(rows.begin(), rows.end(), [](const SweepRow& a, const SweepRow& b) { return a.score > b.score; });
  size_t distinct = 0;
  for (size_t j = 0; j < rows.size(); ++j) {
    if (j == 0 || rows[j].score != rows[j - 1].score) ++distinct;
  }

  std::vector<NabSweepResult> out;
  out.reserve(profiles.size());
  std::vector<double> window_value;
  for (const NabProfile& profile : profiles) {
    // Threshold 1.1: nothing fires, every scored window costs fnWeight.
    double total = 0.0;
    for (const NabScoringFile& f : files) total += file_null(f, profile);
    window_value.assign(total_windows, -profile.fn_weight);
    double best_total = total;
    double best_threshold = kNabNoDetectionThreshold;
    for (size_t j = 0; j < rows.size(); ++j) {
      const SweepRow& r = rows[j];
      if (r.window < 0) {
        total += fp_value(r.position_weight, profile);
      } else {
        double& v = window_value[static_cast<size_t>(r.window)];
        const double tp = tp_value(r.position_weight, profile);
        if (tp > v) {  // only the earliest (largest) detection of a window counts
          total += tp - v;
          v = tp;
        }
      }
      // A threshold's score is known once every row with that score is in; strict '>' keeps the highest
      // threshold among ties, as NAB's stable sort of the threshold list does.
      const bool last_of_score = j + 1 == rows.size() || rows[j + 1].score != r.score;
      if (last_of_score && total > best_total) {
        best_total = total;
        best_threshold = r.score;
      }
    }
    NabSweepResult result;
    result.best = score_corpus_checked(files, scores, best_threshold, profile);
    result.swept_raw = best_total;
    result.thresholds_tried = distinct + 1;
    out.push_back(std::move(result));
  }
  return out;
}

NabResult<NabSweepResult> sweep_nab_threshold(std::span<const NabScoringFile> files,
                                              std::span<const std::vector<double>> scores,
                                              const NabProfile& profile) {
  NabResult<std::vector<NabSweepResult>> all = sweep_nab_thresholds(files, scores, std::span(&profile, 1));
  if (!all) return NabResult<NabSweepResult>::failure(all.error());
  return std::move(all.value().front());
}

std::vector<double> nab_null_detector_scores(const NabScoringFile& file) {
  return std::vector<double>(file.rows(), 0.0);
}

std::vector<double> nab_perfect_detector_scores(const NabScoringFile& file) {
  std::vector<double> s(file.rows(), 0.0);
  for (const NabWindowRows& w : file.windows()) s[w.first] = 1.0;
  return s;
}

}  // namespace gridsentinel::backtest
