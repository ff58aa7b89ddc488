#pragma once
// The whole of gridsentinel's configuration, with defaults. Every key, its default and unit are listed in
// README.md ("Configuration reference"); `gridsentinel check-config FILE` validates a file without running.
//
// Loading is strict: an unknown key, a wrong type, a bad duration or a value out of its range throws
// ConfigError naming the key (e.g. "detectors.zscore.meter[1].window"), so that a typo never silently falls
// back to a default. Exceptions belong here, at start-up; nothing on the per-record path reads the YAML.
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "detectors/IqrDetector.h"
#include "detectors/SpikeDetector.h"
#include "detectors/ZScoreDetector.h"
#include "detectors/drift/KsDriftDetector.h"
#include "detectors/iforest/StreamingIsolationForest.h"
#include "detectors/rules/FleetWatermark.h"
#include "detectors/rules/MeterRiskScorer.h"
#include "detectors/rules/MeterRulesConfig.h"
#include "detectors/rules/SilenceTracker.h"

namespace gridsentinel::config {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class InputKind { kMeter, kInfra };
// kConfluentProtobuf: Confluent Schema Registry's wire format (magic byte 0, 4-byte schema id, message
// indexes) around protobuf binary, as producers using a Schema Registry serializer write it.
enum class PayloadFormat { kProtobuf, kJson, kConfluentProtobuf };
enum class MessageType { kMeterReading, kMeterReadingBatch, kInfraMetric };

struct InputTopic {
  std::string name;
  InputKind kind = InputKind::kMeter;
  PayloadFormat format = PayloadFormat::kProtobuf;
  MessageType message = MessageType::kMeterReading;
};

// One z-scored feature: e.g. active_power_w over 24 h.
struct ZScoreFeature {
  std::string
      feature;  // meter: voltage_v, current_a, active_power_w, power_factor, frequency_hz; infra: value
  detectors::ZScoreConfig params;
};

struct KindConfig {
  int64_t allowed_lateness_ms =
      0;  // events older than (entity's newest event time - this) are dead-lettered as late
  // An entity whose newest event time falls this far behind the kind's newest (a meter taken out of service,
  // an infra source that is gone: a pod of a past deployment) is forgotten, and its changelog state deleted,
  // so that churn cannot fill limits.max_entities; if it reports again it starts cold. 0 = never.
  int64_t entity_ttl_ms = 0;
  int64_t cooldown_ms = 0;  // one alert per episode: repeats suppressed for this long (event time)
  std::vector<ZScoreFeature> zscore;
  // Robust detectors on the kind's primary feature (meter: active_power_w; infra: value).
  bool iqr_enabled = true;
  detectors::IqrConfig iqr;
  bool spike_enabled = true;
  detectors::SpikeConfig spike;
  bool level_shift_alerts = true;  // alert when a spike candidate turns out to be a lasting level shift
  // Alert a spike only once the series came back (the verdict, spike.confirm_points readings later) instead
  // of at the jump: a household's morning rise jumps as far as a spike does but stays, and is no anomaly.
  bool spike_alert_on_return = false;
  // Fleet-level detectors, one instance per kind.
  bool iforest_enabled = true;
  detectors::StreamingIsolationForestConfig iforest;
  // The event time the forest's window is spread over (pipeline/EventTimeSampler.h): while more than
  // iforest.window points arrive per span, each is learned with probability window / (points in the last
  // span), so the window is a sample of the whole fleet over about one span. 0 (the default) = learn every
  // point, the window is the latest arrivals. Trade-off measured in README (Isolation forest).
  int64_t iforest_window_span_ms = 0;
  bool drift_enabled = true;
  detectors::KsDriftConfig drift;
  int64_t drift_cycle_ms = 86'400'000;  // each K-S sample spans this much event time (the seasonal cycle)
};

struct Config {
  struct Kafka {
    std::string bootstrap_servers;  // empty = start the embedded mock cluster
    std::string group_id = "gridsentinel";
    // Processing threads in this process (Kafka Streams' num.stream.threads), 1..64: each is a consumer in
    // the group with its own share of the partitions, its own producers, entity state and fleet models.
    uint32_t stream_threads = 1;
    // librdkafka properties for every client (TLS, SASL). In the three property maps, "${ENV:NAME}" in a
    // value is replaced by environment variable NAME at load time (secrets stay out of the file; unset =
    // error).
    std::map<std::string, std::string> properties;
    std::map<std::string, std::string> consumer_properties;  // librdkafka properties for the consumer only
    std::map<std::string, std::string> producer_properties;  // librdkafka properties for the producer only
  } kafka;

