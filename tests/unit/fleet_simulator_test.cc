#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "gridsentinel/v1/telemetry.pb.h"
#include "sim/FleetSimulator.h"
#include "sim/InfraSimulator.h"
#include "sim/InjectedAnomaly.h"

namespace gridsentinel::sim {
namespace {

using gridsentinel::v1::InfraMetric;
using gridsentinel::v1::MeterReading;
using gridsentinel::v1::MeterReadingBatch;

constexpr int64_t kStart = 1704067200000;  // 2024-01-01T00:00:00Z, a Monday
constexpr int64_t kInterval = 900'000;

// One meter's reading, as the tests look at it.
struct Row {
  bool present = false;
  double v = 0, i = 0, p = 0, e = 0, pf = 0, f = 0;
  bool has_f = false;
  uint32_t flags = 0;
};

// A whole run, indexed [meter][tick].
struct FleetRun {
  std::vector<std::vector<Row>> rows;
  std::vector<InjectedAnomaly> truth;
  std::vector<bool> exporter;
  std::vector<double> mean_load;
  std::vector<std::string> transformer;
  uint32_t ticks = 0;
};

FleetRun run(const SimulatorConfig& c) {
  FleetSimulator sim(c);
  FleetRun r;
  r.rows.assign(c.num_meters, std::vector<Row>(c.max_ticks));
  for (uint32_t m = 0; m < c.num_meters; ++m) {
    r.exporter.push_back(sim.is_exporter(m));
    r.mean_load.push_back(sim.mean_load_w(m));
  }
  std::vector<MeterReading> out;
  while (sim.next_tick(out)) {
    const uint32_t t = r.ticks++;
    for (const MeterReading& x : out) {
      const auto m = FleetSimulator::parse_meter_index(x.meter_id());
      EXPECT_TRUE(m.has_value());
      EXPECT_EQ(x.event_time_ms(), c.start_time_ms + int64_t{t} * c.interval_s * 1000);
      Row& row = r.rows[*m][t];
      EXPECT_FALSE(row.present) << "two readings of one meter in one tick";
      row = Row{true,
                x.voltage_v(),
                x.current_a(),
                x.active_power_w(),
                x.energy_kwh(),
                x.power_factor(),
                x.frequency_hz(),
                x.has_frequency_hz(),
                x.status_flags()};
      if (t == 0) r.transformer.push_back(x.transformer_id());
    }
  }
  r.truth = sim.ground_truth();
  return r;
}

SimulatorConfig small_config(uint32_t meters, uint32_t days, double rate) {
  SimulatorConfig c;
  c.seed = 7;
  c.num_meters = meters;
  c.start_time_ms = kStart;
  c.max_ticks = days * 96;
  c.anomalies_per_meter_day = rate;
  return c;
}

uint32_t tick_of(int64_t t_ms) {
  return static_cast<uint32_t>((t_ms - kStart) / kInterval);
}

// Local (UTC) hour of the middle of the interval ending at tick t.
double mid_hour(uint32_t t) {
  const int64_t mid = kStart + int64_t{t} * kInterval - kInterval / 2;
  return static_cast<double>(((mid % 86'400'000) + 86'400'000) % 86'400'000) / 3.6e6;
}

void expect_consistent_current(const Row& r, const char* what) {
  const double expected = std::abs(r.p) / (r.v * r.pf);
  EXPECT_NEAR(r.i, expected, 0.002 + 0.003 * expected) << what << ": I should be |P| / (V pf)";
}

// Checks that every reading in the anomaly's window looks as MeterAnomalyType documents, against the same run
// without anomalies.
void expect_anomaly_as_described(const InjectedAnomaly& a, const FleetRun& got, const FleetRun& clean) {
  SCOPED_TRACE(std::string(to_string(a.type)) + " on " + a.meter_id + " at " +
               std::to_string(a.start_event_time_ms));
  const uint32_t m = *FleetSimulator::parse_meter_index(a.meter_id);
  const uint32_t s = tick_of(a.start_event_time_ms);
  const uint32_t e = tick_of(a.end_event_time_ms);
  ASSERT_EQ(e - s + 1, a.readings);
  ASSERT_LT(e, got.ticks);
  const AnomalyLength len = anomaly_length(a.type);
  if (a.type == MeterAnomalyType::kConsumptionDrop) {
    EXPECT_GE(a.readings, 96u * len.min);
    EXPECT_LE(a.readings, 96u * len.max);
  } else {
    EXPECT_GE(a.readings, len.min);
    EXPECT_LE(a.readings, len.max);
  }
  const auto& rows = got.rows[m];
  const auto& ref = clean.rows[m];
  const Row* before = s > 0 ? &rows[s - 1] : nullptr;

  if (a.type == MeterAnomalyType::kSilentMeter) {
    for (uint32_t t = s; t <= e; ++t)
      EXPECT_FALSE(rows[t].present) << "silent meter sent a reading at tick " << t;
    if (before != nullptr && e + 1 < got.ticks) {
      ASSERT_TRUE(before->present);
      ASSERT_TRUE(rows[e + 1].present);
      // The register kept counting while the meter was silent.
      EXPECT_NEAR(rows[e + 1].e - before->e, ref[e + 1].e - ref[s - 1].e, 0.0021);
    }
    return;
  }
  double ratio_lo = 1e9, ratio_hi = -1e9;
  for (uint32_t t = s; t <= e; ++t) {
    const Row& r = rows[t];
    const Row& c = ref[t];
    ASSERT_TRUE(r.present) << "tick " << t;
    switch (a.type) {
      case MeterAnomalyType::kVoltageSag:
        EXPECT_GE(r.v, 185.0);
        EXPECT_LE(r.v, 200.0);
        EXPECT_EQ(r.p, c.p);
        expect_consistent_current(r, "sag");
        break;
      case MeterAnomalyType::kVoltageSwell:
        EXPECT_GE(r.v, 258.0);
        EXPECT_LE(r.v, 270.0);
        EXPECT_EQ(r.p, c.p);
        expect_consistent_current(r, "swell");
        break;
      case MeterAnomalyType::kOutage:
        EXPECT_LE(r.v, kOutageMaxVoltageV);
        EXPECT_EQ(r.i, 0.0);
        EXPECT_EQ(r.p, 0.0);
        EXPECT_FALSE(r.has_f);
        ASSERT_NE(before, nullptr);
        EXPECT_EQ(r.e, before->e) << "the register advanced during an outage";
        break;
      case MeterAnomalyType::kReverseFlow:
        EXPECT_FALSE(got.exporter[m]);
        EXPECT_LE(r.p, -500.0);
        EXPECT_GE(r.p, -2000.0);
        expect_consistent_current(r, "reverse flow");
        ASSERT_NE(before, nullptr);
        EXPECT_EQ(r.e, before->e) << "the import register advanced during reverse flow";
        break;
      case MeterAnomalyType::kBypass:
        EXPECT_LE(r.v, kOutageMaxVoltageV);
        EXPECT_GE(r.i, kBypassMinCurrentA);
        EXPECT_LE(r.p, (r.v + 0.05) * r.i + 0.1);  // V is rounded to 0.1 V
        EXPECT_FALSE(r.has_f);
        break;
      case MeterAnomalyType::kStuckMeter:
        EXPECT_EQ(r.p, rows[s].p);
        EXPECT_EQ(r.e, rows[s].e);
        EXPECT_EQ(r.v, c.v);
        EXPECT_EQ(r.i, c.i) << "current should follow the real draw";
        EXPECT_GT(r.i, 0.0);
        break;
      case MeterAnomalyType::kConsumptionDrop:
        if (got.exporter[m]) {
          EXPECT_LE(r.p, c.p + 0.1);
        } else {
          ratio_lo = std::min(ratio_lo, r.p / c.p);
          ratio_hi = std::max(ratio_hi, r.p / c.p);
        }
        expect_consistent_current(r, "consumption drop");
        break;
      case MeterAnomalyType::kSpike:
        EXPECT_GE(r.p, 5.0 * std::max(c.p, got.mean_load[m]) * 0.999);
        if (!got.exporter[m]) {
          EXPECT_LE(r.p, 10.0 * std::max(c.p, got.mean_load[m]) * 1.001);
        }
        expect_consistent_current(r, "spike");
        if (before != nullptr) {
          EXPECT_GT(r.e, before->e);
        }
        break;
      case MeterAnomalyType::kTamper:
        EXPECT_TRUE(r.flags == gridsentinel::v1::METER_STATUS_FLAG_COVER_OPEN ||
                    r.flags == gridsentinel::v1::METER_STATUS_FLAG_MAGNETIC_FIELD)
            << r.flags;
        EXPECT_EQ(r.p, c.p);
        EXPECT_EQ(r.v, c.v);
        break;
      case MeterAnomalyType::kSilentMeter:
        break;
    }
  }
  if (a.type == MeterAnomalyType::kConsumptionDrop && !got.exporter[m]) {
    EXPECT_GE(ratio_lo, 0.2 - 0.01);
    EXPECT_LE(ratio_hi, 0.4 + 0.01);
    EXPECT_LT(ratio_hi - ratio_lo, 0.02) << "one factor for the whole drop";
  }
}

std::vector<bool> anomalous_ticks(const FleetRun& r, uint32_t m) {
  std::vector<bool> in(r.ticks, false);
  for (const auto& a : r.truth) {
    if (*FleetSimulator::parse_meter_index(a.meter_id) != m) continue;
    for (uint32_t t = tick_of(a.start_event_time_ms); t <= tick_of(a.end_event_time_ms); ++t) in[t] = true;
  }
  return in;
}

TEST(FleetSimulator, SameSeedGivesIdenticalReadingsAndGroundTruth) {
  SimulatorConfig c = small_config(150, 4, 0.5);
  c.warmup_ms = 0;
  FleetSimulator a(c), b(c);
  c.seed = 8;
  FleetSimulator other(c);
  std::vector<MeterReading> ra, rb, ro;
  size_t differing = 0;
  while (a.next_tick(ra)) {
    ASSERT_TRUE(b.next_tick(rb));
    ASSERT_TRUE(other.next_tick(ro));
    ASSERT_EQ(ra.size(), rb.size());
    for (size_t k = 0; k < ra.size(); ++k) ASSERT_EQ(ra[k].SerializeAsString(), rb[k].SerializeAsString());
    for (size_t k = 0; k < std::min(ra.size(), ro.size()); ++k)
      differing += ra[k].SerializeAsString() != ro[k].SerializeAsString();
  }
  EXPECT_FALSE(b.next_tick(rb));
  EXPECT_GT(differing, 100u) << "another seed should give other readings";
  std::ostringstream ca, cb, co;
  a.write_ground_truth_csv(ca);
  b.write_ground_truth_csv(cb);
  other.write_ground_truth_csv(co);
  EXPECT_EQ(ca.str(), cb.str());
  EXPECT_NE(ca.str(), co.str());
  EXPECT_GT(a.ground_truth().size(), 50u);
}

TEST(FleetSimulator, NormalReadingsStayWithinEn50160AndArePhysicallyConsistent) {
  const SimulatorConfig c = small_config(400, 7, 0.0);
  const FleetRun r = run(c);
  ASSERT_EQ(r.ticks, 7u * 96);
  EXPECT_TRUE(r.truth.empty());
  double sum_evening = 0, sum_night = 0, sum_all = 0;
  size_t n_all = 0;
  for (uint32_t m = 0; m < c.num_meters; ++m) {
    for (uint32_t t = 0; t < r.ticks; ++t) {
      const Row& x = r.rows[m][t];
      ASSERT_TRUE(x.present);
      ASSERT_GE(x.v, 207.0);
      ASSERT_LE(x.v, 253.0);
      ASSERT_TRUE(x.has_f);
      ASSERT_GE(x.f, 49.95);
      ASSERT_LE(x.f, 50.05);
      ASSERT_GE(x.pf, 0.85);
      ASSERT_LE(x.pf, 1.0);
      ASSERT_EQ(x.flags, 0u);
      expect_consistent_current(x, "normal");
      if (!r.exporter[m]) {
        ASSERT_GT(x.p, 0.0);
      }
      if (t > 0) {
        const double delta = x.e - r.rows[m][t - 1].e;
        ASSERT_GE(delta, 0.0) << "the register went backwards";
        // Advances by max(P, 0) x 15 min, up to the 1 Wh resolution.
        ASSERT_NEAR(delta, std::max(x.p, 0.0) * 0.25 / 1000.0, 0.0011);
      }
      if (!r.exporter[m]) {
        sum_all += x.p;
        ++n_all;
        const double h = mid_hour(t);
        if (h > 18.5 && h < 19.5) sum_evening += x.p;
        if (h > 3.0 && h < 4.0) sum_night += x.p;
      }
    }
  }
  const double mean = sum_all / static_cast<double>(n_all);
  EXPECT_GT(mean, 400.0);
  EXPECT_LT(mean, 800.0);
  EXPECT_GT(sum_evening, 3.0 * sum_night) << "evening peak over night trough";
  // Transformers group 20-50 consecutive meters (the last one takes the remainder).
  std::map<std::string, int> per_tx;
  for (const auto& tx : r.transformer) ++per_tx[tx];
  ASSERT_GE(per_tx.size(), 8u);
  int small = 0;
  for (const auto& [tx, k] : per_tx) {
    EXPECT_LE(k, 50) << tx;
    small += k < 20;
  }
  EXPECT_LE(small, 1);
}

TEST(FleetSimulator, ExportersExportOnlyAroundMidday) {
  SimulatorConfig c = small_config(2000, 4, 0.0);
  const FleetRun r = run(c);
  const size_t exporters = static_cast<size_t>(std::count(r.exporter.begin(), r.exporter.end(), true));
  EXPECT_GE(exporters, 60u);  // 5% of 2000
  EXPECT_LE(exporters, 140u);
  size_t noon = 0, noon_export = 0;
  for (uint32_t m = 0; m < c.num_meters; ++m) {
    for (uint32_t t = 0; t < r.ticks; ++t) {
      const Row& x = r.rows[m][t];
      const double h = mid_hour(t);
      if (!r.exporter[m]) {
        ASSERT_GT(x.p, 0.0) << "non-exporter exported";
        continue;
      }
      if (x.p < 0.0) {
        EXPECT_GT(h, DailyProfile::kSunriseHour);
        EXPECT_LT(h, DailyProfile::kSunsetHour);
      }
      if (h > 11.5 && h < 12.5) {
        ++noon;
        noon_export += x.p < 0.0;
      }
    }
  }
  EXPECT_GT(static_cast<double>(noon_export), 0.8 * static_cast<double>(noon));
  // The simulator reports the same set it generated.
  FleetSimulator sim(c);
  EXPECT_EQ(sim.exporter_indices().size(), exporters);
}

TEST(FleetSimulator, EveryAnomalyTypeAppearsAsDescribedAtItsRecordedTime) {
  const SimulatorConfig c = small_config(200, 10, 0.25);
  SimulatorConfig clean_config = c;
  clean_config.anomalies_per_meter_day = 0.0;
  const FleetRun got = run(c);
  const FleetRun clean = run(clean_config);
  std::map<MeterAnomalyType, int> count;
  for (const auto& a : got.truth) {
    ++count[a.type];
    expect_anomaly_as_described(a, got, clean);
  }
  for (size_t k = 0; k < kMeterAnomalyTypeCount; ++k) {
    EXPECT_GE(count[static_cast<MeterAnomalyType>(k)], 3) << to_string(static_cast<MeterAnomalyType>(k));
  }
  // Outside the windows the readings are the clean run's, except the register (see FleetSimulator.h).
  for (uint32_t m = 0; m < c.num_meters; ++m) {
    const auto in = anomalous_ticks(got, m);
    for (uint32_t t = 0; t < got.ticks; ++t) {
      if (in[t]) continue;
      const Row& x = got.rows[m][t];
      const Row& y = clean.rows[m][t];
      ASSERT_TRUE(x.present);
      ASSERT_EQ(x.v, y.v);
      ASSERT_EQ(x.p, y.p);
      ASSERT_EQ(x.i, y.i);
      ASSERT_EQ(x.pf, y.pf);
      ASSERT_EQ(x.f, y.f);
      ASSERT_EQ(x.flags, 0u);
      if (t > 0 && got.rows[m][t - 1].present) {
        ASSERT_GE(x.e, got.rows[m][t - 1].e);
      }
    }
  }
}

TEST(FleetSimulator, AnomaliesDoNotOverlapAndLeaveTheWarmUpClean) {
  SimulatorConfig c = small_config(500, 8, 0.5);
  c.min_gap_readings = 4;
  FleetSimulator sim(c);
  std::vector<MeterReading> out;
  while (sim.next_tick(out)) {
  }
  std::map<std::string, std::vector<InjectedAnomaly>> per_meter;
  int64_t last_start = 0;
  for (const auto& a : sim.ground_truth()) {
    EXPECT_GE(a.start_event_time_ms, kStart + c.warmup_ms);
    EXPECT_GE(a.start_event_time_ms, last_start) << "ground truth is in start order";
    EXPECT_LE(a.end_event_time_ms, sim.now_ms()) << "a bounded run holds whole anomalies only";
    last_start = a.start_event_time_ms;
    per_meter[a.meter_id].push_back(a);
  }
  ASSERT_GT(sim.ground_truth().size(), 500u);
  for (const auto& [id, list] : per_meter) {
    for (size_t k = 1; k < list.size(); ++k) {
      EXPECT_GT(list[k].start_event_time_ms, list[k - 1].end_event_time_ms + c.min_gap_readings * kInterval)
          << id;
    }
  }
}

TEST(FleetSimulator, ScheduledAnomaliesAreInjectedExactlyAsAsked) {
  SimulatorConfig c = small_config(60, 6, 0.0);
  FleetSimulator probe(c);
  uint32_t importer = 0;
  while (probe.is_exporter(importer)) ++importer;
  const int64_t day3 = kStart + 3 * 86'400'000LL;
  const std::vector<ScheduledAnomaly> schedule = {
      {MeterAnomalyType::kVoltageSag, 1, day3 + 10 * kInterval, 3},
      {MeterAnomalyType::kVoltageSwell, 2, day3 + 20 * kInterval, 2},
      {MeterAnomalyType::kOutage, 3, day3 + 30 * kInterval, 5},
      {MeterAnomalyType::kSilentMeter, 4, day3 + 40 * kInterval, 8},
      {MeterAnomalyType::kReverseFlow, importer, day3 + 48 * kInterval, 4},
      {MeterAnomalyType::kBypass, 5, day3 + 50 * kInterval, 3},
      {MeterAnomalyType::kStuckMeter, 6, day3 + 60 * kInterval, 12},
      {MeterAnomalyType::kConsumptionDrop, 7, day3 + 4 * kInterval, 120},
      {MeterAnomalyType::kSpike, 8, day3 + 70 * kInterval, 1},
      {MeterAnomalyType::kTamper, 9, day3 + 80 * kInterval, 1},
      {MeterAnomalyType::kSpike, 1, day3 + 14 * kInterval, 1},  // right after the sag on the same meter
  };
  c.schedule = schedule;
  SimulatorConfig clean_config = small_config(60, 6, 0.0);
  const FleetRun got = run(c);
  const FleetRun clean = run(clean_config);
  ASSERT_EQ(got.truth.size(), schedule.size());
  std::vector<ScheduledAnomaly> sorted = schedule;
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return a.start_event_time_ms < b.start_event_time_ms;
  });
  for (size_t k = 0; k < sorted.size(); ++k) {
    const InjectedAnomaly& a = got.truth[k];
    EXPECT_EQ(a.type, sorted[k].type);
    EXPECT_EQ(a.meter_id, probe.meter_id(sorted[k].meter_index));
    EXPECT_EQ(a.start_event_time_ms, sorted[k].start_event_time_ms);
    EXPECT_EQ(a.readings, sorted[k].readings);
    EXPECT_EQ(a.end_event_time_ms, a.start_event_time_ms + (a.readings - 1) * kInterval);
    expect_anomaly_as_described(a, got, clean);
  }
}

