#include "detectors/drift/KsDriftDetector.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <stdexcept>
#include <utility>

#include "common/StateCodec.h"

namespace gridsentinel::detectors {
namespace {

constexpr uint8_t kStateVersion = 1;
constexpr uint32_t kMinSampleSize = 8;
constexpr uint32_t kMaxSampleSize = 10000;  // keeps kAuto on the exact p-value and memory bounded
constexpr uint32_t kMaxPendingFindings = 100000;
constexpr uint32_t kMaxFeatures = 1u << 16;
constexpr uint32_t kMaxNameLength = 1024;

void put_window(StateWriter& w, const EventWindow& win) {
  w.put(win.start_ms);
  w.put(win.end_ms);
  w.put(win.size);
}

bool get_window(StateReader& r, EventWindow& win) {
  return r.get(win.start_ms) && r.get(win.end_ms) && r.get(win.size) && win.start_ms <= win.end_ms;
}

bool valid_method(uint8_t m) {
  return m <= static_cast<uint8_t>(KsMethod::kAsymp);
}

bool is_probability(double x) {
  return x >= 0.0 && x <= 1.0;
}

void put_config(StateWriter& w, const KsDriftConfig& c) {
  w.put(c.reference_size);
  w.put(c.recent_size);
  w.put(c.test_every);
  w.put(c.alpha);
  w.put(c.d_min);
  w.put(c.max_pending_findings);
  w.put(static_cast<uint8_t>(c.method));
}

}  // namespace

std::string KsDriftConfig::validate() const {
  if (reference_size < kMinSampleSize || reference_size > kMaxSampleSize)
    return "reference_size must be in [8, 10000]";
  if (recent_size < kMinSampleSize || recent_size > kMaxSampleSize)
    return "recent_size must be in [8, 10000]";
  if (test_every < 1 || test_every > recent_size) return "test_every must be in [1, recent_size]";
  if (!(alpha > 0.0 && alpha < 1.0)) return "alpha must be in (0, 1)";
  if (!(d_min >= 0.0 && d_min < 1.0)) return "d_min must be in [0, 1)";
  if (max_pending_findings < 1 || max_pending_findings > kMaxPendingFindings)
    return "max_pending_findings must be in [1, 100000]";
  if (!valid_method(static_cast<uint8_t>(method))) return "unknown method";
  return {};
}

KsDriftDetector::KsDriftDetector(KsDriftConfig config, std::vector<std::string> features)
    : config_(config), names_(std::move(features)) {
  if (const std::string err = config_.validate(); !err.empty())
    throw std::invalid_argument("KsDriftConfig: " + err);
  if (names_.empty() || names_.size() > kMaxFeatures)
    throw std::invalid_argument("KsDriftDetector: needs 1 to 65536 features");
  if (std::set<std::string>(names_.begin(), names_.end()).size() != names_.size())
    throw std::invalid_argument("KsDriftDetector: duplicate feature name");
  for (const auto& n : names_)
    if (n.empty() || n.size() > kMaxNameLength)
      throw std::invalid_argument("KsDriftDetector: feature names must have 1 to 1024 characters");

  const uint32_t tests_per_turnover = (config_.recent_size + config_.test_every - 1) / config_.test_every;
  alpha_per_test_ = config_.alpha / (static_cast<double>(names_.size()) * tests_per_turnover);
  features_.reserve(names_.size());
  for (size_t i = 0; i < names_.size(); ++i)
    features_.push_back(FeatureState{DriftWindows(config_.reference_size, config_.recent_size)});
  pending_.resize(config_.max_pending_findings);
  scratch_.reserve(config_.recent_size);
}

bool KsDriftDetector::observe(size_t feature, const Point& p) {
  if (feature >= features_.size() || !std::isfinite(p.value)) return false;
  FeatureState& st = features_[feature];
  st.windows.add(p);
  if (st.adopt_in > 0 && --st.adopt_in == 0) {
    // The ring now holds only post-finding points: they become the reference; the ring refills before
    // testing.
    st.windows.adopt_recent();
    st.tested = false;
    st.since_test = 0;
    st.last_d = 0.0;
    st.last_p = 1.0;
    return true;
  }
  if (!st.windows.recent_full()) return true;
  if (st.tested && ++st.since_test < config_.test_every) return true;
  run_test(feature, p.time_ms);
  return true;
}

void KsDriftDetector::run_test(size_t feature, int64_t now_ms) {
  FeatureState& st = features_[feature];
  const KsResult r =
      ks_2samp_sorted(st.windows.sorted_reference(), st.windows.sorted_recent(scratch_), config_.method);
  ++tests_run_;
  st.tested = true;
  st.since_test = 0;
  st.last_d = r.statistic;
  st.last_p = std::isnan(r.pvalue) ? 1.0 : r.pvalue;
  if (st.adopt_in > 0 || !(st.last_p <= alpha_per_test_ && st.last_d > config_.d_min)) return;

  DriftFinding f;
  f.feature = names_[feature];
  f.feature_index = static_cast<uint32_t>(feature);
  f.statistic = st.last_d;
  f.pvalue = st.last_p;
  f.alpha_per_test = alpha_per_test_;
  f.method = r.method;
  f.reference = st.windows.reference_window();
  f.recent = st.windows.recent_window();
  f.detected_at_ms = now_ms;
  push_finding(std::move(f));
  st.adopt_in = config_.recent_size;
}

void KsDriftDetector::push_finding(DriftFinding f) {
  const size_t cap = pending_.size();
  if (pending_count_ == cap) {
    pending_head_ = (pending_head_ + 1) % cap;
    --pending_count_;
    ++dropped_findings_;
  }
  pending_[(pending_head_ + pending_count_) % cap] = std::move(f);
  ++pending_count_;
}

std::optional<DriftFinding> KsDriftDetector::poll() {
  if (pending_count_ == 0) return std::nullopt;
  DriftFinding f = std::move(pending_[pending_head_]);
  pending_head_ = (pending_head_ + 1) % pending_.size();
  --pending_count_;
  return f;
}

double KsDriftDetector::evidence(size_t feature) const {
  if (feature >= features_.size() || !features_[feature].tested) return 0.0;
  const FeatureState& st = features_[feature];
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const double by_p = st.last_p >= 1.0   ? 0.0
                      : st.last_p <= 0.0 ? kInf
                                         : std::log(st.last_p) / std::log(alpha_per_test_);
  const double by_d = config_.d_min > 0.0 ? st.last_d / config_.d_min : kInf;
  const double x = std::min(by_p, by_d);
  if (!(x > 0.0)) return 0.0;
  if (std::isinf(x)) return 1.0;
  return x / (1.0 + x);
}

double KsDriftDetector::score(const Point& p) const {
  if (!std::isfinite(p.value)) return 0.0;
  return evidence(0);
}

std::string KsDriftDetector::save() const {
  StateWriter w;
  w.put(kStateVersion);
  put_config(w, config_);
  w.put(static_cast<uint32_t>(names_.size()));
  for (const auto& n : names_) w.put_bytes(n);
  for (const FeatureState& st : features_) {
    st.windows.save(w);
    w.put(st.since_test);
    w.put(st.adopt_in);
    w.put(static_cast<uint8_t>(st.tested));
    w.put(st.last_d);
    w.put(st.last_p);
  }
  w.put(tests_run_);
  w.put(dropped_findings_);
  w.put(static_cast<uint32_t>(pending_count_));
  for (size_t i = 0; i < pending_count_; ++i) {
    const DriftFinding& f = pending_[(pending_head_ + i) % pending_.size()];
    w.put_bytes(f.feature);
    w.put(f.feature_index);
    w.put(f.statistic);
    w.put(f.pvalue);
    w.put(f.alpha_per_test);
    w.put(static_cast<uint8_t>(f.method));
    put_window(w, f.reference);
    put_window(w, f.recent);
    w.put(f.detected_at_ms);
  }
  return w.take();
}

bool KsDriftDetector::restore(std::string_view bytes) {
  StateReader r(bytes);
  uint8_t version = 0;
  if (!r.get(version) || version != kStateVersion) return false;
  // The state must come from a detector with this exact configuration and feature list.
  StateWriter own_config;
  put_config(own_config, config_);
  for (char expected : own_config.bytes()) {
    char got = 0;
    if (!r.get(got) || got != expected) return false;
  }
  uint32_t n_features = 0;
  if (!r.get(n_features) || n_features != names_.size()) return false;
  for (const auto& n : names_) {
    std::string got;
    if (!r.get_bytes(got, kMaxNameLength) || got != n) return false;
  }

  std::vector<FeatureState> features = features_;
  for (FeatureState& st : features) {
    uint8_t tested = 0;
    if (!st.windows.restore(r) || !r.get(st.since_test) || !r.get(st.adopt_in) || !r.get(tested) ||
        !r.get(st.last_d) || !r.get(st.last_p))
      return false;
    if (tested > 1 || st.since_test >= config_.test_every || st.adopt_in > config_.recent_size) return false;
    if (!is_probability(st.last_d) || !is_probability(st.last_p)) return false;
    st.tested = tested == 1;
    if (st.tested && !st.windows.recent_full()) return false;
  }
  uint64_t tests_run = 0, dropped = 0;
  uint32_t n_pending = 0;
  if (!r.get(tests_run) || !r.get(dropped) || !r.get(n_pending) || n_pending > pending_.size()) return false;
  std::vector<DriftFinding> pending(pending_.size());
  for (uint32_t i = 0; i < n_pending; ++i) {
    DriftFinding& f = pending[i];
    uint8_t method = 0;
    if (!r.get_bytes(f.feature, kMaxNameLength) || !r.get(f.feature_index) || !r.get(f.statistic) ||
        !r.get(f.pvalue) || !r.get(f.alpha_per_test) || !r.get(method) || !get_window(r, f.reference) ||
        !get_window(r, f.recent) || !r.get(f.detected_at_ms))
      return false;
    if (f.feature_index >= names_.size() || f.feature != names_[f.feature_index] || !valid_method(method) ||
        !is_probability(f.statistic) || !is_probability(f.pvalue))
      return false;
    f.method = static_cast<KsMethod>(method);
  }
  if (!r.done()) return false;

  features_ = std::move(features);
  pending_ = std::move(pending);
  pending_head_ = 0;
  pending_count_ = n_pending;
  tests_run_ = tests_run;
  dropped_findings_ = dropped;
  return true;
}

}  // namespace gridsentinel::detectors