  struct Embedded {
    int partitions = 8;            // partitions per topic created on the mock cluster
    std::string bootstrap_file;    // write the mock cluster's bootstrap address here ("" = don't)
    uint32_t simulate_meters = 0;  // > 0: run the fleet simulator in-process against the mock cluster
    int64_t simulate_interval_ms = 900'000;  // the simulated meters' reading interval (event time)
    double simulate_speedup = 0;  // simulated event-time seconds per wall second; 0 = as fast as possible
    double simulate_anomaly_rate = 0.02;  // injected anomalies per meter-day
    bool print_alerts = false;            // print alerts from the alerts topic to stdout, readably
  } embedded;

  struct Topics {
    std::vector<InputTopic> inputs = {
        {"meter-readings", InputKind::kMeter, PayloadFormat::kProtobuf, MessageType::kMeterReading},
        {"meter-readings-json", InputKind::kMeter, PayloadFormat::kJson, MessageType::kMeterReading},
        {"infra-metrics", InputKind::kInfra, PayloadFormat::kProtobuf, MessageType::kInfraMetric}};
    std::string alerts = "gridsentinel-alerts";
    std::string dead_letter = "gridsentinel-dead-letters";
    std::string risk = "meter-risk";  // compacted in production: latest risk per meter
  } topics;

  struct Ingest {
    uint32_t max_message_bytes = 1'048'576;  // larger records are dead-lettered as "oversized"
    uint32_t max_batch_readings = 10'000;    // larger MeterReadingBatch records are dead-lettered
    uint32_t max_id_bytes = 128;             // meter_id, source, metric
    int64_t max_future_ms = 300'000;         // event time further ahead of the wall clock is dead-lettered
    int64_t max_past_ms = 0;  // event time further behind the wall clock is dead-lettered; 0 = off
  } ingest;

  KindConfig meter{.allowed_lateness_ms = 3'600'000,
                   .entity_ttl_ms = 30 * 86'400'000LL,  // past the longest window (IQR, 3 days) by far
                   .cooldown_ms = 6 * 3'600'000LL,
                   .zscore = {{"active_power_w",
                               {.window_ms = 24 * 3'600'000LL,
                                .buckets = 24,
                                .min_samples = 96,
                                .threshold = 6.0,
                                .std_floor_abs = 10.0,
                                .std_floor_rel = 0.01}},
                              {"voltage_v",
                               {.window_ms = 24 * 3'600'000LL,
                                .buckets = 24,
                                .min_samples = 16,
                                .threshold = 5.0,
                                .std_floor_abs = 1.0,
                                .std_floor_rel = 0.0}}},
                   // Household load has daily peaks: fences far out (k = 6) over three days; a spike is
                   // judged against the reading before it (below).
                   .iqr_enabled = true,
                   .iqr = {.window_ms = 3 * 86'400'000LL,
                           .max_points = 288,
                           .min_samples = 96,
                           .k = 6.0,
                           .iqr_floor_abs = 50.0,
                           .iqr_floor_rel = 0.1},
                   .spike_enabled = true,
                   // A reading is judged against the one before it (level_points 1), not the 31-point
                   // median: over 7.75 h a household's daily cycle moves further than a spike stands out
                   // (at 01:00 the median is still the evening peak's). The scale is at least 0.75 of that
                   // level (so a spike is > 3.25x the previous reading) and twice the meter's own mean step
                   // at that hour of day (a rooftop-PV meter's net power jumps by hundreds of watts under
                   // passing clouds around midday). A spike counts as back once the level fell back by 70%
                   // of the jump (return_fraction 0.3). See README "Meter scenarios".
                   .spike = {.window_points = 31,
                             .min_samples = 15,
                             .threshold = 3.0,
                             .scale_floor_abs = 50.0,
                             .scale_floor_rel = 0.75,
                             .confirm_points = 2,
                             .return_fraction = 0.3,
                             .level_points = 1,
                             .daily_step_buckets = 24,
                             .daily_step_factor = 2.0},
                   // A household changing its level (home, away, heating on) is normal: not an alert; a
                   // spike is alerted when the next two readings came back.
                   .level_shift_alerts = false,
                   .spike_alert_on_return = true,
                   .iforest_enabled = true,
                   .iforest = {.dim = 6,
                               .n_trees = 100,
                               .subsample = 256,
                               .window = 2048,
                               .min_points = 512,
                               .contamination = 0.0005,
                               .threshold_floor = 0.72,
                               .seed = 1},
                   .drift_enabled = true,
                   .drift = {.d_min = 0.15}};
  KindConfig infra{.allowed_lateness_ms = 60'000,
                   .entity_ttl_ms = 86'400'000,  // windows of an hour; sources come and go with deployments
                   .cooldown_ms = 600'000,
                   .zscore = {{"value",
                               {.window_ms = 3'600'000,
                                .buckets = 60,
                                .min_samples = 30,
                                .threshold = 5.0,
                                .std_floor_abs = 1e-9,
                                .std_floor_rel = 0.01}}},
                   .iqr_enabled = true,
                   .iqr = {.window_ms = 3'600'000, .max_points = 360, .min_samples = 30, .k = 3.0},
                   .spike_enabled = true,
                   .spike = {.window_points = 31, .min_samples = 15, .threshold = 8.0},
                   .level_shift_alerts = true,
                   .iforest_enabled = true,
                   .iforest = {.dim = 3,
                               .n_trees = 100,
                               .subsample = 256,
                               .window = 2048,
                               .min_points = 512,
                               .contamination = 0.002,
                               .threshold_floor = 0.62,
                               .seed = 2},
                   .drift_enabled = false,  // infra series of different metrics share no distribution
                   .drift = {}};