TEST(FleetSimulator, ScheduledAndRandomAnomaliesKeepApart) {
  SimulatorConfig c = small_config(20, 6, 3.0);  // dense random injections
  const int64_t day3 = kStart + 3 * 86'400'000LL;
  for (uint32_t m = 0; m < 20; ++m) c.schedule.push_back({MeterAnomalyType::kOutage, m, day3, 4});
  FleetSimulator sim(c);
  std::vector<MeterReading> out;
  while (sim.next_tick(out)) {
  }
  std::map<std::string, std::vector<InjectedAnomaly>> per_meter;
  for (const auto& a : sim.ground_truth()) per_meter[a.meter_id].push_back(a);
  for (const auto& [id, list] : per_meter) {
    for (size_t k = 1; k < list.size(); ++k) {
      EXPECT_GT(list[k].start_event_time_ms, list[k - 1].end_event_time_ms) << id;
    }
    EXPECT_TRUE(std::any_of(list.begin(), list.end(), [&](const InjectedAnomaly& a) {
      return a.type == MeterAnomalyType::kOutage && a.start_event_time_ms == day3;
    })) << id;
  }
}

TEST(FleetSimulator, BadSchedulesAreRejectedAtConstruction) {
  const int64_t day3 = kStart + 3 * 86'400'000LL;
  auto with = [](std::vector<ScheduledAnomaly> s) {
    SimulatorConfig c = small_config(50, 6, 0.0);
    c.schedule = std::move(s);
    return c;
  };
  EXPECT_THROW(FleetSimulator{with({{MeterAnomalyType::kOutage, 1, day3, 4},
                                    {MeterAnomalyType::kSpike, 1, day3 + 3 * kInterval, 1}})},
               std::invalid_argument);
  EXPECT_THROW(FleetSimulator{with({{MeterAnomalyType::kOutage, 1, day3 + 1, 4}})}, std::invalid_argument);
  EXPECT_THROW(FleetSimulator{with({{MeterAnomalyType::kSilentMeter, 1, day3, 5}})}, std::invalid_argument);
  EXPECT_THROW(FleetSimulator{with({{MeterAnomalyType::kSpike, 1, day3, 2}})}, std::invalid_argument);
  EXPECT_THROW(FleetSimulator{with({{MeterAnomalyType::kOutage, 50, day3, 4}})}, std::invalid_argument);
  EXPECT_THROW(FleetSimulator{with({{MeterAnomalyType::kConsumptionDrop, 1, day3, 95}})},
               std::invalid_argument);
  EXPECT_THROW(
      FleetSimulator{with({{MeterAnomalyType::kOutage, 1, kStart + 6 * 86'400'000LL - kInterval, 2}})},
      std::invalid_argument);
  SimulatorConfig c = small_config(400, 1, 0.0);
  FleetSimulator probe(c);
  const uint32_t exporter = probe.exporter_indices().at(0);
  c.max_ticks = 6 * 96;
  c.schedule = {{MeterAnomalyType::kReverseFlow, exporter, day3, 4}};
  EXPECT_THROW(FleetSimulator{c}, std::invalid_argument);
  SimulatorConfig bad = small_config(0, 1, 0.0);
  EXPECT_THROW(FleetSimulator{bad}, std::invalid_argument);
  bad = small_config(10, 1, 0.0);
  bad.interval_s = 0;
  EXPECT_THROW(FleetSimulator{bad}, std::invalid_argument);
  bad = small_config(10, 1, 0.1);
  bad.type_weights.fill(0.0);
  EXPECT_THROW(FleetSimulator{bad}, std::invalid_argument);
}

