#include "config/Config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <string>

#include "features/SlidingQuantileSketch.h"

namespace gridsentinel::config {

namespace {

[[noreturn]] void fail(const std::string& key, const std::string& what) {
  throw ConfigError("config error: " + key + ": " + what);
}

// Secrets from the environment: each "${ENV:NAME}" in `value` becomes the value of environment variable NAME
// ("$${" stands for a literal "${"). An unset variable is an error naming the key and the variable, never a
// value.
std::string expand_env(const std::string& value, const std::string& key) {
  std::string out;
  for (size_t i = 0; i < value.size();) {
    if (value.compare(i, 3, "$${") == 0) {
      out += "${";
      i += 3;
    } else if (value.compare(i, 6, "${ENV:") == 0) {
      const size_t end = value.find('}', i);
      if (end == std::string::npos) fail(key, "unterminated ${ENV:...} reference");
      const std::string name = value.substr(i + 6, end - i - 6);
      const bool valid = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
      });
      if (!valid) fail(key, "'${ENV:" + name + "}' does not name an environment variable");
      const char* env = std::getenv(name.c_str());
      if (!env) fail(key, "environment variable " + name + " is not set");
      out += env;
      i = end + 1;
    } else {
      out += value[i++];
    }
  }
  return out;
}

// A YAML mapping read strictly: every key read is remembered; `finish()` rejects the ones never read.
class Section {
 public:
  Section(YAML::Node node, std::string path) : node_(std::move(node)), path_(std::move(path)) {
    if (node_ && !node_.IsNull() && !node_.IsMap())
      fail(path_.empty() ? "(top level)" : path_, "expected a mapping");
  }

  std::string key(const std::string& k) const { return path_.empty() ? k : path_ + "." + k; }
  bool has(const std::string& k) {
    seen_.insert(k);
    return node_ && node_.IsMap() && node_[k] && !node_[k].IsNull();
  }
  YAML::Node raw(const std::string& k) { return has(k) ? node_[k] : YAML::Node(); }

  template <class T>
  void get(const std::string& k, T& out) {
    if (!has(k)) return;
    const YAML::Node v = node_[k];
    if (!v.IsScalar()) fail(key(k), "expected a single value");
    try {
      if constexpr (std::is_same_v<T, bool>) {
        const std::string s = v.Scalar();
        if (s == "true" || s == "yes" || s == "on")
          out = true;
        else if (s == "false" || s == "no" || s == "off")
          out = false;
        else
          fail(key(k), "'" + s + "' is not a boolean (true/false)");
      } else {
        out = v.as<T>();
      }
    } catch (const YAML::Exception&) {
      fail(key(k), "'" + v.Scalar() + "' is not a valid " + type_name<T>());
    }
  }
  void get_duration(const std::string& k, int64_t& out_ms) {
    std::string s;
    get(k, s);
    if (has(k)) out_ms = parse_duration_ms(s, key(k));
  }
  void get_string_map(const std::string& k, std::map<std::string, std::string>& out) {
    if (!has(k)) return;
    const YAML::Node v = node_[k];
    if (!v.IsMap()) fail(key(k), "expected a mapping of property names to values");
    for (const auto& kv : v) {
      if (!kv.second.IsScalar()) fail(key(k) + "." + kv.first.Scalar(), "expected a single value");
      out[kv.first.Scalar()] = expand_env(kv.second.Scalar(), key(k) + "." + kv.first.Scalar());
    }
  }
  Section child(const std::string& k) { return Section(raw(k), key(k)); }

  void finish() const {
    if (!node_ || !node_.IsMap()) return;
    for (const auto& kv : node_) {
      const std::string k = kv.first.Scalar();
      if (!seen_.count(k)) fail(key(k), "unknown key (see the configuration reference in README.md)");
    }
  }

