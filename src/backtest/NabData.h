#pragma once
// Loading the Numenta Anomaly Benchmark (NAB) corpus as laid out in shared/data/nab/ (NAB commit ea702d7):
//   data/<category>/<name>.csv    header `timestamp,value`, one row a line, stamps `YYYY-MM-DD HH:MM:SS`
//   labels/combined_windows.json  {"<category>/<name>.csv": [["start", "end"], ...]}, stamps end in .000000
//   labels/combined_labels.json   {"<category>/<name>.csv": ["timestamp", ...]}, labelled anomaly points
//   config/profiles.json          {"<profile>": {"CostMatrix": {"tpWeight": .., "fpWeight": .., ...}}}
//
// Timestamps are read as UTC and kept as milliseconds since the Unix epoch (a fraction finer than 1 ms is
// truncated). Rows are kept in file order, exactly as NAB scores them: irregular steps, duplicate timestamps
// and steps backwards (the corpus has all three) are tolerated and only counted in NabSeries, because NAB's
// scoring is by row index and any reordering would change which rows are scored.
//
// Every loader returns NabResult: a bad file yields a message naming the file and the line (CSV), or the file
// and the JSON key/position (JSON), and nothing is thrown. Blank lines in a CSV are skipped, as pandas (NAB's
// reader) does; a trailing "\r" (two files have CRLF endings) and a UTF-8 BOM are ignored.
//
// Not thread-hostile: plain functions over plain data; the returned structs own their memory.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backtest/NabResult.h"

namespace gridsentinel::backtest {

// One NAB series. `name` is the corpus key, "<category>/<name>.csv" (the key used by the labels files).
struct NabSeries {
  std::string name;
  std::vector<int64_t> timestamps_ms;  // UTC ms since epoch, file order
  std::vector<double> values;          // same length as timestamps_ms; all finite
  size_t duplicate_steps = 0;          // rows whose timestamp equals the previous row's
  size_t backward_steps = 0;           // rows whose timestamp is before the previous row's

  size_t size() const { return timestamps_ms.size(); }
};

// One labelled anomaly window, both ends inclusive (NAB scores the rows from the one stamped `start_ms` to
// the one stamped `end_ms`).
struct NabWindow {
  int64_t start_ms = 0;
  int64_t end_ms = 0;
};

// One scoring profile of config/profiles.json. NAB ignores tnWeight; it is kept only to echo the file.
struct NabProfile {
  std::string name;
  double tp_weight = 1.0;
  double fp_weight = 0.11;
  double fn_weight = 1.0;
  double tn_weight = 1.0;
};

// One labelled file of the corpus.
struct NabCorpusFile {
  NabSeries series;
  std::vector<NabWindow> windows;     // from combined_windows.json, ascending, non-overlapping
  std::vector<int64_t> label_points;  // from combined_labels.json (informational: NAB scores the windows)
};

// The files named in combined_windows.json, sorted by name.
struct NabCorpus {
  std::vector<NabCorpusFile> files;
};

// "YYYY-MM-DD HH:MM:SS" with an optional fraction ".d...d" (1 to 9 digits; below 1 ms truncated), read as
// UTC. Nothing else is accepted (no zone, no 'T'); nullopt on any deviation or an impossible date/time.
std::optional<int64_t> parse_nab_timestamp(std::string_view text);

// The inverse, for messages and tables: "YYYY-MM-DD HH:MM:SS" (".mmm" appended only if ms != 0).
std::string format_nab_timestamp(int64_t ms);

// Parses CSV text; `source` names the text in error messages (usually the path). Errors: missing or wrong
// header, a line without exactly two fields, a bad timestamp, a value that is not a finite number, no rows.
NabResult<NabSeries> parse_nab_series(std::string_view csv_text, std::string name, std::string_view source);
NabResult<NabSeries> load_nab_series(const std::filesystem::path& csv_path, std::string name);

// combined_windows.json -> name -> windows. Errors: unreadable file, JSON syntax (with NAB's line/column),
// a value that is not a list of [start, end] string pairs, a bad timestamp, end < start, windows out of order
// or overlapping (NAB walks the windows in order and cannot score overlapping ones).
using NabWindowMap = std::vector<std::pair<std::string, std::vector<NabWindow>>>;  // sorted by name
NabResult<NabWindowMap> load_nab_windows(const std::filesystem::path& json_path);

// combined_labels.json -> name -> labelled timestamps (in file order).
using NabLabelPointMap = std::vector<std::pair<std::string, std::vector<int64_t>>>;  // sorted by name
NabResult<NabLabelPointMap> load_nab_label_points(const std::filesystem::path& json_path);

// config/profiles.json, in file order (standard, reward_low_FP_rate, reward_low_FN_rate). Each profile needs
// finite non-negative tpWeight, fpWeight and fnWeight; tnWeight defaults to 1 when absent.
NabResult<std::vector<NabProfile>> load_nab_profiles(const std::filesystem::path& json_path);

// The whole corpus under `nab_dir` (the folder holding data/, labels/): every file named in
// labels/combined_windows.json, read from data/<name>, with its windows and its combined_labels.json points.
// A data file that no windows entry names is not part of the corpus (as in NAB); a named file that is missing
// or bad is an error.
NabResult<NabCorpus> load_nab_corpus(const std::filesystem::path& nab_dir);

}  // namespace gridsentinel::backtest
