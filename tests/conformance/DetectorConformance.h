#pragma once
// One conformance suite for every detector (the contract in src/detectors/Detector.h).
//
// A detector joins by defining a traits struct and instantiating the suite in its own test file:
//
//   struct ZScoreTraits {
//     using Detector = gridsentinel::detectors::ZScoreDetector;
//     using Input = Detector::Input;
//     static Detector make(uint64_t seed);                          // a fresh detector
//     static std::vector<Labelled<Input>> fixture(uint64_t seed);   // a labelled stream, anomalies marked
//     static Input with_nan(const Input& like);                     // `like` with its value(s) made NaN
//     static constexpr double kMinAuc = 0.7;                        // floor for ROC-AUC on the fixture
//   };
//   namespace gridsentinel::testing {  // the macro names the suite unqualified: instantiate in its namespace
//   INSTANTIATE_TYPED_TEST_SUITE_P(ZScore, DetectorConformance, ::testing::Types<ZScoreTraits>);
//   }
//
// Every check runs the stream prequentially (score each input, then learn it), as the pipeline does.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/StateCodec.h"
#include "detectors/Detector.h"

namespace gridsentinel::testing {

template <class Input>
struct Labelled {
  Input input;
  bool anomaly = false;
};

// ROC-AUC by the rank-sum (Mann-Whitney) formula, ties counted half.
inline double roc_auc(const std::vector<double>& scores, const std::vector<bool>& labels) {
  std::vector<size_t> idx(scores.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  double rank_sum = 0, n_pos = 0, n_neg = 0;
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j < idx.size() && scores[idx[j]] == scores[idx[i]]) ++j;
    const double avg_rank = 0.5 * static_cast<double>(i + j + 1);  // ranks are 1-based
    for (size_t k = i; k < j; ++k)
      if (labels[idx[k]]) rank_sum += avg_rank;
    i = j;
  }
  for (bool l : labels) (l ? n_pos : n_neg) += 1;
  if (n_pos == 0 || n_neg == 0) return 0.5;
  return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg);
}

template <class Traits>
std::vector<double> run_prequential(typename Traits::Detector& d,
                                    const std::vector<Labelled<typename Traits::Input>>& stream, size_t begin,
                                    size_t end) {
  std::vector<double> out;
  out.reserve(end - begin);
  for (size_t i = begin; i < end; ++i) {
    out.push_back(d.score(stream[i].input));
    d.learn(stream[i].input);
  }
  return out;
}

template <class Traits>
class DetectorConformance : public ::testing::Test {};
TYPED_TEST_SUITE_P(DetectorConformance);

TYPED_TEST_P(DetectorConformance, SatisfiesTheContractConcept) {
  static_assert(detectors::StreamingDetector<typename TypeParam::Detector>);
}

TYPED_TEST_P(DetectorConformance, SameSeedGivesSameScores) {
  const auto stream = TypeParam::fixture(7);
  auto a = TypeParam::make(42);
  auto b = TypeParam::make(42);
  const auto sa = run_prequential<TypeParam>(a, stream, 0, stream.size());
  const auto sb = run_prequential<TypeParam>(b, stream, 0, stream.size());
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) ASSERT_EQ(sa[i], sb[i]) << "at input " << i;
  EXPECT_EQ(a.save(), b.save());
}

TYPED_TEST_P(DetectorConformance, ScoresStayInUnitInterval) {
  const auto stream = TypeParam::fixture(11);
  auto d = TypeParam::make(1);
  for (double s : run_prequential<TypeParam>(d, stream, 0, stream.size())) {
    ASSERT_TRUE(std::isfinite(s));
    ASSERT_GE(s, 0.0);
    ASSERT_LE(s, 1.0);
  }
}