 private:
  template <class T>
  static const char* type_name() {
    if constexpr (std::is_floating_point_v<T>)
      return "number";
    else if constexpr (std::is_unsigned_v<T>)
      return "non-negative integer";
    else if constexpr (std::is_integral_v<T>)
      return "integer";
    else
      return "string";
  }
  YAML::Node node_;
  std::string path_;
  std::set<std::string> seen_;
};

template <class T>
void require(bool ok, const std::string& key, const T& value, const std::string& rule) {
  if (!ok) {
    std::ostringstream os;
    os << "value " << value << " is out of range (" << rule << ")";
    fail(key, os.str());
  }
}

InputKind parse_kind(const std::string& s, const std::string& key) {
  if (s == "meter") return InputKind::kMeter;
  if (s == "infra") return InputKind::kInfra;
  fail(key, "'" + s + "' is not an input kind (meter, infra)");
}

MessageType parse_message(const std::string& s, const std::string& key) {
  if (s == "MeterReading") return MessageType::kMeterReading;
  if (s == "MeterReadingBatch") return MessageType::kMeterReadingBatch;
  if (s == "InfraMetric") return MessageType::kInfraMetric;
  fail(key, "'" + s + "' is not a message type (MeterReading, MeterReadingBatch, InfraMetric)");
}

void read_zscore_list(Section& s, const std::string& k, InputKind kind, std::vector<ZScoreFeature>& out) {
  if (!s.has(k)) return;
  const YAML::Node list = s.raw(k);
  if (!list.IsSequence()) fail(s.key(k), "expected a list of {feature, window, buckets, ...}");
  // An entity's state saves the count in one byte (ProcessorState.cc).
  require(list.size() <= 255, s.key(k), list.size(), "at most 255 entries");
  out.clear();
  for (size_t i = 0; i < list.size(); ++i) {
    Section item(list[i], s.key(k) + "[" + std::to_string(i) + "]");
    ZScoreFeature f;
    item.get("feature", f.feature);
    static const std::set<std::string> kMeterFeatures = {"voltage_v", "current_a", "active_power_w",
                                                         "power_factor", "frequency_hz"};
    const bool known = kind == InputKind::kMeter ? kMeterFeatures.count(f.feature) > 0 : f.feature == "value";
    if (!known)
      fail(item.key("feature"),
           "'" + f.feature + "' is not a feature of this input kind (" +
               (kind == InputKind::kMeter ? std::string("voltage_v, current_a, active_power_w, power_factor, "
                                                        "frequency_hz")
                                          : std::string("value")) +
               ")");
    item.get_duration("window", f.params.window_ms);
    item.get("buckets", f.params.buckets);
    item.get("min_samples", f.params.min_samples);
    item.get("threshold", f.params.threshold);
    item.get("std_floor", f.params.std_floor_abs);
    item.get("std_floor_relative", f.params.std_floor_rel);
    item.finish();
    require(f.params.window_ms > 0, item.key("window"), f.params.window_ms, "> 0");
    require(f.params.buckets >= 1 && f.params.buckets <= features::RollingWindow::kMaxBuckets,
            item.key("buckets"), f.params.buckets, "1..1024");
    require(f.params.window_ms / f.params.buckets >= 1000, item.key("buckets"), f.params.buckets,
            "each bucket must span >= 1s of the window");
    require(f.params.window_ms / f.params.buckets <= features::RollingWindow::kMaxBucketMs,
            item.key("buckets"), f.params.buckets,
            "each bucket must span <= 24 days of the window (use more buckets)");
    require(f.params.min_samples >= 2, item.key("min_samples"), f.params.min_samples, ">= 2");
    require(f.params.threshold > 1.0, item.key("threshold"), f.params.threshold, "> 1");
    require(f.params.std_floor_abs >= 0, item.key("std_floor"), f.params.std_floor_abs, ">= 0");
    require(f.params.std_floor_rel >= 0, item.key("std_floor_relative"), f.params.std_floor_rel, ">= 0");
    out.push_back(f);
  }
}

