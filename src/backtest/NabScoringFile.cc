#include "backtest/NabScoringFile.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace gridsentinel::backtest {

size_t nab_probation_rows(size_t rows, double probation_percent) {
  // NAB: min(math.floor(p * n), p * 5000), compared as `i >= length`; the same double arithmetic here, then
  // rounded up so that a fractional length (p * 5000 for p other than 0.15) keeps NAB's comparison.
  const double length =
      std::min(std::floor(probation_percent * static_cast<double>(rows)), probation_percent * 5000.0);
  return length > 0.0 ? static_cast<size_t>(std::ceil(length)) : 0;  // also 0 for a NaN percent
}

double nab_scaled_sigmoid(double p) {
  if (p > 3.0) return -1.0;  // "FP well behind window"
  // NAB: 2 * sigmoid(-5 p) - 1 with sigmoid(x) = 1 / (1 + exp(-x)); the same operations in the same order.
  return 2.0 * (1.0 / (1.0 + std::exp(5.0 * p))) - 1.0;
}

NabResult<NabScoringFile> NabScoringFile::prepare(std::string name, std::span<const int64_t> timestamps_ms,
                                                  std::span<const NabWindow> windows,
                                                  double probation_percent) {
  using R = NabResult<NabScoringFile>;
  const size_t n = timestamps_ms.size();
  if (n == 0) return R::failure(name + ": no rows to score");
  if (n > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
    return R::failure(name + ": too many rows");

  NabScoringFile f;
  f.name_ = std::move(name);
  f.probation_ = nab_probation_rows(n, probation_percent);

  // Resolve each window to rows the way NAB's sweep enters and leaves it: enter at the first row (past the
  // previous window) stamped `start`, leave at the first row from there stamped `end`.
  size_t from = 0;
  for (size_t k = 0; k < windows.size(); ++k) {
    const NabWindow& w = windows[k];
    const auto stamp = [&](size_t begin, int64_t t) {
      const auto it =
          std::find(timestamps_ms.begin() + static_cast<std::ptrdiff_t>(begin), timestamps_ms.end(), t);
      return static_cast<size_t>(it - timestamps_ms.begin());
    };
    const std::string where = f.name_ + " window " + std::to_string(k) + " [" +
                              format_nab_timestamp(w.start_ms) + ", " + format_nab_timestamp(w.end_ms) + "]";
    if (w.end_ms < w.start_ms) return R::failure(where + ": end is before start");
    const size_t first = stamp(from, w.start_ms);
    if (first == n)
      return R::failure(where + ": no row (after the previous window) is stamped with its start");
    const size_t last = stamp(first, w.end_ms);
    if (last == n) return R::failure(where + ": no row after its start is stamped with its end");
    f.windows_.push_back({first, last});
    from = last + 1;
  }

  f.role_.assign(n, kOutside);
  f.weight_.assign(n, 0.0);
  // Outside rows before the first window: S = -1 (NAB: no preceding window).
  const size_t first_window_row = f.windows_.empty() ? n : f.windows_.front().first;
  std::fill(f.weight_.begin(), f.weight_.begin() + static_cast<std::ptrdiff_t>(first_window_row), -1.0);
  for (size_t k = 0; k < f.windows_.size(); ++k) {
    const NabWindowRows& w = f.windows_[k];
    const double width = static_cast<double>(w.width());
    for (size_t i = w.first; i <= w.last; ++i) {
      f.role_[i] = static_cast<int32_t>(k);
      f.weight_[i] = nab_scaled_sigmoid(-static_cast<double>(w.last - i + 1) / width);
    }
    // Outside rows up to the next window, measured from this one's last row. A one-row window gives
    // 1 / 0 = +inf -> S = -1, where NAB would raise ZeroDivisionError.
    const size_t end = k + 1 < f.windows_.size() ? f.windows_[k + 1].first : n;
    const double denominator = width - 1.0;
    for (size_t i = w.last + 1; i < end; ++i) {
      const double past = static_cast<double>(i - w.last);
      f.weight_[i] = nab_scaled_sigmoid(denominator > 0.0 ? past / denominator
                                                          : std::numeric_limits<double>::infinity());
    }
  }
  for (size_t i = 0; i < std::min(f.probation_, n); ++i) {
    f.role_[i] = kProbation;
    f.weight_[i] = 0.0;
  }
  for (const NabWindowRows& w : f.windows_) {
    if (w.last >= f.probation_) ++f.scored_windows_;
  }
  return f;
}

NabResult<NabScoringFile> NabScoringFile::prepare(const NabCorpusFile& file, double probation_percent) {
  return prepare(file.series.name, file.series.timestamps_ms, file.windows, probation_percent);
}

NabResult<std::vector<NabScoringFile>> prepare_nab_corpus(const NabCorpus& corpus, double probation_percent) {
  std::vector<NabScoringFile> out;
  out.reserve(corpus.files.size());
  for (const NabCorpusFile& file : corpus.files) {
    NabResult<NabScoringFile> prepared = NabScoringFile::prepare(file, probation_percent);
    if (!prepared) return NabResult<std::vector<NabScoringFile>>::failure(prepared.error());
    out.push_back(std::move(prepared).value());
  }
  return out;
}

}  // namespace gridsentinel::backtest