  detectors::MeterRulesConfig rules;
  detectors::SilenceTrackerConfig silence;
  detectors::FleetWatermarkConfig watermark;
  // A partition that delivered nothing for this long (wall clock) no longer holds the fleet's event-time
  // progress back (Processor.h, partition progress); 0 = never idle.
  int64_t idle_partition_after_ms = 3'600'000;
  detectors::MeterRiskConfig risk{.rules_floor =
                                      0.8};  // decisive rules (bypass, tamper) can raise the band alone

  struct Detection {
    double critical_score =
        0.8;                   // score at or above which an alert is CRITICAL (else WARNING); 0.5 = threshold
    bool skip_flagged = true;  // do not learn from flagged points...
    uint32_t adopt_after = 12;  // ...unless this many in a row were flagged: the shift is the new normal
  } detection;

  struct Limits {
    uint32_t max_entities = 2'000'000;  // tracked entities of each kind (meters, infra series) per instance;
                                        // records for new ones beyond it are dead-lettered as "entity_limit"
    uint32_t max_inflight_records = 100'000;  // consumed records awaiting broker acks before consuming pauses
  } limits;

  // Per-entity state and fleet models checkpointed to a changelog topic per input topic, co-partitioned with
  // it (create it with cleanup.policy=compact and the input's partition count); restored on assignment.
  struct State {
    bool changelog = true;
    std::string changelog_topic = "{group}-{topic}-changelog";  // {group} = kafka.group_id, {topic} = input
    int64_t checkpoint_interval_ms = 10'000;
    int64_t restore_timeout_ms = 120'000;  // per assignment; past it the partitions start cold
    std::string changelog_for(const std::string& group, const std::string& input_topic) const;
  } state;

  struct Metrics {
    std::string bind = "127.0.0.1:9464";  // Prometheus endpoint (host:port); "" = off
  } metrics;

  struct Log {
    std::string level = "info";  // trace, debug, info, warn, error
    bool json = false;           // one JSON object per line
  } log;
};

// Parses YAML text. `origin` names the source in error messages.
Config parse_config(const std::string& yaml_text, const std::string& origin = "config");
Config load_config_file(const std::string& path);

// "500ms", "30s", "15m", "24h", "7d" -> milliseconds. Throws ConfigError naming `key`.
int64_t parse_duration_ms(const std::string& text, const std::string& key);

// librdkafka property names whose values are secrets: never logged, never exported.
bool is_secret_property(const std::string& name);

const char* to_string(InputKind k);
const char* to_string(MessageType m);

}  // namespace gridsentinel::config