void read_kind(Section& s, const std::string& k, InputKind kind, KindConfig& out) {
  Section c = s.child(k);
  (void)kind;
  c.get_duration("allowed_lateness", out.allowed_lateness_ms);
  const bool ttl_given = c.has("entity_ttl");
  c.get_duration("entity_ttl", out.entity_ttl_ms);
  c.finish();
  require(out.allowed_lateness_ms >= 0, c.key("allowed_lateness"), out.allowed_lateness_ms, ">= 0");
  // A reading within the allowed lateness must find its entity: evicting sooner would start it cold. Left
  // unset, the ttl is at least twice the lateness, so that a configuration that only raised the lateness gets
  // no error about a key it never wrote.
  if (!ttl_given && out.entity_ttl_ms != 0 && out.entity_ttl_ms / 2 < out.allowed_lateness_ms)
    out.entity_ttl_ms = out.allowed_lateness_ms > std::numeric_limits<int64_t>::max() / 2
                            ? std::numeric_limits<int64_t>::max()
                            : 2 * out.allowed_lateness_ms;
  require(out.entity_ttl_ms == 0 || out.entity_ttl_ms > out.allowed_lateness_ms, c.key("entity_ttl"),
          out.entity_ttl_ms, "0 (never) or > allowed_lateness");
}

template <class T>
void check_valid(const T& cfg, const std::string& key) {
  const std::string err = cfg.validate();
  if (!err.empty()) fail(key, err);
}

// detectors.<name>.{meter,infra}: per-kind settings of one detector.
template <class F>
void read_per_kind(Section& det, const std::string& name, F&& read_one) {
  Section d = det.child(name);
  for (const char* kind : {"meter", "infra"}) {
    if (!d.has(kind)) continue;
    Section k = d.child(kind);
    read_one(k, std::string(kind));
    k.finish();
  }
  d.finish();
}

