#include "backtest/BacktestRunner.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <system_error>

#include "backtest/NabData.h"
#include "backtest/NabReport.h"
#include "backtest/NabScoringFile.h"

namespace gridsentinel::backtest {

namespace {

std::vector<NabProfile> default_profiles() {
  return {{"standard", 1.0, 0.11, 1.0, 1.0},
          {"reward_low_FP_rate", 1.0, 0.22, 1.0, 1.0},
          {"reward_low_FN_rate", 1.0, 0.11, 2.0, 1.0}};
}

// v with `decimals` decimals; decimals < 0: shortest (%g).
std::string fmt(double v, int decimals) {
  char buf[64];
  if (decimals < 0) {
    std::snprintf(buf, sizeof buf, "%g", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  }
  return buf;
}

// The single-series corpus: the CSV and the windows JSON entry that names it (or the JSON's only entry).
NabResult<NabCorpus> load_single(const BacktestOptions& o) {
  using R = NabResult<NabCorpus>;
  const std::string name = o.series_csv.filename().string();
  NabResult<NabSeries> series = load_nab_series(o.series_csv, name);
  if (!series) return R::failure(series.error());
  NabCorpusFile file;
  file.series = std::move(series).value();
  if (!o.windows_json.empty()) {
    NabResult<NabWindowMap> map = load_nab_windows(o.windows_json);
    if (!map) return R::failure(map.error());
    const std::vector<NabWindow>* found = nullptr;
    for (const auto& [key, windows] : *map) {
      const std::string_view k = key;
      if (k == name || (k.size() > name.size() && k.ends_with("/" + name))) found = &windows;
    }
    if (found == nullptr && map->size() == 1) found = &map->front().second;
    if (found == nullptr) return R::failure(o.windows_json.string() + ": no entry names " + name);
    file.windows = *found;
  }
  NabCorpus corpus;
  corpus.files.push_back(std::move(file));
  return corpus;
}

bool write_rows_csv(const std::filesystem::path& path, const NabCorpusFile& f, const NabScoringFile& sf,
                    const std::vector<double>& scores) {
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) return false;
  std::ofstream out(path);
  if (!out) return false;
  out << "timestamp,value,anomaly_score,label\n";
  char buf[64];
  for (size_t i = 0; i < f.series.size(); ++i) {
    const int32_t role = sf.role(i);
    bool in_window = role >= 0;
    if (role == NabScoringFile::kProbation) {  // probation hides the window: look it up by row
      for (const auto& w : sf.windows()) in_window = in_window || (i >= w.first && i <= w.last);
    }
    out << format_nab_timestamp(f.series.timestamps_ms[i]) << ',';
    std::snprintf(buf, sizeof buf, "%.10g,%.6f,%d\n", f.series.values[i], scores[i], in_window ? 1 : 0);
    out << buf;
  }
  return static_cast<bool>(out);
}

}  // namespace

NabResult<BacktestSummary> run_backtest(const BacktestOptions& o,
                                        const std::function<void(const std::string&)>& progress) {
  using R = NabResult<BacktestSummary>;
  const bool single = !o.series_csv.empty();
  NabResult<NabCorpus> corpus = single ? load_single(o) : load_nab_corpus(o.nab_dir);
  if (!corpus) return R::failure(corpus.error());
  std::vector<NabProfile> profiles = default_profiles();
  if (!single) {
    const auto path = o.nab_dir / "config" / "profiles.json";
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) {
      NabResult<std::vector<NabProfile>> loaded = load_nab_profiles(path);
      if (!loaded) return R::failure(loaded.error());
      profiles = std::move(loaded).value();
    }
  }
  if (profiles.empty()) return R::failure("no scoring profiles");
  NabResult<std::vector<NabScoringFile>> prepared = prepare_nab_corpus(*corpus);
  if (!prepared) return R::failure(prepared.error());

  BacktestSummary summary;
  std::vector<std::vector<double>> scores;
  scores.reserve(corpus->files.size());
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t k = 0; k < corpus->files.size(); ++k) {
    const NabCorpusFile& f = corpus->files[k];
    const auto f0 = std::chrono::steady_clock::now();
    try {
      scores.push_back(backtest_score_series(f.series.timestamps_ms, f.series.values, o.scorer));
    } catch (const std::exception& e) {  // an invalid scorer configuration (construction only)
      return R::failure(std::string("scorer: ") + e.what());
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - f0).count();
    summary.rows += f.series.size();
    if (!o.out_dir.empty() && !write_rows_csv(o.out_dir / f.series.name, f, (*prepared)[k], scores.back())) {
      return R::failure((o.out_dir / f.series.name).string() + ": cannot write");
    }
    if (progress) {
      std::ostringstream line;
      line << '[' << (k + 1) << '/' << corpus->files.size() << "] " << f.series.name << ": "
           << f.series.size() << " rows, " << fmt(secs, 2) << " s";
      progress(line.str());
    }
  }
  summary.files = corpus->files.size();
  summary.scoring_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  NabResult<std::vector<NabSweepResult>> swept = sweep_nab_thresholds(*prepared, scores, profiles);
  if (!swept) return R::failure(swept.error());
  summary.swept = std::move(swept).value();
  for (const auto& p : profiles) {
    NabResult<NabCorpusScore> fixed = score_nab_corpus(*prepared, scores, o.threshold, p);
    if (!fixed) return R::failure(fixed.error());
    summary.fixed.push_back(std::move(fixed).value());
  }

  size_t table = 0;
  bool found = false;
  for (size_t i = 0; i < profiles.size(); ++i) {
    if (profiles[i].name == o.profile) {
      table = i;
      found = true;
    }
  }
  if (!found) return R::failure("unknown profile '" + o.profile + "'");

  std::ostringstream r;
  r << "NAB backtest: " << summary.files << " files, " << summary.rows << " rows, scored in "
    << fmt(summary.scoring_seconds, 2) << " s\n\n";
  std::vector<NabCorpusScore> best;
  for (const auto& s : summary.swept) best.push_back(s.best);
  r << "Threshold swept over the corpus (NAB scoreboard; tuned on the labels):\n"
    << format_nab_profile_table(best) << "\n";
  r << "Fixed threshold " << fmt(o.threshold, -1) << ":\n" << format_nab_profile_table(summary.fixed) << "\n";
  for (size_t i = 0; i < profiles.size(); ++i) {
    r << "score " << profiles[i].name << " swept " << fmt(summary.swept[i].best.normalized, 2)
      << " (threshold " << fmt(summary.swept[i].best.threshold, 6) << ") fixed "
      << fmt(summary.fixed[i].normalized, 2) << "\n";
  }
  r << "\nPer file, profile " << o.profile << ", swept threshold:\n"
    << format_nab_file_table(summary.swept[table].best) << "\n";
  r << "Per file, profile " << o.profile << ", fixed threshold:\n"
    << format_nab_file_table(summary.fixed[table]);
  summary.report = r.str();
  return summary;
}

}  // namespace gridsentinel::backtest