TEST(FleetSimulator, EveryWayOfTakingATickGivesItsReadingsInOrderAndBatchesWithinTheLimit) {
  SimulatorConfig c = small_config(103, 3, 2.0);
  c.warmup_ms = 0;
  FleetSimulator a(c), b(c);
  std::vector<MeterReading> flat;
  std::vector<MeterReadingBatch> batches;
  size_t ticks = 0;
  while (a.next_tick(flat)) {
    ASSERT_TRUE(b.next_tick_batches(batches, 10));
    size_t k = 0;
    for (const auto& batch : batches) {
      ASSERT_LE(batch.readings_size(), 10);
      ASSERT_GT(batch.readings_size(), 0);
      for (const auto& x : batch.readings())
        ASSERT_EQ(x.SerializeAsString(), flat.at(k++).SerializeAsString());
    }
    ASSERT_EQ(k, flat.size());
    ++ticks;
  }
  EXPECT_FALSE(b.next_tick_batches(batches));
  EXPECT_TRUE(batches.empty());

  FleetSimulator streamed(c), flat_again(c);
  while (flat_again.next_tick(flat)) {
    size_t k = 0, calls = 0;
    ASSERT_TRUE(streamed.next_tick_streamed(10, [&](MeterReadingBatch& batch) {
      ++calls;
      ASSERT_LE(batch.readings_size(), 10);
      for (const auto& x : batch.readings())
        ASSERT_EQ(x.SerializeAsString(), flat.at(k++).SerializeAsString());
    }));
    ASSERT_EQ(k, flat.size());
    ASSERT_EQ(calls, (flat.size() + 9) / 10);
  }
  EXPECT_FALSE(streamed.next_tick_streamed(10, [](MeterReadingBatch&) { FAIL() << "no tick left"; }));

  FleetSimulator each(c), flat_third(c);
  while (flat_third.next_tick(flat)) {
    size_t k = 0;
    ASSERT_TRUE(each.next_tick_each(
        [&](const MeterReading& x) { ASSERT_EQ(x.SerializeAsString(), flat.at(k++).SerializeAsString()); }));
    ASSERT_EQ(k, flat.size());
  }
  EXPECT_FALSE(each.next_tick_each([](const MeterReading&) { FAIL() << "no tick left"; }));
  EXPECT_EQ(ticks, 3u * 96);
  EXPECT_EQ(a.ground_truth().size(), b.ground_truth().size());
}