void read_detector_sections(Section& det, Config& c) {
  auto kind_cfg = [&](const std::string& kind) -> KindConfig& { return kind == "meter" ? c.meter : c.infra; };
  read_per_kind(det, "iqr", [&](Section& s, const std::string& kind) {
    auto& k = kind_cfg(kind);
    s.get("enabled", k.iqr_enabled);
    s.get_duration("window", k.iqr.window_ms);
    s.get("max_points", k.iqr.max_points);
    s.get("sketch_buckets", k.iqr.sketch_buckets);
    s.get("sketch_k", k.iqr.sketch_k);
    s.get("min_samples", k.iqr.min_samples);
    s.get("k", k.iqr.k);
    s.get("iqr_floor", k.iqr.iqr_floor_abs);
    s.get("iqr_floor_relative", k.iqr.iqr_floor_rel);
    require(k.iqr.k > 0, s.key("k"), k.iqr.k, "> 0");
    require(k.iqr.max_points >= 4 && k.iqr.max_points <= 4096, s.key("max_points"), k.iqr.max_points,
            "4..4096");
    require(k.iqr.sketch_buckets <= features::SlidingQuantileSketch::kMaxBuckets, s.key("sketch_buckets"),
            k.iqr.sketch_buckets, "0.." + std::to_string(features::SlidingQuantileSketch::kMaxBuckets));
    require(k.iqr.sketch_k >= 8, s.key("sketch_k"), k.iqr.sketch_k, ">= 8");
    require(k.iqr.min_samples >= 4, s.key("min_samples"), k.iqr.min_samples, ">= 4");
  });
  read_per_kind(det, "spike", [&](Section& s, const std::string& kind) {
    auto& k = kind_cfg(kind);
    s.get("enabled", k.spike_enabled);
    s.get("window_points", k.spike.window_points);
    s.get("min_samples", k.spike.min_samples);
    s.get("threshold", k.spike.threshold);
    s.get("scale_floor", k.spike.scale_floor_abs);
    s.get("scale_floor_relative", k.spike.scale_floor_rel);
    s.get("confirm_points", k.spike.confirm_points);
    s.get("return_z", k.spike.return_z);
    s.get("return_fraction", k.spike.return_fraction);
    s.get("level_points", k.spike.level_points);
    s.get("daily_step_buckets", k.spike.daily_step_buckets);
    s.get_duration("daily_step_period", k.spike.daily_step_period_ms);
    s.get("daily_step_factor", k.spike.daily_step_factor);
    s.get("daily_step_alpha", k.spike.daily_step_alpha);
    s.get("alert_on_return", k.spike_alert_on_return);
    s.get("level_shift_alerts", k.level_shift_alerts);
    require(k.spike.window_points >= 3 && k.spike.window_points <= 4096, s.key("window_points"),
            k.spike.window_points, "3..4096");
    require(k.spike.min_samples >= 3 && k.spike.min_samples <= k.spike.window_points, s.key("min_samples"),
            k.spike.min_samples, "3..window_points");
    require(k.spike.threshold > 1, s.key("threshold"), k.spike.threshold, "> 1");
    require(k.spike.confirm_points >= 1 && k.spike.confirm_points <= 64, s.key("confirm_points"),
            k.spike.confirm_points, "1..64");
    require(k.spike.return_fraction >= 0 && k.spike.return_fraction <= 1, s.key("return_fraction"),
            k.spike.return_fraction, "0..1");
    require(k.spike.level_points <= k.spike.window_points, s.key("level_points"), k.spike.level_points,
            "0..window_points");
    require(k.spike.daily_step_buckets <= 1440, s.key("daily_step_buckets"), k.spike.daily_step_buckets,
            "0..1440");
    require(k.spike.daily_step_period_ms >= 60'000, s.key("daily_step_period"), k.spike.daily_step_period_ms,
            ">= 1m");
    require(k.spike.daily_step_factor >= 0 && k.spike.daily_step_factor <= 100, s.key("daily_step_factor"),
            k.spike.daily_step_factor, "0..100");
    require(k.spike.daily_step_alpha > 0 && k.spike.daily_step_alpha <= 1, s.key("daily_step_alpha"),
            k.spike.daily_step_alpha, "(0, 1]");
  });
  read_per_kind(det, "iforest", [&](Section& s, const std::string& kind) {
    auto& k = kind_cfg(kind);
    s.get("enabled", k.iforest_enabled);
    s.get("trees", k.iforest.n_trees);
    s.get("subsample", k.iforest.subsample);
    s.get("window", k.iforest.window);
    s.get("min_points", k.iforest.min_points);
    s.get("contamination", k.iforest.contamination);
    s.get("threshold_floor", k.iforest.threshold_floor);
    s.get("seed", k.iforest.seed);
    s.get_duration("window_span", k.iforest_window_span_ms);
    require(k.iforest.n_trees >= 1 && k.iforest.n_trees <= 4096, s.key("trees"), k.iforest.n_trees,
            "1..4096");
    require(k.iforest.subsample >= 2 && k.iforest.subsample <= k.iforest.window, s.key("subsample"),
            k.iforest.subsample, "2..window");
    require(k.iforest.window <= (1u << 20), s.key("window"), k.iforest.window, "<= 1048576");
    require(detectors::FlatForest::fits(k.iforest.n_trees, k.iforest.subsample), s.key("subsample"),
            k.iforest.subsample, "trees x (2 subsample - 1) <= 2^32 - 1 nodes");
    require(k.iforest.min_points >= k.iforest.subsample && k.iforest.min_points <= k.iforest.window,
            s.key("min_points"), k.iforest.min_points, "subsample..window");
    require(k.iforest.contamination > 0 && k.iforest.contamination <= 0.5, s.key("contamination"),
            k.iforest.contamination, "(0, 0.5]");
    require(k.iforest.threshold_floor >= 0 && k.iforest.threshold_floor <= 1, s.key("threshold_floor"),
            k.iforest.threshold_floor, "0..1");
    require(k.iforest_window_span_ms == 0 || k.iforest_window_span_ms >= 1000, s.key("window_span"),
            k.iforest_window_span_ms, "0 (off) or >= 1s");
  });
  read_per_kind(det, "drift", [&](Section& s, const std::string& kind) {
    auto& k = kind_cfg(kind);
    s.get("enabled", k.drift_enabled);
    s.get("reference_size", k.drift.reference_size);
    s.get("recent_size", k.drift.recent_size);
    s.get("test_every", k.drift.test_every);
    s.get("alpha", k.drift.alpha);
    s.get("d_min", k.drift.d_min);
    s.get_duration("cycle", k.drift_cycle_ms);
    check_valid(k.drift, s.key(""));
    require(k.drift_cycle_ms >= 1000, s.key("cycle"), k.drift_cycle_ms, ">= 1s");
  });
}