TYPED_TEST_P(DetectorConformance, SaveRestoreGivesIdenticalScores) {
  const auto stream = TypeParam::fixture(3);
  const size_t half = stream.size() / 2;
  auto original = TypeParam::make(5);
  run_prequential<TypeParam>(original, stream, 0, half);
  const std::string state = original.save();

  auto restored = TypeParam::make(99);  // a different seed: the state, seed included, must come from `state`
  ASSERT_TRUE(restored.restore(state));
  EXPECT_EQ(restored.save(), state);
  const auto so = run_prequential<TypeParam>(original, stream, half, stream.size());
  const auto sr = run_prequential<TypeParam>(restored, stream, half, stream.size());
  for (size_t i = 0; i < so.size(); ++i) ASSERT_EQ(so[i], sr[i]) << "at input " << half + i;
  EXPECT_EQ(original.save(), restored.save());
  // Detectors that can append their state to a writer (checkpoints do, without a string of their own)
  // append exactly save()'s bytes, after whatever the writer already holds.
  if constexpr (requires(StateWriter & w) { original.save(w); }) {
    StateWriter w;
    w.put<uint32_t>(7);
    original.save(w);
    EXPECT_EQ(w.bytes().substr(sizeof(uint32_t)), original.save());
  }
}

TYPED_TEST_P(DetectorConformance, RestoreRejectsMalformedStateAndKeepsItsOwn) {
  const auto stream = TypeParam::fixture(4);
  auto d = TypeParam::make(2);
  run_prequential<TypeParam>(d, stream, 0, stream.size() / 2);
  const std::string before = d.save();
  EXPECT_FALSE(d.restore(""));
  EXPECT_FALSE(d.restore(std::string(before.size() / 2 + 1, '\x7f')));
  EXPECT_FALSE(d.restore(before.substr(0, before.size() - 1)));
  EXPECT_FALSE(d.restore(before + "x"));
  EXPECT_EQ(d.save(), before);
}

TYPED_TEST_P(DetectorConformance, WarmUpScoresZeroUntilReady) {
  const auto stream = TypeParam::fixture(5);
  auto d = TypeParam::make(3);
  EXPECT_FALSE(d.warmed_up());
  EXPECT_EQ(d.score(stream[0].input), 0.0);
  bool became_ready = false;
  for (const auto& p : stream) {
    if (!d.warmed_up()) {
      ASSERT_EQ(d.score(p.input), 0.0) << "scored before warm-up";
    } else {
      became_ready = true;
    }
    d.learn(p.input);
  }
  EXPECT_TRUE(became_ready);
}

TYPED_TEST_P(DetectorConformance, NanInputScoresZeroAndIsNotLearned) {
  const auto stream = TypeParam::fixture(6);
  auto d = TypeParam::make(4);
  run_prequential<TypeParam>(d, stream, 0, stream.size() / 2);
  const std::string before = d.save();
  const auto nan_input = TypeParam::with_nan(stream[stream.size() / 2].input);
  EXPECT_EQ(d.score(nan_input), 0.0);
  d.learn(nan_input);
  EXPECT_EQ(d.save(), before);
}

TYPED_TEST_P(DetectorConformance, RanksLabelledAnomaliesAboveNormal) {
  const auto stream = TypeParam::fixture(8);
  auto d = TypeParam::make(6);
  const auto scores = run_prequential<TypeParam>(d, stream, 0, stream.size());
  std::vector<bool> labels;
  for (const auto& p : stream) labels.push_back(p.anomaly);
  const double auc = roc_auc(scores, labels);
  EXPECT_GE(auc, 0.5);
  EXPECT_GE(auc, TypeParam::kMinAuc);
}

REGISTER_TYPED_TEST_SUITE_P(DetectorConformance, SatisfiesTheContractConcept, SameSeedGivesSameScores,
                            ScoresStayInUnitInterval, SaveRestoreGivesIdenticalScores,
                            RestoreRejectsMalformedStateAndKeepsItsOwn, WarmUpScoresZeroUntilReady,
                            NanInputScoresZeroAndIsNotLearned, RanksLabelledAnomaliesAboveNormal);

}  // namespace gridsentinel::testing
