// iforest_oracle_cli: runs gridsentinel's isolation forests on one labelled CSV (header x0,...,xk,label;
// label 1 = anomaly) and prints one JSON line of ROC-AUCs, for tests/oracle/iforest_oracle.py to compare with
// scikit-learn.
//   batch:     IsolationForest(n_trees, max_samples) fit on every row, scored on every row, per seed;
//   streaming: StreamingIsolationForest over the rows in file order, each scored before it is learned
//              (prequential; the warm-up rows score 0), per seed.
// Usage: iforest_oracle_cli FILE.csv [--seeds N] [--trees 100] [--samples 256] [--window 2048]
// Exit status: 0 on success, 2 on bad arguments or an unreadable file.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "detectors/iforest/IsolationForest.h"
#include "detectors/iforest/StreamingIsolationForest.h"

namespace {

using gridsentinel::detectors::IsolationForest;
using gridsentinel::detectors::StreamingIsolationForest;

struct Labelled {
  IsolationForest::RowMatrix X;
  std::vector<bool> labels;
};

bool read_csv(const std::string& path, Labelled& out) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return false;
  const auto cols = static_cast<size_t>(std::count(line.begin(), line.end(), ',') + 1);
  if (cols < 2) return false;
  std::vector<double> values;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const char* p = line.c_str();
    for (size_t c = 0; c < cols; ++c) {
      char* end = nullptr;
      const double v = std::strtod(p, &end);
      if (end == p) return false;
      values.push_back(v);
      p = *end == ',' ? end + 1 : end;
    }
  }
  const size_t rows = values.size() / cols;
  out.X.resize(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols - 1));
  out.labels.resize(rows);
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c + 1 < cols; ++c)
      out.X(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c)) = values[r * cols + c];
    out.labels[r] = values[r * cols + cols - 1] != 0.0;
  }
  return rows > 0;
}

// ROC-AUC by the rank-sum (Mann-Whitney) formula, ties counted half, as sklearn.metrics.roc_auc_score.
double roc_auc(const std::vector<double>& scores, const std::vector<bool>& labels) {
  std::vector<size_t> idx(scores.size());
  std::iota(idx.begin(), idx.end(), size_t{0});
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  double rank_sum = 0, n_pos = 0, n_neg = 0;
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j < idx.size() && scores[idx[j]] == scores[idx[i]]) ++j;
    const double avg_rank = 0.5 * static_cast<double>(i + j + 1);
    for (size_t k = i; k < j; ++k)
      if (labels[idx[k]]) rank_sum += avg_rank;
    i = j;
  }
  for (bool l : labels) (l ? n_pos : n_neg) += 1;
  if (n_pos == 0 || n_neg == 0) return 0.5;
  return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg);
}

std::string json_list(const std::vector<double>& v) {
  std::ostringstream s;
  s.precision(6);
  s << '[';
  for (size_t i = 0; i < v.size(); ++i) s << (i ? ", " : "") << v[i];
  s << ']';
  return s.str();
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE.csv [--seeds N] [--trees T] [--samples S] [--window W]\n", argv[0]);
    return 2;
  }
  const std::string path = argv[1];
  uint32_t seeds = 5, trees = 100, samples = 256, window = 2048;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const auto value = static_cast<uint32_t>(std::strtoul(argv[i + 1], nullptr, 10));
    if (flag == "--seeds")
      seeds = value;
    else if (flag == "--trees")
      trees = value;
    else if (flag == "--samples")
      samples = value;
    else if (flag == "--window")
      window = value;
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  Labelled data;
  if (!read_csv(path, data)) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    return 2;
  }
  const auto rows = static_cast<size_t>(data.X.rows());
  const auto dim = static_cast<uint32_t>(data.X.cols());

  std::vector<double> batch_auc, stream_auc;
  const auto t_batch = std::chrono::steady_clock::now();
  for (uint32_t seed = 0; seed < seeds; ++seed) {
    IsolationForest forest({.n_trees = trees, .max_samples = samples, .seed = seed});
    forest.fit(data.X);
    const Eigen::VectorXd s = forest.score_samples(data.X);
    batch_auc.push_back(roc_auc(std::vector<double>(s.begin(), s.end()), data.labels));
  }
  const double batch_seconds = seconds_since(t_batch);

  const auto t_stream = std::chrono::steady_clock::now();
  for (uint32_t seed = 0; seed < seeds; ++seed) {
    StreamingIsolationForest detector({.dim = dim,
                                       .n_trees = trees,
                                       .subsample = samples,
                                       .window = window,
                                       .min_points = samples,
                                       .seed = seed});
    std::vector<double> scores(rows);
    for (size_t r = 0; r < rows; ++r) scores[r] = detector.score_then_learn({data.X.data() + r * dim, dim});
    stream_auc.push_back(roc_auc(scores, data.labels));
  }
  const double stream_seconds = seconds_since(t_stream);

  std::printf(
      "{\"file\": \"%s\", \"rows\": %zu, \"dims\": %u, \"batch_auc\": %s, \"stream_auc\": %s, "
      "\"batch_seconds\": %.3f, \"stream_seconds\": %.3f}\n",
      path.c_str(), rows, dim, json_list(batch_auc).c_str(), json_list(stream_auc).c_str(), batch_seconds,
      stream_seconds);
  return 0;
}
