#include "sim/FleetSimulator.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>

namespace gridsentinel::sim {
namespace {

using gridsentinel::v1::MeterReading;

constexpr int64_t kMsPerDay = 86'400'000;

// Streams of randomness, one per purpose, each derived from the run's seed.
enum Stream : uint64_t {
  kStreamTick = 1,          // per-tick draws for the normal values (fixed count per tick)
  kStreamTransformers = 2,  // transformer sizes and levels
  kStreamMeters = 3,        // per-meter constants (indexed by meter)
  kStreamAnomalyTime = 4,   // waiting times of random anomalies (indexed by meter and tick)
  kStreamAnomalyType = 5,   // type and length of random anomalies (indexed by meter and tick)
  kStreamAnomaly = 6,       // per-anomaly values (indexed by meter and start tick)
};

// Load: lognormal factor with sigma 0.3 and a correlation time of one hour; 20 W of white noise; standby
// floor.
constexpr double kLoadSigma = 0.3;
constexpr double kLoadCorrelationS = 3600.0;
constexpr double kAdditiveNoiseW = 20.0;
constexpr double kStandbyFraction = 0.1;
// Voltage: transformer level, slow drift, drop at the fleet's peak, drop by own load, reading noise, hard
// range.
constexpr double kDriftSdV = 1.5;
constexpr double kDriftCorrelationS = 2 * 86400.0;
constexpr double kPeakDropV = 3.0;  // per unit of the profile above its mean
constexpr double kOwnLoadDropVPerW = 0.0008;
constexpr double kVoltageNoiseV = 0.6;
constexpr double kMinNormalV = 209.0;
constexpr double kMaxNormalV = 251.0;
// Cloud cover over a transformer's roofs: fraction of clear-sky PV, correlation time three hours.
constexpr double kCloudCorrelationS = 3 * 3600.0;
// Frequency of the synchronous grid, averaged over an interval.
constexpr double kFreqSdHz = 0.015;
constexpr double kFreqMaxDevHz = 0.045;
constexpr double kFreqCorrelationS = 300.0;

double round_to(double x, double scale) {
  return std::round(x * scale) / scale;
}

// Keeps x in [lo, hi] by reflecting excursions instead of clamping them: a clamp would repeat one exact value
// on consecutive readings, which is what a stuck-meter rule looks for.
double reflect(double x, double lo, double hi) {
  if (x < lo) x = 2.0 * lo - x;
  if (x > hi) x = 2.0 * hi - x;
  return std::clamp(x, lo, hi);
}

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// AR(1) coefficient for a correlation time, and the matching innovation scale for unit variance.
double ar_rho(double step_s, double correlation_s) {
  return std::exp(-step_s / correlation_s);
}
double ar_innovation(double rho) {
  return std::sqrt(1.0 - rho * rho);
}

size_t write_padded(char* dst, uint32_t v, int width) {
  char tmp[12];
  int n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  size_t k = 0;
  for (int pad = width - n; pad > 0; --pad) dst[k++] = '0';
  while (n > 0) dst[k++] = tmp[--n];
  return k;
}

int digits_for(uint64_t max_value, int at_least) {
  int d = 1;
  for (uint64_t v = max_value; v >= 10; v /= 10) ++d;
  return std::max(d, at_least);
}

}  // namespace

FleetSimulator::FleetSimulator(SimulatorConfig config)
    : config_(std::move(config)), tick_rng_(derive_seed(config_.seed, kStreamTick)) {
  config_.validate();
  start_ms_ = config_.start_time_ms;
  interval_ms_ = int64_t{config_.interval_s} * 1000;
  tick_limit_ =
      static_cast<uint32_t>(config_.max_ticks != 0 ? config_.max_ticks : SimulatorConfig::kMaxTicks);
  ticks_per_day_ = (86400 + config_.interval_s - 1) / config_.interval_s;
  warmup_ticks_ = static_cast<uint32_t>(
      std::min<int64_t>((config_.warmup_ms + interval_ms_ - 1) / interval_ms_, SimulatorConfig::kMaxTicks));
  meter_id_digits_ = digits_for(config_.num_meters, 6);

  const uint32_t n = config_.num_meters;
  SplitMix64 tx_rng(derive_seed(config_.seed, kStreamTransformers));
  for (uint32_t first = 0; first < n;) {
    Transformer tx{};
    tx.level_v = static_cast<float>(tx_rng.uniform(226.0, 234.0));
    tx.drift_v = static_cast<float>(kDriftSdV * tx_rng.normal());
    tx.cloud_ar = static_cast<float>(tx_rng.normal());
    tx.first_meter = first;
    transformers_.push_back(tx);
    first += tx_rng.uniform_int(config_.min_meters_per_transformer, config_.max_meters_per_transformer);
  }
  transformer_id_digits_ = digits_for(transformers_.size(), 5);

  meters_.resize(n);
  uint32_t tx_index = 0;
  for (uint32_t i = 0; i < n; ++i) {
    while (tx_index + 1 < transformers_.size() && transformers_[tx_index + 1].first_meter <= i) ++tx_index;
    SplitMix64 r(derive_seed(config_.seed, kStreamMeters, i));
    Meter& m = meters_[i];
    const double mean = config_.median_mean_load_w * std::exp(config_.mean_load_sigma * r.normal());
    m.mean_load_w = static_cast<float>(
        std::clamp(mean, 0.2 * config_.median_mean_load_w, 5.0 * config_.median_mean_load_w));
    const bool exporter = r.uniform() < config_.exporter_fraction;
    const double solar_peak = r.uniform(1800.0, 4000.0);
    m.solar_peak_w = exporter ? static_cast<float>(solar_peak) : 0.0f;
    m.pf = static_cast<float>(r.uniform(0.9, 0.99));
    m.load_ar = static_cast<float>(r.normal());
    m.shift_min = static_cast<int16_t>(std::clamp(std::lround(30.0 * r.normal()), -90L, 90L));
    m.energy_kwh = std::round(r.uniform(500.0, 30000.0));
    m.transformer = tx_index;
    m.active = kNone;
    m.next_random = draw_next_random(i, warmup_ticks_);
  }

  for (const auto& s : config_.schedule) {
    const auto start = static_cast<uint32_t>((s.start_event_time_ms - start_ms_) / interval_ms_);
    if (s.type == MeterAnomalyType::kReverseFlow && is_exporter(s.meter_index)) {
      throw std::invalid_argument("simulator config: schedule has reverse_flow on exporter " +
                                  meter_id(s.meter_index));
    }
    scheduled_.push_back(Planned{s.meter_index, start, start + s.readings - 1, s.type});
  }
  std::sort(scheduled_.begin(), scheduled_.end(), [](const Planned& a, const Planned& b) {
    return std::tie(a.start_tick, a.meter) < std::tie(b.start_tick, b.meter);
  });
  scheduled_by_meter_ = scheduled_;
  std::sort(scheduled_by_meter_.begin(), scheduled_by_meter_.end(), [](const Planned& a, const Planned& b) {
    return std::tie(a.meter, a.start_tick) < std::tie(b.meter, b.start_tick);
  });
  for (size_t k = 1; k < scheduled_by_meter_.size(); ++k) {
    const Planned& prev = scheduled_by_meter_[k - 1];
    const Planned& cur = scheduled_by_meter_[k];
    if (prev.meter == cur.meter && cur.start_tick <= prev.end_tick) {
      throw std::invalid_argument("simulator config: scheduled anomalies overlap on " + meter_id(cur.meter));
    }
  }
}

uint32_t FleetSimulator::draw_next_random(uint32_t meter_index, uint64_t from_tick) const {
  if (config_.anomalies_per_meter_day <= 0.0 || from_tick >= tick_limit_) return kNone;
  SplitMix64 r(derive_seed(config_.seed, kStreamAnomalyTime, (uint64_t{meter_index} << 32) | from_tick));
  const double mean_wait_ticks = 86400.0 / config_.interval_s / config_.anomalies_per_meter_day;
  const double next = static_cast<double>(from_tick) + std::floor(r.exponential(mean_wait_ticks));
  if (next >= static_cast<double>(tick_limit_)) return kNone;
  return static_cast<uint32_t>(next);
}

const FleetSimulator::Planned* FleetSimulator::scheduled_conflict(uint32_t meter, uint32_t from,
                                                                  uint32_t to) const {
  auto it = std::lower_bound(scheduled_by_meter_.begin(), scheduled_by_meter_.end(), meter,
                             [](const Planned& p, uint32_t m) { return p.meter < m; });
  for (; it != scheduled_by_meter_.end() && it->meter == meter; ++it) {
    if (it->start_tick <= to && it->end_tick >= from) return &*it;
  }
  return nullptr;
}

void FleetSimulator::try_start_random(uint32_t meter_index, uint32_t tick) {
  Meter& m = meters_[meter_index];
  SplitMix64 r(derive_seed(config_.seed, kStreamAnomalyType, (uint64_t{meter_index} << 32) | tick));
  // Exporters legitimately show negative power, so reverse_flow is only injected on meters that never export.
  auto weight = [&](size_t k) {
    if (k == static_cast<size_t>(MeterAnomalyType::kReverseFlow) && is_exporter(meter_index)) return 0.0;
    return config_.type_weights[k];
  };
  double total = 0.0;
  for (size_t k = 0; k < kMeterAnomalyTypeCount; ++k) total += weight(k);
  if (total <= 0.0) {
    m.next_random = kNone;
    return;
  }
  double u = r.uniform() * total;
  size_t chosen = kMeterAnomalyTypeCount;
  for (size_t k = 0; k < kMeterAnomalyTypeCount; ++k) {
    if (weight(k) <= 0.0) continue;
    chosen = k;
    if (u < weight(k)) break;
    u -= weight(k);
  }
  const auto type = static_cast<MeterAnomalyType>(chosen);
  AnomalyLength len = anomaly_length(type);
  if (type == MeterAnomalyType::kConsumptionDrop) {
    len.min *= ticks_per_day_;
    len.max *= ticks_per_day_;
  }
  const uint64_t end = uint64_t{tick} + r.uniform_int(len.min, len.max) - 1;
  if (end >= tick_limit_) {  // would not finish inside a bounded run: the meter stays clean to the end
    m.next_random = kNone;
    return;
  }
  const uint64_t guard_end = std::min<uint64_t>(end + config_.min_gap_readings, kNone - 1);
  if (const Planned* c = scheduled_conflict(meter_index, tick, static_cast<uint32_t>(guard_end))) {
    const uint64_t after = uint64_t{c->end_tick} + 1 + config_.min_gap_readings;
    m.next_random = draw_next_random(meter_index, after);
    return;
  }
  activate(meter_index, tick, static_cast<uint32_t>(end), type);
}

void FleetSimulator::activate(uint32_t meter, uint32_t start_tick, uint32_t end_tick, MeterAnomalyType type) {
  Active a{};
  a.seed = derive_seed(config_.seed, kStreamAnomaly, (uint64_t{meter} << 32) | start_tick);
  a.meter = meter;
  a.start_tick = start_tick;
  a.end_tick = end_tick;
  a.type = type;
  SplitMix64 r(a.seed);
  a.flag = r.uniform() < 0.5 ? gridsentinel::v1::METER_STATUS_FLAG_COVER_OPEN
                             : gridsentinel::v1::METER_STATUS_FLAG_MAGNETIC_FIELD;
  a.factor = r.uniform(0.2, 0.4);
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
    active_[slot] = a;
  } else {
    slot = static_cast<uint32_t>(active_.size());
    active_.push_back(a);
  }
  meters_[meter].active = slot;
  ground_truth_.push_back(InjectedAnomaly{type, meter_id(meter), tick_time_ms(start_tick),
                                          tick_time_ms(end_tick), end_tick - start_tick + 1});
}

