#pragma once
// FleetSimulator: smart-meter readings for a fleet of households, with anomalies injected at known places.
//
// Each tick produces one reading per meter (silent meters excepted) with event time start_time_ms + k *
// interval. A reading is the mean over the interval that ends at its event time:
//   - load: mean_load_w (lognormal per meter) x DailyProfile::load (shifted by up to ~1.5 h per household) x
//   a
//     persistent lognormal factor (AR(1), sigma 0.3) + 20 W of white noise, floored at a standby of 10% of
//     the mean;
//   - exporters: minus rooftop PV, peak 1.8-4 kW x the sin^2 daylight shape (06:30-17:30 local) x the cloud
//   cover of
//     their transformer. active_power_w < 0 when they export; the import register stays still then;
//   - voltage: the transformer's level (226-234 V) + a slow drift (AR(1), sd 1.5 V, ~2 days) - a drop at the
//     evening peak - 0.8 V per kW of the meter's own load + 0.6 V of noise, kept within 209-251 V (EN 50160);
//   - power factor 0.9-0.99 per meter with +-0.01 noise; current = |P| / (V pf); frequency 50 Hz +- 0.045,
//   one value
//     for the whole (synchronous) grid per tick; energy_kwh: the import register, advancing by max(P, 0) x
//     interval;
//   - resolution like a meter's: 0.1 V, 1 mA, 0.1 W, 0.001 pf, 1 mHz, 1 Wh.
// Anomalies (see MeterAnomalyType for how each one looks) come from a per-meter Poisson process and/or an
// explicit schedule; each is appended to ground_truth() when its first reading is produced.
//
// Determinism: the output is a function of the config alone (seed included). The normal values use a fixed
// number of draws per meter per tick, and the anomalies draw from their own streams, so a run with anomalies
// is identical to the same run without them outside the anomaly windows, except that energy_kwh stays lower
// after an anomaly that withheld energy from the register (outage, reverse_flow, bypass, stuck_meter,
// consumption_drop).
//
// Cost: ~40 bytes per meter and ~16 bytes per transformer; a tick costs O(meters). No I/O, no clock, no
// threads; not thread-safe. ground_truth() grows by one entry per anomaly (~70 bytes each).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "gridsentinel/v1/telemetry.pb.h"
#include "sim/DailyProfile.h"
#include "sim/InjectedAnomaly.h"
#include "sim/SimRandom.h"
#include "sim/SimulatorConfig.h"

namespace gridsentinel::sim {

class FleetSimulator {
 public:
  // Throws std::invalid_argument on a bad config (see SimulatorConfig::validate; also a scheduled
  // reverse_flow on an exporter, or scheduled anomalies that overlap on a meter).
  explicit FleetSimulator(SimulatorConfig config);

  // Produces the next tick: every meter's reading, in meter order, silent meters left out. Reuses the
  // messages already in `out`. Returns false (and leaves `out` empty) once max_ticks ticks have been
  // produced.
  bool next_tick(std::vector<gridsentinel::v1::MeterReading>& out);
  // The same tick split into batches of at most max_readings_per_batch (> 0) readings, reusing `out`'s
  // messages.
  bool next_tick_batches(std::vector<gridsentinel::v1::MeterReadingBatch>& out,
                         size_t max_readings_per_batch = 10000);

  // The same tick handed to `sink` one batch (<= max_readings_per_batch readings) at a time, so that only one
  // batch is held: a whole tick of a 1M-meter fleet is ~200 MB of messages. The batch is reused once sink
  // returns.
  bool next_tick_streamed(size_t max_readings_per_batch,
                          const std::function<void(gridsentinel::v1::MeterReadingBatch&)>& sink);

  // The same tick handed to `sink` one reading at a time, as each is generated: a paced producer can then
  // spread a tick's readings evenly over its interval instead of waiting for the whole tick to be generated
  // (100k meters' readings take ~17 ms to generate here: a burst every tick). The reading is reused once sink
  // returns.
  bool next_tick_each(const std::function<void(const gridsentinel::v1::MeterReading&)>& sink);

  // Event time of the last tick produced (start_time_ms - interval before the first).
  int64_t now_ms() const { return start_ms_ + (static_cast<int64_t>(tick_) - 1) * interval_ms_; }
  // Event time of the tick the next call produces.
  int64_t next_tick_time_ms() const { return start_ms_ + static_cast<int64_t>(tick_) * interval_ms_; }
  uint64_t ticks_done() const { return tick_; }
  int64_t interval_ms() const { return interval_ms_; }
  bool done() const { return tick_ >= tick_limit_; }