TEST(FleetSimulator, ClockIdsAndBoundsFollowTheConfig) {
  SimulatorConfig c = small_config(12, 0, 0.0);
  c.max_ticks = 3;
  c.interval_s = 300;
  FleetSimulator sim(c);
  EXPECT_EQ(sim.next_tick_time_ms(), kStart);
  EXPECT_EQ(sim.now_ms(), kStart - 300'000);
  std::vector<MeterReading> out;
  ASSERT_TRUE(sim.next_tick(out));
  EXPECT_EQ(sim.now_ms(), kStart);
  ASSERT_EQ(out.size(), 12u);
  EXPECT_EQ(out[0].meter_id(), "MTR-000001");
  EXPECT_EQ(out[11].meter_id(), "MTR-000012");
  EXPECT_EQ(out[0].transformer_id(), "TX-00001");
  EXPECT_EQ(out[0].interval_s(), 300u);
  EXPECT_TRUE(sim.next_tick(out));
  EXPECT_TRUE(sim.next_tick(out));
  EXPECT_EQ(sim.now_ms(), kStart + 2 * 300'000);
  EXPECT_FALSE(sim.next_tick(out));
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(sim.done());

  EXPECT_EQ(FleetSimulator::parse_meter_index("MTR-000042"), 41u);
  EXPECT_EQ(FleetSimulator::parse_meter_index("MTR-1000000"), 999999u);
  EXPECT_FALSE(FleetSimulator::parse_meter_index("MTR-000000"));
  EXPECT_FALSE(FleetSimulator::parse_meter_index("MTR-"));
  EXPECT_FALSE(FleetSimulator::parse_meter_index("MTR-12a"));
  EXPECT_FALSE(FleetSimulator::parse_meter_index("TX-00001"));
}

TEST(FleetSimulator, MillionMeterFleetGetsWiderIdsAndSmallState) {
  SimulatorConfig c;
  c.num_meters = 1'000'000;
  c.max_ticks = 1;
  FleetSimulator sim(c);
  EXPECT_EQ(sim.meter_id(0), "MTR-0000001");
  EXPECT_EQ(sim.meter_id(999'999), "MTR-1000000");
  EXPECT_GE(sim.num_transformers(), 1'000'000u / 50);
  EXPECT_LE(sim.num_transformers(), 1'000'000u / 20 + 1);
  const double share = static_cast<double>(sim.exporter_indices().size()) / 1e6;
  EXPECT_NEAR(share, 0.05, 0.005);
}

TEST(FleetSimulator, GroundTruthCsvHasOneRowPerAnomaly) {
  SimulatorConfig c = small_config(100, 5, 0.3);
  FleetSimulator sim(c);
  std::vector<MeterReading> out;
  while (sim.next_tick(out)) {
  }
  std::ostringstream os;
  sim.write_ground_truth_csv(os);
  std::istringstream is(os.str());
  std::string line;
  ASSERT_TRUE(std::getline(is, line));
  EXPECT_EQ(line, "anomaly_type,entity_kind,entity_id,start_event_time_ms,end_event_time_ms,readings");
  size_t rows = 0;
  while (std::getline(is, line)) {
    const auto& a = sim.ground_truth().at(rows++);
    EXPECT_EQ(line, std::string(to_string(a.type)) + ",meter," + a.meter_id + "," +
                        std::to_string(a.start_event_time_ms) + "," + std::to_string(a.end_event_time_ms) +
                        "," + std::to_string(a.readings));
    EXPECT_EQ(parse_meter_anomaly_type(to_string(a.type)), a.type);
  }
  EXPECT_EQ(rows, sim.ground_truth().size());
  std::ostringstream meters;
  sim.write_meters_csv(meters);
  const std::string table = meters.str();
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 101);
}

// --- InfraSimulator ---

std::vector<std::vector<double>> infra_values(const InfraSimulatorConfig& c, InfraSimulator& sim) {
  std::vector<std::vector<double>> v;  // [tick][series]
  std::vector<InfraMetric> out;
  while (sim.next_tick(out)) {
    EXPECT_EQ(out.size(), c.sources.size() * 3);
    v.emplace_back();
    for (const auto& x : out) v.back().push_back(x.value());
  }
  return v;
}

TEST(InfraSimulator, IsDeterministicAndInjectsSpikesAndLevelShiftsAsRecorded) {
  InfraSimulatorConfig c;
  c.start_time_ms = kStart;
  c.max_ticks = 4 * 5760;  // four days of 15 s samples
  c.anomalies_per_series_day = 3.0;
  InfraSimulatorConfig clean_config = c;
  clean_config.anomalies_per_series_day = 0.0;
  InfraSimulator a(c), b(c), clean_sim(clean_config);
  const auto va = infra_values(c, a);
  const auto vb = infra_values(c, b);
  const auto vc = infra_values(clean_config, clean_sim);
  EXPECT_EQ(va, vb);
  ASSERT_EQ(va.size(), c.max_ticks);
  ASSERT_GT(a.ground_truth().size(), 20u);
  std::set<InfraAnomalyType> types;
  std::vector<std::vector<bool>> in(va.size(), std::vector<bool>(va[0].size(), false));
  for (const auto& g : a.ground_truth()) {
    types.insert(g.type);
    const size_t source =
        static_cast<size_t>(std::find(c.sources.begin(), c.sources.end(), g.source) - c.sources.begin());
    const size_t metric = static_cast<size_t>(
        std::find(InfraSimulator::kMetrics.begin(), InfraSimulator::kMetrics.end(), g.metric) -
        InfraSimulator::kMetrics.begin());
    ASSERT_LT(source, c.sources.size());
    ASSERT_LT(metric, 3u);
    EXPECT_GE(g.start_event_time_ms, kStart + c.warmup_ms);
    const size_t k = source * 3 + metric;
    const auto s = static_cast<size_t>((g.start_event_time_ms - kStart) / 15'000);
    const auto e = static_cast<size_t>((g.end_event_time_ms - kStart) / 15'000);
    ASSERT_EQ(e - s + 1, g.samples);
    EXPECT_EQ(g.samples, g.type == InfraAnomalyType::kSpike ? 1u : g.samples);
    EXPECT_EQ(g.entity_id(), g.source + "/" + g.metric);
    for (size_t t = s; t <= e; ++t) {
      in[t][k] = true;
      if (metric == 0) {
        EXPECT_GE(va[t][k], g.type == InfraAnomalyType::kSpike ? 0.92 : std::min(vc[t][k] + 0.2, 0.99));
      } else {
        EXPECT_GE(va[t][k], (g.type == InfraAnomalyType::kSpike ? 4.9 : 1.9) * vc[t][k]);
      }
    }
  }
  EXPECT_EQ(types.size(), 2u);
  for (size_t t = 0; t < va.size(); ++t) {
    for (size_t k = 0; k < va[t].size(); ++k) {
      if (!in[t][k]) {
        ASSERT_EQ(va[t][k], vc[t][k]);
      }
      if (k % 3 == 0) {
        ASSERT_GE(va[t][k], 0.0);
        ASSERT_LE(va[t][k], 1.0);
      } else {
        ASSERT_GE(va[t][k], 0.0);
      }
    }
  }
  std::ostringstream os;
  a.write_ground_truth_csv(os);
  EXPECT_NE(os.str().find(",infra_series,ingest-0/"), std::string::npos);
}

}  // namespace
}  // namespace gridsentinel::sim
