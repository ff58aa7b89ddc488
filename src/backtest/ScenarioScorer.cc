#include "backtest/ScenarioScorer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>

namespace gridsentinel::backtest {

using sim::MeterAnomalyType;

std::optional<MeterAnomalyType> alert_class(std::string_view detector, std::string_view anomaly_type,
                                            std::string_view /*feature*/) {
  // By the anomaly type the alert names: the rules' types are the injected types' names; "spike" is the
  // spike detector's. high_value, low_value, level_shift, multivariate_outlier and distribution_drift say
  // that something is unusual, not which fault it is.
  if (detector == "meter_rules" && anomaly_type == "missing_readings") return MeterAnomalyType::kSilentMeter;
  if (detector == "meter_rules" || anomaly_type == "spike")
    return sim::parse_meter_anomaly_type(anomaly_type);
  return std::nullopt;
}

double TypeScore::recall() const {
  return episodes == 0 ? 1.0 : static_cast<double>(detected) / episodes;
}

double TypeScore::precision() const {
  const uint32_t claimed = detected + false_positives;
  return claimed == 0 ? 1.0 : static_cast<double>(detected) / claimed;
}

double TypeScore::median_delay() const {
  if (delays.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::vector<uint32_t> d = delays;
  std::sort(d.begin(), d.end());
  const size_t n = d.size();
  return n % 2 == 1 ? d[n / 2] : 0.5 * (d[n / 2 - 1] + d[n / 2]);
}

uint32_t TypeScore::max_delay() const {
  return delays.empty() ? 0 : *std::max_element(delays.begin(), delays.end());
}

std::string_view to_string(AlertOutcome o) {
  switch (o) {
    case AlertOutcome::kDetection:
      return "detection";
    case AlertOutcome::kRepeat:
      return "repeat";
    case AlertOutcome::kCrossType:
      return "cross_type";
    case AlertOutcome::kGenericInEpisode:
      return "generic_in_episode";
    case AlertOutcome::kFalsePositive:
      return "false_positive";
  }
  return "unknown";
}

ScenarioScore score_scenario(const std::vector<sim::InjectedAnomaly>& injected,
                             const std::vector<ScenarioAlert>& alerts, const ScenarioMatchConfig& cfg) {
  ScenarioScore s;
  s.episodes.resize(injected.size());
  s.alerts.resize(alerts.size(), AlertOutcome::kFalsePositive);
  s.alert_episode.resize(alerts.size(), -1);
  std::map<std::string_view, std::vector<int>> by_meter;
  for (size_t e = 0; e < injected.size(); ++e) {
    by_meter[injected[e].meter_id].push_back(static_cast<int>(e));
    ++s.by_type[static_cast<size_t>(injected[e].type)].episodes;
  }
  const int64_t tolerance_ms = int64_t{cfg.tolerance_readings} * cfg.interval_ms;

  // Alerts in detection-time order, so each episode's first alert is its earliest (stable for ties).
  std::vector<size_t> order(alerts.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return alerts[a].detection_time_ms < alerts[b].detection_time_ms;
  });
  for (const size_t i : order) {
    const ScenarioAlert& a = alerts[i];
    const auto cls = alert_class(a.detector, a.anomaly_type, a.feature);
    int inside = -1, own = -1;
    if (const auto it = by_meter.find(a.meter_id); it != by_meter.end()) {
      for (const int e : it->second) {
        const auto& ep = injected[static_cast<size_t>(e)];
        if (a.detection_time_ms < ep.start_event_time_ms ||
            a.detection_time_ms > ep.end_event_time_ms + tolerance_ms)
          continue;
        if (inside < 0) inside = e;
        if (cls && *cls == ep.type && own < 0) own = e;
      }
    }
    if (own >= 0) {
      s.alert_episode[i] = own;
      EpisodeOutcome& eo = s.episodes[static_cast<size_t>(own)];
      if (eo.detected) {
        s.alerts[i] = AlertOutcome::kRepeat;
        continue;
      }
      const auto& ep = injected[static_cast<size_t>(own)];
      eo.detected = true;
      eo.first_alert = static_cast<int>(i);
      eo.delay_readings =
          static_cast<uint32_t>((a.detection_time_ms - ep.start_event_time_ms) / cfg.interval_ms);
      s.alerts[i] = AlertOutcome::kDetection;
      TypeScore& t = s.by_type[static_cast<size_t>(ep.type)];
      ++t.detected;
      t.delays.push_back(eo.delay_readings);
      continue;
    }
    s.alert_episode[i] = inside;
    TypeScore& t = cls ? s.by_type[static_cast<size_t>(*cls)] : s.generic;
    if (inside >= 0) {
      s.alerts[i] = cls ? AlertOutcome::kCrossType : AlertOutcome::kGenericInEpisode;
      ++t.cross_type;
    } else {
      ++t.false_positives;
    }
  }
  for (const TypeScore& t : s.by_type) {
    s.overall.episodes += t.episodes;
    s.overall.detected += t.detected;
    s.overall.false_positives += t.false_positives;
    s.overall.cross_type += t.cross_type;
    s.overall.delays.insert(s.overall.delays.end(), t.delays.begin(), t.delays.end());
  }
  s.overall.false_positives += s.generic.false_positives;
  s.overall.cross_type += s.generic.cross_type;
  return s;
}

namespace {

std::string fixed(double v, int decimals) {
  if (std::isnan(v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

template <class Row>
void for_each_row(const ScenarioScore& s, Row&& row) {
  for (size_t k = 0; k < sim::kMeterAnomalyTypeCount; ++k) {
    const TypeScore& t = s.by_type[k];
    if (t.episodes == 0 && t.false_positives == 0 && t.cross_type == 0) continue;
    row(sim::to_string(static_cast<MeterAnomalyType>(k)), t, true);
  }
  row("generic", s.generic, false);
  row("overall", s.overall, true);
}

}  // namespace

std::string format_scenario_table(const ScenarioScore& s) {
  std::string out =
      "| type | episodes | detected | recall | false positives | precision | delay median | delay max | "
      "cross-type |\n|---|---|---|---|---|---|---|---|---|\n";
  for_each_row(s, [&](std::string_view name, const TypeScore& t, bool scored) {
    char buf[256];
    if (scored) {
      std::snprintf(buf, sizeof buf, "| %.*s | %u | %u | %s | %u | %s | %s | %s | %u |\n",
                    static_cast<int>(name.size()), name.data(), t.episodes, t.detected,
                    fixed(t.recall(), 3).c_str(), t.false_positives, fixed(t.precision(), 3).c_str(),
                    fixed(t.median_delay(), 1).c_str(),
                    t.delays.empty() ? "-" : std::to_string(t.max_delay()).c_str(), t.cross_type);
    } else {
      std::snprintf(buf, sizeof buf, "| %.*s | - | - | - | %u | - | - | - | %u |\n",
                    static_cast<int>(name.size()), name.data(), t.false_positives, t.cross_type);
    }
    out += buf;
  });
  return out;
}

std::string format_scenario_csv(const ScenarioScore& s) {
  std::string out =
      "type,episodes,detected,recall,false_positives,precision,median_delay,max_delay,cross_type\n";
  for_each_row(s, [&](std::string_view name, const TypeScore& t, bool) {
    out += std::string(name) + ',' + std::to_string(t.episodes) + ',' + std::to_string(t.detected) + ',' +
           fixed(t.recall(), 4) + ',' + std::to_string(t.false_positives) + ',' + fixed(t.precision(), 4) +
           ',' + fixed(t.median_delay(), 1) + ',' +
           (t.delays.empty() ? std::string("-") : std::to_string(t.max_delay())) + ',' +
           std::to_string(t.cross_type) + '\n';
  });
  return out;
}

}  // namespace gridsentinel::backtest
