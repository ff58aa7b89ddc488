#pragma once
// MeterSample: the fields of one MeterReading that the meter rules judge, as a small trivially-copyable
// value.
//
// Why a copy rather than the protobuf message: the rules run per record for a million meters, and a plain
// struct with a presence mask is cheap to copy into the detector contract's Input, to store in tests, and
// cannot allocate. Presence matters: a field the meter did not report (proto3 `optional` unset) is unknown,
// which is different from a reported 0 V; rules that need an unknown field neither start nor end their
// episode. `may_export` is decided once per record by MeterRules::sample() from the configured meter-id
// prefixes, so the rules themselves never look at strings.
#include <cmath>
#include <cstdint>

namespace gridsentinel::detectors {

struct MeterSample {
  enum Field : uint8_t {
    kVoltage = 1u << 0,
    kCurrent = 1u << 1,
    kPower = 1u << 2,
    kEnergy = 1u << 3,
  };

  int64_t event_time_ms = 0;    // end of the measurement interval, ms since the Unix epoch (UTC)
  double voltage_v = 0.0;       // RMS voltage, volts (valid when kVoltage is present)
  double current_a = 0.0;       // RMS current, amperes (kCurrent)
  double active_power_w = 0.0;  // mean active power, watts, negative = export (kPower)
  double energy_kwh = 0.0;      // cumulative import register, kWh (kEnergy)
  uint32_t status_flags = 0;    // OR of MeterStatusFlag values
  uint32_t interval_s = 0;      // measurement interval, seconds; 0 = not reported
  uint8_t present = 0;          // OR of Field
  bool may_export = false;      // the meter is declared an exporter (prefix list or fleet default)

  bool has(Field f) const { return (present & f) != 0; }
  // False when any present value is NaN or infinite: such a reading is malformed and is not judged.
  bool is_finite() const {
    return (!has(kVoltage) || std::isfinite(voltage_v)) && (!has(kCurrent) || std::isfinite(current_a)) &&
           (!has(kPower) || std::isfinite(active_power_w)) && (!has(kEnergy) || std::isfinite(energy_kwh));
  }
};

}  // namespace gridsentinel::detectors