void read_rules(Section& top, Config& c) {
  Section r = top.child("rules");
  auto& m = c.rules;
  r.get("nominal_voltage_v", m.nominal_voltage_v);
  r.get("swell_ratio", m.swell_ratio);
  r.get("swell_critical_ratio", m.swell_critical_ratio);
  r.get("sag_ratio", m.sag_ratio);
  r.get("sag_critical_ratio", m.sag_critical_ratio);
  r.get("outage_ratio", m.outage_ratio);
  r.get("voltage_hysteresis_ratio", m.voltage_hysteresis_ratio);
  r.get("reverse_power_threshold_w", m.reverse_power_threshold_w);
  r.get("reverse_power_critical_w", m.reverse_power_critical_w);
  r.get("meters_export_by_default", m.meters_export_by_default);
  r.get("learn_exporters", m.learn_exporters);
  if (r.has("exporting_meter_prefixes")) {
    const YAML::Node list = r.raw("exporting_meter_prefixes");
    if (!list.IsSequence()) fail(r.key("exporting_meter_prefixes"), "expected a list of meter id prefixes");
    m.exporting_meter_prefixes.clear();
    for (const auto& item : list) {
      if (!item.IsScalar())
        fail(r.key("exporting_meter_prefixes"), "expected a list of meter id prefixes (strings)");
      m.exporting_meter_prefixes.push_back(item.Scalar());
    }
  }
  r.get("bypass_current_a", m.bypass_current_a);
  r.get("tamper_flag_mask", m.tamper_flag_mask);
  r.get("drop_ratio", m.drop_ratio);
  r.get("drop_min_readings", m.drop_min_readings);
  r.get("drop_fast_tau_h", m.fast_tau_h);
  r.get("baseline_min_hours", m.baseline_min_hours);
  r.get("stuck_min_readings", m.stuck_min_readings);
  r.get("default_interval_s", m.default_interval_s);
  r.get("missing_after_intervals", c.silence.missing_after_intervals);
  r.get_duration("idle_partition_after", c.idle_partition_after_ms);
  r.finish();  // idle_partition_after: a duration, never negative (parse_duration_ms refuses a sign)
  check_valid(m, "rules");
  check_valid(c.silence, "rules.missing_after_intervals");

  Section k = top.child("risk");
  k.get("ml_weight", c.risk.ml_weight);
  k.get("rules_weight", c.risk.rules_weight);
  k.get("high_threshold", c.risk.high_threshold);
  k.get("medium_threshold", c.risk.medium_threshold);
  k.get("band_hysteresis", c.risk.band_hysteresis);
  k.get_duration("rules_half_life", c.risk.rules_half_life_ms);
  k.get("rules_floor", c.risk.rules_floor);
  k.finish();
  check_valid(c.risk, "risk");
}

}  // namespace

