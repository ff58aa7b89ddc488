#include "backtest/NabData.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <system_error>
#include <utility>

#include <nlohmann/json.hpp>

namespace gridsentinel::backtest {
namespace {

using Json = nlohmann::ordered_json;  // ordered: profiles keep the order of the file

constexpr int64_t kMsPerSecond = 1000;
constexpr int64_t kMsPerDay = 86400 * kMsPerSecond;

// Parses exactly `len` decimal digits at text[pos].
std::optional<int> digits(std::string_view text, size_t pos, size_t len) {
  if (pos + len > text.size()) return std::nullopt;
  int v = 0;
  for (size_t i = pos; i < pos + len; ++i) {
    const char c = text[i];
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

std::optional<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return std::move(buf).str();
}

std::string_view strip_bom(std::string_view s) {
  constexpr std::string_view kBom = "\xEF\xBB\xBF";
  if (s.substr(0, kBom.size()) == kBom) s.remove_prefix(kBom.size());
  return s;
}

// Parses a JSON file, turning nlohmann's syntax error (which carries line and column) into a message.
NabResult<Json> parse_json_file(const std::filesystem::path& path) {
  const std::optional<std::string> text = read_file(path);
  if (!text) return NabResult<Json>::failure(path.string() + ": cannot read file");
  // Start-up code, not per-row: nlohmann reports positions only through its exception, caught right here.
  try {
    return Json::parse(strip_bom(*text));
  } catch (const Json::parse_error& e) {
    return NabResult<Json>::failure(path.string() + ": " + e.what());
  }
}

std::string key_context(const std::filesystem::path& path, const std::string& key) {
  return path.string() + ": key \"" + key + "\"";
}

// A timestamp string inside a JSON value, with a message naming where it sits.
NabResult<int64_t> json_timestamp(const Json& v, const std::string& where) {
  if (!v.is_string()) return NabResult<int64_t>::failure(where + ": expected a timestamp string");
  const auto& s = v.get_ref<const std::string&>();
  const std::optional<int64_t> t = parse_nab_timestamp(s);
  if (!t) return NabResult<int64_t>::failure(where + ": bad timestamp \"" + s + "\"");
  return *t;
}

}  // namespace

std::optional<int64_t> parse_nab_timestamp(std::string_view text) {
  // Fixed layout: YYYY-MM-DD HH:MM:SS[.f...]
  if (text.size() < 19 || text[4] != '-' || text[7] != '-' || text[10] != ' ' || text[13] != ':' ||
      text[16] != ':') {
    return std::nullopt;
  }
  const auto year = digits(text, 0, 4), month = digits(text, 5, 2), day = digits(text, 8, 2);
  const auto hour = digits(text, 11, 2), minute = digits(text, 14, 2), second = digits(text, 17, 2);
  if (!year || !month || !day || !hour || !minute || !second) return std::nullopt;
  if (*hour > 23 || *minute > 59 || *second > 59) return std::nullopt;  // no leap seconds in NAB
  int64_t frac_ms = 0;
  if (text.size() > 19) {
    const size_t n = text.size() - 20;
    if (text[19] != '.' || n < 1 || n > 9) return std::nullopt;
    const auto frac = digits(text, 20, n);
    if (!frac) return std::nullopt;
    int64_t f = *frac;
    for (size_t i = n; i < 3; ++i) f *= 10;  // ".5" -> 500 ms
    for (size_t i = 3; i < n; ++i) f /= 10;  // ".000000" -> 0 ms (truncated)
    frac_ms = f;
  }
  const std::chrono::year_month_day ymd{std::chrono::year{*year},
                                        std::chrono::month{static_cast<unsigned>(*month)},
                                        std::chrono::day{static_cast<unsigned>(*day)}};
  if (!ymd.ok()) return std::nullopt;
  const int64_t days = std::chrono::sys_days{ymd}.time_since_epoch().count();
  return days * kMsPerDay + ((*hour * 60 + *minute) * 60 + *second) * kMsPerSecond + frac_ms;
}

std::string format_nab_timestamp(int64_t ms) {
  const int64_t days = (ms >= 0 ? ms : ms - (kMsPerDay - 1)) / kMsPerDay;  // floor division
  const int64_t in_day = ms - days * kMsPerDay;
  const std::chrono::year_month_day ymd{std::chrono::sys_days{std::chrono::days{days}}};
  const int64_t secs = in_day / kMsPerSecond;
  char buf[48];
  int len = std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02d:%02d:%02d", static_cast<int>(ymd.year()),
                          static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                          static_cast<int>(secs / 3600), static_cast<int>(secs / 60 % 60),
                          static_cast<int>(secs % 60));
  if (const int64_t rest = in_day % kMsPerSecond; rest != 0 && len > 0) {
    std::snprintf(buf + len, sizeof buf - static_cast<size_t>(len), ".%03d", static_cast<int>(rest));
  }
  return buf;
}

NabResult<NabSeries> parse_nab_series(std::string_view csv_text, std::string name, std::string_view source) {
  using R = NabResult<NabSeries>;
  const std::string src(source);
  auto fail = [&src](size_t line, const std::string& what) {
    return R::failure(src + ":" + std::to_string(line) + ": " + what);
  };

  NabSeries s;
  s.name = std::move(name);
  std::string_view rest = strip_bom(csv_text);
  size_t line_no = 0;
  bool header_seen = false;
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;  // pandas skips blank lines
    if (!header_seen) {
      if (line != "timestamp,value") return fail(line_no, "expected header \"timestamp,value\"");
      header_seen = true;
      continue;
    }
    const size_t comma = line.find(',');
    if (comma == std::string_view::npos || line.find(',', comma + 1) != std::string_view::npos) {
      return fail(line_no, "expected two fields \"timestamp,value\"");
    }
    const std::string_view ts_text = line.substr(0, comma);
    std::string_view value_text = line.substr(comma + 1);
    const std::optional<int64_t> ts = parse_nab_timestamp(ts_text);
    if (!ts) return fail(line_no, "bad timestamp \"" + std::string(ts_text) + "\"");
    if (!value_text.empty() && value_text.front() == '+') value_text.remove_prefix(1);
    double value = 0.0;
    const auto [end, ec] = std::from_chars(value_text.data(), value_text.data() + value_text.size(), value);
    if (ec != std::errc() || end != value_text.data() + value_text.size() || !std::isfinite(value)) {
      return fail(line_no, "bad value \"" + std::string(line.substr(comma + 1)) + "\"");
    }
    if (!s.timestamps_ms.empty()) {
      if (*ts == s.timestamps_ms.back()) ++s.duplicate_steps;
      if (*ts < s.timestamps_ms.back()) ++s.backward_steps;
    }
    s.timestamps_ms.push_back(*ts);
    s.values.push_back(value);
  }
  if (!header_seen) return fail(1, "empty file (expected header \"timestamp,value\")");
  if (s.timestamps_ms.empty()) return fail(line_no, "no data rows");
  return s;
}