template <class NextSlot>
bool FleetSimulator::generate(NextSlot&& next_slot) {
  if (done()) return false;
  const uint32_t t = tick_;
  const int64_t event_ms = tick_time_ms(t);
  // The reading is the mean over the interval ending at event_ms: take the shapes at the interval's middle.
  const int64_t local_mid_ms = event_ms - interval_ms_ / 2 + int64_t{config_.utc_offset_minutes} * 60'000;
  const int64_t day = floor_div(local_mid_ms, kMsPerDay);
  const int minute = static_cast<int>((local_mid_ms - day * kMsPerDay) / 60'000);
  const int64_t weekday = ((day + 3) % 7 + 7) % 7;  // 1970-01-01 was a Thursday; Monday = 0
  const bool weekend = config_.weekend_profile && weekday >= 5;
  const double solar = static_cast<double>(profile_.solar(minute));
  const double peak_drop_v = kPeakDropV * (static_cast<double>(profile_.load(weekend, minute)) - 1.0);
  const double step_s = static_cast<double>(config_.interval_s);
  const double hours = step_s / 3600.0;

  // Grid-wide and per-transformer state: a fixed number of draws per tick.
  const double f_rho = ar_rho(step_s, kFreqCorrelationS);
  freq_dev_hz_ = reflect(f_rho * freq_dev_hz_ + ar_innovation(f_rho) * kFreqSdHz * tick_rng_.normal(),
                         -kFreqMaxDevHz, kFreqMaxDevHz);
  const double frequency = round_to(50.0 + freq_dev_hz_, 1000.0);
  const double d_rho = ar_rho(step_s, kDriftCorrelationS);
  const double c_rho = ar_rho(step_s, kCloudCorrelationS);
  for (Transformer& tx : transformers_) {
    tx.drift_v = static_cast<float>(d_rho * static_cast<double>(tx.drift_v) +
                                    ar_innovation(d_rho) * kDriftSdV * tick_rng_.normal());
    tx.cloud_ar = static_cast<float>(c_rho * static_cast<double>(tx.cloud_ar) +
                                     ar_innovation(c_rho) * tick_rng_.normal());
  }

  while (next_scheduled_ < scheduled_.size() && scheduled_[next_scheduled_].start_tick == t) {
    const Planned& p = scheduled_[next_scheduled_++];
    activate(p.meter, p.start_tick, p.end_tick, p.type);
  }

  const double l_rho = ar_rho(step_s, kLoadCorrelationS);
  const double l_innov = ar_innovation(l_rho);
  const double lognormal_bias = kLoadSigma * kLoadSigma / 2.0;
  const auto interval_s = config_.interval_s;
  char id_buf[32];
  char tx_buf[32];
  const size_t id_prefix = format_meter_id(0, id_buf) - static_cast<size_t>(meter_id_digits_);  // "MTR-"
  uint32_t tx_cached = kNone;
  size_t tx_len = 0;
  double tx_base_v = 0.0;
  double cloud_cover = 1.0;

  const uint32_t n = num_meters();
  for (uint32_t i = 0; i < n; ++i) {
    Meter& m = meters_[i];
    const double z_load = tick_rng_.normal();
    const double z_add = tick_rng_.normal();
    const double z_v = tick_rng_.normal();
    const double z_pf = tick_rng_.normal();

    if (m.transformer != tx_cached) {
      tx_cached = m.transformer;
      const Transformer& tx = transformers_[tx_cached];
      tx_len = format_transformer_id(tx_cached, tx_buf);
      tx_base_v = static_cast<double>(tx.level_v) + static_cast<double>(tx.drift_v) - peak_drop_v;
      cloud_cover = std::clamp(0.75 + 0.3 * static_cast<double>(tx.cloud_ar), 0.1, 1.0);
    }

    const double ar = l_rho * static_cast<double>(m.load_ar) + l_innov * z_load;
    m.load_ar = static_cast<float>(ar);
    int mm = minute + m.shift_min;
    if (mm < 0) {
      mm += DailyProfile::kMinutesPerDay;
    } else if (mm >= DailyProfile::kMinutesPerDay) {
      mm -= DailyProfile::kMinutesPerDay;
    }
    const double mean = static_cast<double>(m.mean_load_w);
    double load =
        mean * static_cast<double>(profile_.load(weekend, mm)) * std::exp(kLoadSigma * ar - lognormal_bias) +
        kAdditiveNoiseW * z_add;
    const double standby = kStandbyFraction * mean;
    if (load < standby) load = standby * (1.0 + 0.05 * std::abs(z_add));  // no repeated values at the floor
    const double gen = static_cast<double>(m.solar_peak_w) * solar * cloud_cover;
    double p = load - gen;
    double v = reflect(tx_base_v - kOwnLoadDropVPerW * load + kVoltageNoiseV * z_v, kMinNormalV, kMaxNormalV);
    const double pf = reflect(static_cast<double>(m.pf) + 0.01 * z_pf, 0.85, 0.999);
    double current = -1.0;  // from P, V and pf unless an anomaly says otherwise
    double import_w = std::max(p, 0.0);
    bool emit = true;
    bool has_frequency = true;
    uint32_t flags = 0;

    if (m.active == kNone && t == m.next_random) try_start_random(i, t);
    if (m.active != kNone) {
      Active& a = active_[m.active];
      SplitMix64 r(a.seed + t);
      switch (a.type) {
        case MeterAnomalyType::kVoltageSag:
          v = r.uniform(185.0, 200.0);
          break;
        case MeterAnomalyType::kVoltageSwell:
          v = r.uniform(258.0, 270.0);
          break;
        case MeterAnomalyType::kOutage:
          v = r.uniform(0.0, kOutageMaxVoltageV);
          current = 0.0;
          p = 0.0;
          import_w = 0.0;
          has_frequency = false;
          break;
        case MeterAnomalyType::kSilentMeter:
          emit = false;  // the register inside the meter keeps counting
          break;
        case MeterAnomalyType::kReverseFlow:
          p = -r.uniform(500.0, 2000.0);
          import_w = 0.0;
          break;
        case MeterAnomalyType::kBypass:
          v = r.uniform(0.0, kOutageMaxVoltageV);
          current = std::max(load / (230.0 * pf), kBypassMinCurrentA + r.uniform());
          p = v * current * pf;
          import_w = p;
          has_frequency = false;
          break;
        case MeterAnomalyType::kStuckMeter:
          if (t == a.start_tick) {
            a.factor = round_to(p, 10.0);  // the value every reading of the window reports
          } else {
            current = std::abs(p) / (v * pf);  // the real draw
            p = a.factor;
            import_w = 0.0;
          }
          break;
        case MeterAnomalyType::kConsumptionDrop:
          p = load * a.factor - gen;
          import_w = std::max(p, 0.0);
          break;
        case MeterAnomalyType::kSpike:
          p = r.uniform(5.0, 10.0) * std::max(load, mean);
          import_w = p;
          break;
        case MeterAnomalyType::kTamper:
          flags = a.flag;
          break;
      }
      if (t == a.end_tick) {
        free_slots_.push_back(m.active);
        m.active = kNone;
        m.next_random = draw_next_random(i, uint64_t{t} + 1 + config_.min_gap_readings);
      }
    }
    m.energy_kwh += import_w * hours / 1000.0;
    if (!emit) continue;
    if (current < 0.0) current = std::abs(p) / (v * pf);

    MeterReading& out = *next_slot();
    const size_t id_len = id_prefix + write_padded(id_buf + id_prefix, i + 1, meter_id_digits_);
    out.mutable_meter_id()->assign(id_buf, id_len);
    out.mutable_transformer_id()->assign(tx_buf, tx_len);
    out.set_event_time_ms(event_ms);
    out.set_voltage_v(round_to(v, 10.0));
    out.set_current_a(round_to(current, 1000.0));
    out.set_active_power_w(round_to(p, 10.0));
    out.set_energy_kwh(round_to(m.energy_kwh, 1000.0));
    out.set_power_factor(round_to(pf, 1000.0));
    if (has_frequency) {
      out.set_frequency_hz(frequency);
    } else {
      out.clear_frequency_hz();
    }
    out.set_status_flags(flags);
    out.set_interval_s(interval_s);
  }
  ++tick_;
  return true;
}

bool FleetSimulator::next_tick(std::vector<MeterReading>& out) {
  size_t used = 0;
  const bool produced = generate([&]() -> MeterReading* {
    if (used == out.size()) out.emplace_back();
    return &out[used++];
  });
  out.resize(used);
  return produced;
}

bool FleetSimulator::next_tick_batches(std::vector<gridsentinel::v1::MeterReadingBatch>& out,
                                       size_t max_readings_per_batch) {
  const size_t cap = std::max<size_t>(max_readings_per_batch, 1);
  size_t used = 0;
  const bool produced = generate([&]() -> MeterReading* {
    if (used == 0 || static_cast<size_t>(out[used - 1].readings_size()) >= cap) {
      if (used == out.size()) out.emplace_back();
      out[used].clear_readings();  // keeps the cleared messages for add_readings() to reuse
      ++used;
    }
    return out[used - 1].add_readings();
  });
  out.resize(used);
  return produced;
}

bool FleetSimulator::next_tick_streamed(
    size_t max_readings_per_batch, const std::function<void(gridsentinel::v1::MeterReadingBatch&)>& sink) {
  const size_t cap = std::max<size_t>(max_readings_per_batch, 1);
  stream_batch_.clear_readings();
  const bool produced = generate([&]() -> MeterReading* {
    if (static_cast<size_t>(stream_batch_.readings_size()) >= cap) {
      sink(stream_batch_);
      stream_batch_.clear_readings();
    }
    return stream_batch_.add_readings();
  });
  if (stream_batch_.readings_size() > 0) sink(stream_batch_);
  stream_batch_.clear_readings();
  return produced;
}

bool FleetSimulator::next_tick_each(const std::function<void(const MeterReading&)>& sink) {
  // generate() asks for a slot before filling it: the previous reading is complete when the next is asked
  // for.
  bool filled = false;
  const bool produced = generate([&]() -> MeterReading* {
    if (filled) sink(each_reading_);
    filled = true;
    return &each_reading_;
  });
  if (filled) sink(each_reading_);
  return produced;
}

size_t FleetSimulator::format_meter_id(uint32_t meter_index, char* buf) const {
  buf[0] = 'M';
  buf[1] = 'T';
  buf[2] = 'R';
  buf[3] = '-';
  return 4 + write_padded(buf + 4, meter_index + 1, meter_id_digits_);
}

size_t FleetSimulator::format_transformer_id(uint32_t transformer_index, char* buf) const {
  buf[0] = 'T';
  buf[1] = 'X';
  buf[2] = '-';
  return 3 + write_padded(buf + 3, transformer_index + 1, transformer_id_digits_);
}

std::string FleetSimulator::meter_id(uint32_t meter_index) const {
  char buf[32];
  return std::string(buf, format_meter_id(meter_index, buf));
}

std::string FleetSimulator::transformer_id(uint32_t transformer_index) const {
  char buf[32];
  return std::string(buf, format_transformer_id(transformer_index, buf));
}

std::vector<uint32_t> FleetSimulator::exporter_indices() const {
  std::vector<uint32_t> out;
  for (uint32_t i = 0; i < num_meters(); ++i) {
    if (is_exporter(i)) out.push_back(i);
  }
  return out;
}

std::optional<uint32_t> FleetSimulator::parse_meter_index(std::string_view id) {
  constexpr std::string_view kPrefix = "MTR-";
  if (id.size() <= kPrefix.size() || id.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  uint64_t v = 0;
  for (char c : id.substr(kPrefix.size())) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
    if (v > 0xFFFFFFFFULL) return std::nullopt;
  }
  if (v == 0) return std::nullopt;
  return static_cast<uint32_t>(v - 1);
}

void FleetSimulator::write_ground_truth_csv(std::ostream& os) const {
  sim::write_ground_truth_csv(os, ground_truth_);
}

void FleetSimulator::write_meters_csv(std::ostream& os) const {
  os << "meter_id,transformer_id,exporter,mean_load_w,solar_peak_w\n";
  const auto flags = os.flags();
  const auto precision = os.precision();
  os << std::fixed << std::setprecision(1);
  for (uint32_t i = 0; i < num_meters(); ++i) {
    const Meter& m = meters_[i];
    os << meter_id(i) << ',' << transformer_id(m.transformer) << ',' << (is_exporter(i) ? 1 : 0) << ','
       << static_cast<double>(m.mean_load_w) << ',' << static_cast<double>(m.solar_peak_w) << '\n';
  }
  os.flags(flags);
  os.precision(precision);
}

}  // namespace gridsentinel::sim