int64_t parse_duration_ms(const std::string& text, const std::string& key) {
  static const std::pair<const char*, int64_t> kUnits[] = {
      {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}};
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  const std::string digits = text.substr(0, i), unit = text.substr(i);
  for (const auto& [name, ms] : kUnits) {
    if (digits.empty() || digits.size() > 12 || unit != name) continue;
    const int64_t n = std::stoll(digits);              // at most 12 digits: fits
    if (n > std::numeric_limits<int64_t>::max() / ms)  // 999999999999d would overflow the milliseconds
      fail(key, "'" + text + "' is too long a duration");
    return n * ms;
  }
  fail(key, "'" + text + "' is not a duration (a whole number with a unit: 500ms, 30s, 15m, 24h, 7d)");
}

bool is_secret_property(const std::string& name) {
  static const char* kSecret[] = {"sasl.password",
                                  "sasl.oauthbearer.client.secret",
                                  "ssl.key.password",
                                  "ssl.keystore.password",
                                  "ssl.key.pem",
                                  "ssl_key",
                                  "sasl.oauthbearer.config"};
  for (const char* s : kSecret)
    if (name == s) return true;
  return name.find("password") != std::string::npos || name.find("secret") != std::string::npos;
}

const char* to_string(InputKind k) {
  return k == InputKind::kMeter ? "meter" : "infra";
}
const char* to_string(MessageType m) {
  switch (m) {
    case MessageType::kMeterReading:
      return "MeterReading";
    case MessageType::kMeterReadingBatch:
      return "MeterReadingBatch";
    case MessageType::kInfraMetric:
      return "InfraMetric";
  }
  return "?";
}

