// The streaming isolation forest against the shared Detector conformance suite.
#include <limits>
#include <random>
#include <vector>

#include "conformance/DetectorConformance.h"
#include "detectors/iforest/StreamingIsolationForest.h"

namespace gridsentinel::testing {
namespace {

using detectors::FeatureVector;
using detectors::StreamingIsolationForest;

struct StreamingIsolationForestTraits {
  using Detector = StreamingIsolationForest;
  using Input = Detector::Input;
  static constexpr uint32_t kDim = 3;

  static Detector make(uint64_t seed) { return Detector({.dim = kDim, .seed = seed}); }

  // A Gaussian cluster with about 2% of points shifted 6 to 8 standard deviations along one random feature,
  // labelled anomalous; none in the first 300 points, which the forest needs for warm-up.
  static std::vector<Labelled<Input>> fixture(uint64_t seed) {
    std::mt19937_64 gen(seed);
    std::normal_distribution<double> normal(0.0, 1.0);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    std::vector<Labelled<Input>> out;
    for (int i = 0; i < 1500; ++i) {
      Labelled<Input> p;
      p.input.dim = kDim;
      for (uint32_t f = 0; f < kDim; ++f) p.input.values[f] = 10.0 + 2.0 * normal(gen);
      if (i >= 300 && unit(gen) < 0.02) {
        p.anomaly = true;
        const uint32_t f = static_cast<uint32_t>(unit(gen) * kDim) % kDim;
        p.input.values[f] += (unit(gen) < 0.5 ? -1.0 : 1.0) * (12.0 + 4.0 * unit(gen));
      }
      out.push_back(p);
    }
    return out;
  }

  static Input with_nan(const Input& like) {
    Input x = like;
    x.values[1] = std::numeric_limits<double>::quiet_NaN();
    return x;
  }

  static constexpr double kMinAuc = 0.9;
};

INSTANTIATE_TYPED_TEST_SUITE_P(StreamingIsolationForest, DetectorConformance,
                               ::testing::Types<StreamingIsolationForestTraits>);

}  // namespace
}  // namespace gridsentinel::testing
