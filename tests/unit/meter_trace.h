#pragma once
// Synthetic smart-meter traces for the meter-rule tests: 15-minute readings of a household with a daily load
// shape, day-to-day variation, appliance spikes and measurement noise, 230 V +- a few volts, a consistent
// import register. A test injects an event by changing the physical quantities of chosen readings (`Physics`)
// before the meter "measures" them, so the readings stay consistent with each other (register vs power,
// current vs power) unless the injected event is exactly an inconsistency.
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numbers>
#include <random>
#include <vector>

#include "detectors/rules/MeterSample.h"

namespace gridsentinel::testing {

struct TraceSpec {
  uint64_t seed = 1;
  int days = 30;
  int interval_s = 900;
  int64_t start_ms = 1'699'920'000'000;  // 2023-11-14 00:00 UTC
  double mean_load_w = 600.0;
  double solar_peak_w = 0.0;  // > 0: rooftop PV that exports around midday
  double voltage_noise_v = 1.5;
  double register_resolution_kwh = 0.01;
  bool report_power = true;
};

// What is physically true during one interval; a test's injector edits it.
struct Physics {
  double load_w = 0.0;                                          // household demand
  double solar_w = 0.0;                                         // PV generation behind the meter
  double voltage_v = 230;                                       // supply voltage at the meter
  double current_a = std::numeric_limits<double>::quiet_NaN();  // NaN: follows from load and voltage
  double power_w = std::numeric_limits<double>::quiet_NaN();    // NaN: the meter measures load - solar
  double register_factor = 1.0;  // fraction of imported energy the register counts (0 = frozen)
  uint32_t status_flags = 0;
  bool hold_voltage_reading = false;  // the meter reports the previous voltage value again
};

using Injector = std::function<void(size_t reading, Physics&)>;

inline constexpr size_t kReadingsPerDay = 96;

// Relative household demand by hour of day, mean ~1: night trough, morning peak, midday bump, evening peak.
inline double load_shape(double hour) {
  const auto bump = [&](double centre, double width) {
    const double d = (hour - centre) / width;
    return std::exp(-0.5 * d * d);
  };
  return 0.45 + 0.8 * bump(7.5, 1.0) + 0.3 * bump(12.5, 1.5) + 1.5 * bump(19.0, 1.8);
}

inline std::vector<detectors::MeterSample> make_trace(const TraceSpec& spec, const Injector& inject = {}) {
  std::mt19937_64 rng(spec.seed);
  const auto uniform = [&](double a, double b) {
    return a + (b - a) * static_cast<double>(rng() >> 11) * 0x1.0p-53;
  };
  const auto normal = [&]() {  // Box-Muller, written out so that a seed gives the same trace everywhere
    const double u1 = 1.0 - uniform(0.0, 1.0), u2 = uniform(0.0, 1.0);
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  };
  double shape_mean = 0.0;
  for (size_t i = 0; i < kReadingsPerDay; ++i) shape_mean += load_shape((i + 0.5) * 24.0 / kReadingsPerDay);
  shape_mean /= kReadingsPerDay;

  const size_t per_day = static_cast<size_t>(86400 / spec.interval_s);
  const double step_h = spec.interval_s / 3600.0;
  std::vector<detectors::MeterSample> out;
  double register_kwh = 10'000.0 + 1000.0 * uniform(0.0, 1.0);
  double day_factor = 1.0, cloud = 1.0, day_offset_v = 0.0;
  double last_voltage = 230.0;
  for (size_t i = 0; i < per_day * static_cast<size_t>(spec.days); ++i) {
    if (i % per_day == 0) {
      day_factor = uniform(0.85, 1.15) * ((i / per_day) % 7 >= 5 ? 1.05 : 1.0);
      cloud = uniform(0.3, 1.0);
      day_offset_v = normal();
    }
    const double hour = (static_cast<double>(i % per_day) + 0.5) * 24.0 / static_cast<double>(per_day);
    Physics ph;
    ph.load_w =
        spec.mean_load_w * load_shape(hour) / shape_mean * day_factor * std::exp(0.25 * normal() - 0.03125);
    if (uniform(0.0, 1.0) < 0.03) ph.load_w += uniform(1000.0, 2500.0) * uniform(0.1, 0.3);  // kettle, oven
    const double sun = std::sin(std::numbers::pi * (hour - 6.5) / 11.0);
    ph.solar_w = hour > 6.5 && hour < 17.5 ? spec.solar_peak_w * sun * sun * cloud * uniform(0.8, 1.0) : 0.0;
    ph.voltage_v = 231.0 + day_offset_v - 4.0 * ph.load_w / 3000.0 + spec.voltage_noise_v * normal();
    if (inject) inject(i, ph);

    const double true_power = ph.load_w - ph.solar_w;
    register_kwh += std::max(true_power, 0.0) * step_h / 1000.0 * ph.register_factor;
    detectors::MeterSample s;
    s.event_time_ms = spec.start_ms + static_cast<int64_t>(i + 1) * spec.interval_s * 1000;
    s.voltage_v = ph.hold_voltage_reading ? last_voltage : std::round(ph.voltage_v * 10.0) / 10.0;
    last_voltage = s.voltage_v;
    const double measured_power = std::isnan(ph.power_w) ? true_power : ph.power_w;
    s.active_power_w = std::round(measured_power);
    s.current_a =
        std::isnan(ph.current_a)
            ? (ph.voltage_v > 5.0
                   ? std::round(std::max(std::abs(true_power), 15.0) / (ph.voltage_v * 0.95) * 100.0) / 100.0
                   : 0.0)
            : ph.current_a;
    s.energy_kwh = std::floor(register_kwh / spec.register_resolution_kwh) * spec.register_resolution_kwh;
    s.status_flags = ph.status_flags;
    s.interval_s = static_cast<uint32_t>(spec.interval_s);
    s.present = static_cast<uint8_t>(detectors::MeterSample::kVoltage | detectors::MeterSample::kCurrent |
                                     detectors::MeterSample::kEnergy |
                                     (spec.report_power ? detectors::MeterSample::kPower : 0));
    out.push_back(s);
  }
  return out;
}

}  // namespace gridsentinel::testing
