#include "backtest/NabReport.h"

#include <cstdarg>
#include <cstdio>

namespace gridsentinel::backtest {
namespace {

// printf-style append; the tables are small, so one fixed buffer per line is enough (longer lines are cut).
[[gnu::format(printf, 2, 3)]] void appendf(std::string& out, const char* fmt, ...) {
  char buf[512];
  va_list args;
  va_start(args, fmt);
  const int n = std::vsnprintf(buf, sizeof buf, fmt, args);
  va_end(args);
  if (n > 0) out.append(buf, static_cast<size_t>(n) < sizeof buf ? static_cast<size_t>(n) : sizeof buf - 1);
}

void file_line(std::string& out, const NabFileScore& f) {
  const NabCounts& c = f.counts;
  appendf(out, "%-58s %10.4f %9.4f %9.4f %9.4f %5zu %5zu %7zu %7zu %7zu %8zu\n", f.name.c_str(), f.raw,
          f.tp_value, f.fp_value, f.fn_value, c.windows_detected, c.windows_missed, c.tp_rows, c.fp_rows,
          c.fn_rows, c.tn_rows);
}

}  // namespace

std::string format_nab_file_table(const NabCorpusScore& score) {
  std::string out;
  appendf(out,
          "NAB profile %s (TP %.4g, FP %.4g, FN %.4g), threshold %.6g: raw %.4f, null %.4f, perfect %.4f, "
          "normalised %.2f\n",
          score.profile.name.c_str(), score.profile.tp_weight, score.profile.fp_weight,
          score.profile.fn_weight, score.threshold, score.total.raw, score.total.null_raw,
          score.total.perfect_raw, score.normalized);
  appendf(out, "%-58s %10s %9s %9s %9s %5s %5s %7s %7s %7s %8s\n", "file", "raw", "tp", "fp", "fn", "win+",
          "win-", "TProws", "FProws", "FNrows", "TNrows");
  for (const NabFileScore& f : score.files) file_line(out, f);
  file_line(out, score.total);
  return out;
}

std::string format_nab_profile_table(std::span<const NabCorpusScore> scores) {
  std::string out;
  appendf(out, "%-20s %10s %11s %11s %11s %10s %5s %5s %7s\n", "profile", "threshold", "raw", "null",
          "perfect", "normalised", "win+", "win-", "fp_det");
  for (const NabCorpusScore& s : scores) {
    appendf(out, "%-20s %10.6g %11.4f %11.4f %11.4f %10.2f %5zu %5zu %7zu\n", s.profile.name.c_str(),
            s.threshold, s.total.raw, s.total.null_raw, s.total.perfect_raw, s.normalized,
            s.total.counts.windows_detected, s.total.counts.windows_missed, s.total.counts.fp_rows);
  }
  return out;
}

}  // namespace gridsentinel::backtest