Config parse_config(const std::string& yaml_text, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw ConfigError("config error: " + origin + ": not valid YAML: " + e.what());
  }
  Config c;
  Section top(root, "");

  Section kafka = top.child("kafka");
  kafka.get("bootstrap_servers", c.kafka.bootstrap_servers);
  kafka.get("group_id", c.kafka.group_id);
  kafka.get("stream_threads", c.kafka.stream_threads);
  kafka.get_string_map("properties", c.kafka.properties);
  kafka.get_string_map("consumer_properties", c.kafka.consumer_properties);
  kafka.get_string_map("producer_properties", c.kafka.producer_properties);
  kafka.finish();
  require(!c.kafka.group_id.empty(), "kafka.group_id", "''", "must not be empty");
  // The runner's rebalance callback takes eager assignments (assign/unassign of the whole set, state dropped
  // and restored per assignment): with a cooperative assignor librdkafka refuses assign() and a revoke would
  // look like the whole assignment.
  for (const auto* props : {&c.kafka.properties, &c.kafka.consumer_properties}) {
    const auto it = props->find("partition.assignment.strategy");
    if (it != props->end() && it->second.find("cooperative") != std::string::npos)
      fail(std::string(props == &c.kafka.properties ? "kafka.properties" : "kafka.consumer_properties") +
               ".partition.assignment.strategy",
           "'" + it->second + "': cooperative rebalancing is not supported (use range or roundrobin)");
  }
  require(c.kafka.stream_threads >= 1 && c.kafka.stream_threads <= 64, "kafka.stream_threads",
          c.kafka.stream_threads, "in [1, 64]");

  Section emb = top.child("embedded");
  emb.get("partitions", c.embedded.partitions);
  emb.get("bootstrap_file", c.embedded.bootstrap_file);
  emb.get("simulate_meters", c.embedded.simulate_meters);
  emb.get_duration("simulate_interval", c.embedded.simulate_interval_ms);
  emb.get("simulate_speedup", c.embedded.simulate_speedup);
  emb.get("simulate_anomaly_rate", c.embedded.simulate_anomaly_rate);
  emb.get("print_alerts", c.embedded.print_alerts);
  emb.finish();
  require(c.embedded.partitions >= 1 && c.embedded.partitions <= 1024, "embedded.partitions",
          c.embedded.partitions, "1..1024");
  require(c.embedded.simulate_meters <= 2'000'000, "embedded.simulate_meters", c.embedded.simulate_meters,
          "<= 2000000");
  require(c.embedded.simulate_interval_ms >= 1000, "embedded.simulate_interval",
          c.embedded.simulate_interval_ms, ">= 1s");
  require(c.embedded.simulate_speedup >= 0, "embedded.simulate_speedup", c.embedded.simulate_speedup, ">= 0");
  require(c.embedded.simulate_anomaly_rate >= 0 && c.embedded.simulate_anomaly_rate <= 10,
          "embedded.simulate_anomaly_rate", c.embedded.simulate_anomaly_rate, "0..10");

  Section topics = top.child("topics");
  if (topics.has("inputs")) {
    const YAML::Node list = topics.raw("inputs");
    if (!list.IsSequence() || list.size() == 0)
      fail("topics.inputs", "expected a non-empty list of input topics");
    c.topics.inputs.clear();
    for (size_t i = 0; i < list.size(); ++i) {
      Section t(list[i], "topics.inputs[" + std::to_string(i) + "]");
      InputTopic in;
      std::string kind = "meter", format = "protobuf", message;
      t.get("name", in.name);
      t.get("kind", kind);
      t.get("format", format);
      t.get("message", message);
      t.finish();
      if (in.name.empty()) fail(t.key("name"), "an input topic needs a name");
      in.kind = parse_kind(kind, t.key("kind"));
      if (format == "protobuf")
        in.format = PayloadFormat::kProtobuf;
      else if (format == "json")
        in.format = PayloadFormat::kJson;
      else if (format == "confluent_protobuf")
        in.format = PayloadFormat::kConfluentProtobuf;
      else
        fail(t.key("format"),
             "'" + format + "' is not a payload format (protobuf, json, confluent_protobuf)");
      if (message.empty()) message = in.kind == InputKind::kMeter ? "MeterReading" : "InfraMetric";
      in.message = parse_message(message, t.key("message"));
      const bool fits = (in.kind == InputKind::kInfra) == (in.message == MessageType::kInfraMetric);
      if (!fits) fail(t.key("message"), message + " does not carry " + kind + " data");
      for (const auto& other : c.topics.inputs)
        if (other.name == in.name) fail(t.key("name"), "topic '" + in.name + "' is listed twice");
      c.topics.inputs.push_back(in);
    }
  }
  topics.get("alerts", c.topics.alerts);
  topics.get("dead_letter", c.topics.dead_letter);
  topics.get("risk", c.topics.risk);
  topics.finish();
  if (c.topics.alerts.empty()) fail("topics.alerts", "must not be empty");
  if (c.topics.dead_letter.empty()) fail("topics.dead_letter", "must not be empty");
  for (const auto& in : c.topics.inputs)
    if (in.name == c.topics.alerts || in.name == c.topics.dead_letter)
      fail("topics.inputs", "input topic '" + in.name + "' is also an output topic");

  Section ingest = top.child("ingest");
  ingest.get("max_message_bytes", c.ingest.max_message_bytes);
  ingest.get("max_batch_readings", c.ingest.max_batch_readings);
  ingest.get("max_id_bytes", c.ingest.max_id_bytes);
  ingest.get_duration("max_future", c.ingest.max_future_ms);
  ingest.get_duration("max_past", c.ingest.max_past_ms);
  ingest.finish();
  require(c.ingest.max_message_bytes >= 64 && c.ingest.max_message_bytes <= 100'000'000,
          "ingest.max_message_bytes", c.ingest.max_message_bytes, "64..100000000");
  require(c.ingest.max_batch_readings >= 1, "ingest.max_batch_readings", c.ingest.max_batch_readings, ">= 1");
  require(c.ingest.max_id_bytes >= 1 && c.ingest.max_id_bytes <= 4096, "ingest.max_id_bytes",
          c.ingest.max_id_bytes, "1..4096");
  // No "off": one reading stamped far ahead would become its meter's newest event time, and every later
  // reading of the meter would then be refused as late until the entity is dropped.
  require(c.ingest.max_future_ms > 0, "ingest.max_future", c.ingest.max_future_ms,
          "> 0 (a reading far in the future would make every later reading of its meter late)");

  Section features = top.child("features");
  read_kind(features, "meter", InputKind::kMeter, c.meter);
  read_kind(features, "infra", InputKind::kInfra, c.infra);
  features.finish();
  Section det = top.child("detectors");
  Section cooldown = det.child("cooldown");
  cooldown.get_duration("meter", c.meter.cooldown_ms);
  cooldown.get_duration("infra", c.infra.cooldown_ms);
  cooldown.finish();
  Section zs = det.child("zscore");
  read_zscore_list(zs, "meter", InputKind::kMeter, c.meter.zscore);
  read_zscore_list(zs, "infra", InputKind::kInfra, c.infra.zscore);
  zs.finish();
  read_detector_sections(det, c);
  det.get("critical_score", c.detection.critical_score);
  det.get("skip_flagged", c.detection.skip_flagged);
  det.get("adopt_after", c.detection.adopt_after);
  det.finish();
  require(c.detection.critical_score >= 0.5 && c.detection.critical_score <= 1.0, "detectors.critical_score",
          c.detection.critical_score, "0.5..1");
  require(c.detection.adopt_after >= 1, "detectors.adopt_after", c.detection.adopt_after, ">= 1");

  read_rules(top, c);

  Section limits = top.child("limits");
  limits.get("max_entities", c.limits.max_entities);
  limits.get("max_inflight_records", c.limits.max_inflight_records);
  limits.finish();
  require(c.limits.max_entities >= 1, "limits.max_entities", c.limits.max_entities, ">= 1");
  require(c.limits.max_inflight_records >= 100, "limits.max_inflight_records", c.limits.max_inflight_records,
          ">= 100");

  Section state = top.child("state");
  state.get("changelog", c.state.changelog);
  state.get("changelog_topic", c.state.changelog_topic);
  state.get_duration("checkpoint_interval", c.state.checkpoint_interval_ms);
  state.get_duration("restore_timeout", c.state.restore_timeout_ms);
  state.finish();
  if (c.state.changelog_topic.find("{topic}") == std::string::npos)
    fail("state.changelog_topic", "must contain {topic}: each input topic has its own changelog");
  require(c.state.checkpoint_interval_ms >= 100, "state.checkpoint_interval", c.state.checkpoint_interval_ms,
          ">= 100ms");
  require(c.state.restore_timeout_ms >= 1000, "state.restore_timeout", c.state.restore_timeout_ms, ">= 1s");

  Section metrics = top.child("metrics");
  metrics.get("bind", c.metrics.bind);
  metrics.finish();
  if (!c.metrics.bind.empty() && c.metrics.bind.find(':') == std::string::npos)
    fail("metrics.bind", "'" + c.metrics.bind + "' is not host:port");

  Section log = top.child("log");
  log.get("level", c.log.level);
  log.get("json", c.log.json);
  log.finish();
  static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error"};
  if (!kLevels.count(c.log.level))
    fail("log.level", "'" + c.log.level + "' is not one of trace, debug, info, warn, error");

  top.finish();
  return c;
}

std::string Config::State::changelog_for(const std::string& group, const std::string& input_topic) const {
  std::string out = changelog_topic;
  for (const auto& [token, value] :
       {std::pair<std::string, std::string>{"{group}", group}, {"{topic}", input_topic}})
    for (size_t at = out.find(token); at != std::string::npos; at = out.find(token, at + value.size()))
      out.replace(at, token.size(), value);
  return out;
}

Config load_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError("config error: cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path);
}

}  // namespace gridsentinel::config