NabResult<NabSeries> load_nab_series(const std::filesystem::path& csv_path, std::string name) {
  const std::optional<std::string> text = read_file(csv_path);
  if (!text) return NabResult<NabSeries>::failure(csv_path.string() + ": cannot read file");
  return parse_nab_series(*text, std::move(name), csv_path.string());
}

NabResult<NabWindowMap> load_nab_windows(const std::filesystem::path& json_path) {
  using R = NabResult<NabWindowMap>;
  NabResult<Json> doc = parse_json_file(json_path);
  if (!doc) return R::failure(doc.error());
  if (!doc->is_object()) return R::failure(json_path.string() + ": expected an object of file -> windows");
  NabWindowMap out;
  for (const auto& [key, list] : doc->items()) {
    const std::string ctx = key_context(json_path, key);
    if (!list.is_array()) return R::failure(ctx + ": expected a list of [start, end] pairs");
    std::vector<NabWindow> windows;
    for (size_t i = 0; i < list.size(); ++i) {
      const Json& pair = list[i];
      const std::string where = ctx + " window " + std::to_string(i);
      if (!pair.is_array() || pair.size() != 2) return R::failure(where + ": expected [start, end]");
      const NabResult<int64_t> start = json_timestamp(pair[0], where + " start");
      if (!start) return R::failure(start.error());
      const NabResult<int64_t> end = json_timestamp(pair[1], where + " end");
      if (!end) return R::failure(end.error());
      if (*end < *start) return R::failure(where + ": end is before start");
      if (!windows.empty() && *start <= windows.back().end_ms) {
        return R::failure(where +
                          ": starts before the previous window ends (windows must be ascending, apart)");
      }
      windows.push_back({*start, *end});
    }
    out.emplace_back(key, std::move(windows));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

NabResult<NabLabelPointMap> load_nab_label_points(const std::filesystem::path& json_path) {
  using R = NabResult<NabLabelPointMap>;
  NabResult<Json> doc = parse_json_file(json_path);
  if (!doc) return R::failure(doc.error());
  if (!doc->is_object()) return R::failure(json_path.string() + ": expected an object of file -> timestamps");
  NabLabelPointMap out;
  for (const auto& [key, list] : doc->items()) {
    const std::string ctx = key_context(json_path, key);
    if (!list.is_array()) return R::failure(ctx + ": expected a list of timestamps");
    std::vector<int64_t> points;
    for (size_t i = 0; i < list.size(); ++i) {
      const NabResult<int64_t> t = json_timestamp(list[i], ctx + " label " + std::to_string(i));
      if (!t) return R::failure(t.error());
      points.push_back(*t);
    }
    out.emplace_back(key, std::move(points));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

NabResult<std::vector<NabProfile>> load_nab_profiles(const std::filesystem::path& json_path) {
  using R = NabResult<std::vector<NabProfile>>;
  NabResult<Json> doc = parse_json_file(json_path);
  if (!doc) return R::failure(doc.error());
  if (!doc->is_object())
    return R::failure(json_path.string() + ": expected an object of profile -> CostMatrix");
  std::vector<NabProfile> out;
  for (const auto& [name, body] : doc->items()) {
    const std::string ctx = key_context(json_path, name);
    if (!body.is_object() || !body.contains("CostMatrix") || !body["CostMatrix"].is_object()) {
      return R::failure(ctx + ": expected {\"CostMatrix\": {...}}");
    }
    const Json& m = body["CostMatrix"];
    auto weight = [&m](const char* key, double fallback, bool required) -> std::optional<double> {
      if (!m.contains(key)) return required ? std::nullopt : std::optional<double>(fallback);
      if (!m[key].is_number()) return std::nullopt;
      const double w = m[key].get<double>();
      return std::isfinite(w) && w >= 0.0 ? std::optional<double>(w) : std::nullopt;
    };
    NabProfile p;
    p.name = name;
    const auto tp = weight("tpWeight", 0.0, true), fp = weight("fpWeight", 0.0, true);
    const auto fn = weight("fnWeight", 0.0, true), tn = weight("tnWeight", 1.0, false);
    if (!tp || !fp || !fn || !tn) {
      return R::failure(ctx + ": CostMatrix needs finite, non-negative tpWeight, fpWeight and fnWeight");
    }
    p.tp_weight = *tp;
    p.fp_weight = *fp;
    p.fn_weight = *fn;
    p.tn_weight = *tn;
    out.push_back(std::move(p));
  }
  if (out.empty()) return R::failure(json_path.string() + ": no profiles");
  return out;
}

NabResult<NabCorpus> load_nab_corpus(const std::filesystem::path& nab_dir) {
  using R = NabResult<NabCorpus>;
  NabResult<NabWindowMap> windows = load_nab_windows(nab_dir / "labels" / "combined_windows.json");
  if (!windows) return R::failure(windows.error());
  NabResult<NabLabelPointMap> points = load_nab_label_points(nab_dir / "labels" / "combined_labels.json");
  if (!points) return R::failure(points.error());

  NabCorpus corpus;
  corpus.files.reserve(windows->size());
  for (auto& [name, file_windows] : windows.value()) {
    NabResult<NabSeries> series = load_nab_series(nab_dir / "data" / name, name);
    if (!series) return R::failure(series.error());
    NabCorpusFile file{std::move(series).value(), std::move(file_windows), {}};
    const auto it = std::lower_bound(points->begin(), points->end(), name,
                                     [](const auto& entry, const std::string& n) { return entry.first < n; });
    if (it != points->end() && it->first == name) file.label_points = it->second;
    corpus.files.push_back(std::move(file));
  }
  return corpus;
}

}  // namespace gridsentinel::backtest