  uint32_t num_meters() const { return static_cast<uint32_t>(meters_.size()); }
  uint32_t num_transformers() const { return static_cast<uint32_t>(transformers_.size()); }
  std::string meter_id(uint32_t meter_index) const;
  std::string transformer_id(uint32_t transformer_index) const;
  uint32_t transformer_of(uint32_t meter_index) const { return meters_[meter_index].transformer; }
  // Prosumers: meters with rooftop PV that legitimately export around midday. Fixed for the run.
  bool is_exporter(uint32_t meter_index) const { return meters_[meter_index].solar_peak_w > 0.0f; }
  std::vector<uint32_t> exporter_indices() const;
  double mean_load_w(uint32_t meter_index) const {
    return static_cast<double>(meters_[meter_index].mean_load_w);
  }
  // "MTR-000042" -> 41; nullopt for anything else (any digit count, so ids of every fleet size parse).
  static std::optional<uint32_t> parse_meter_index(std::string_view meter_id);

  // Anomalies whose first reading has been produced, in start order.
  const std::vector<InjectedAnomaly>& ground_truth() const { return ground_truth_; }
  // See InjectedAnomaly.h for the columns.
  void write_ground_truth_csv(std::ostream& os) const;
  // meter_id,transformer_id,exporter,mean_load_w,solar_peak_w: one row per meter, for tools that score
  // alerts.
  void write_meters_csv(std::ostream& os) const;

  const SimulatorConfig& config() const { return config_; }

 private:
  static constexpr uint32_t kNone = 0xFFFFFFFFu;

  struct Meter {
    double energy_kwh;     // the import register, unrounded
    float mean_load_w;     // mean household load
    float solar_peak_w;    // PV peak output; 0 for non-exporters
    float pf;              // typical power factor
    float load_ar;         // AR(1) state of the log load factor, unit variance
    uint32_t transformer;  // index into transformers_
    uint32_t next_random;  // tick of the next random anomaly, kNone if none
    uint32_t active;       // slot in active_, kNone if no anomaly runs
    int16_t shift_min;     // this household's rhythm against the profile, minutes
  };
  struct Transformer {
    float level_v;   // no-load voltage
    float drift_v;   // slow drift (AR(1))
    float cloud_ar;  // AR(1) state of the cloud cover over this transformer's roofs
    uint32_t first_meter;
  };
  struct Planned {
    uint32_t meter;
    uint32_t start_tick;
    uint32_t end_tick;  // inclusive
    MeterAnomalyType type;
  };
  struct Active {
    uint64_t seed;  // per-anomaly stream, mixed with the tick for per-reading values
    uint32_t meter;
    uint32_t start_tick;
    uint32_t end_tick;  // inclusive
    MeterAnomalyType type;
    uint32_t flag;  // tamper: the status flag raised
    double factor;  // consumption_drop: load factor; stuck_meter: frozen power
  };

  template <class NextSlot>
  bool generate(NextSlot&& next_slot);
  void activate(uint32_t meter, uint32_t start_tick, uint32_t end_tick, MeterAnomalyType type);
  void try_start_random(uint32_t meter_index, uint32_t tick);
  uint32_t draw_next_random(uint32_t meter_index, uint64_t from_tick) const;
  // The first scheduled anomaly on the meter that intersects [from, to], if any.
  const Planned* scheduled_conflict(uint32_t meter, uint32_t from, uint32_t to) const;
  int64_t tick_time_ms(uint32_t tick) const { return start_ms_ + static_cast<int64_t>(tick) * interval_ms_; }
  size_t format_meter_id(uint32_t meter_index, char* buf) const;
  size_t format_transformer_id(uint32_t transformer_index, char* buf) const;

  SimulatorConfig config_;
  DailyProfile profile_;
  int64_t start_ms_;
  int64_t interval_ms_;
  uint32_t tick_ = 0;
  uint32_t tick_limit_;
  uint32_t ticks_per_day_;  // readings per day, rounded up
  uint32_t warmup_ticks_;
  int meter_id_digits_;
  int transformer_id_digits_;

  std::vector<Meter> meters_;
  std::vector<Transformer> transformers_;
  TickRng tick_rng_;
  double freq_dev_hz_ = 0.0;

  std::vector<Active> active_;
  std::vector<uint32_t> free_slots_;
  std::vector<Planned> scheduled_;  // by start tick, then meter
  size_t next_scheduled_ = 0;
  std::vector<Planned> scheduled_by_meter_;  // by meter, then start tick
  std::vector<InjectedAnomaly> ground_truth_;
  gridsentinel::v1::MeterReadingBatch stream_batch_;  // next_tick_streamed's reused batch
  gridsentinel::v1::MeterReading each_reading_;       // next_tick_each's reused reading
};

}  // namespace gridsentinel::sim
