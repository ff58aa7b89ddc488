#pragma once
// Thresholds of the meter domain rules (MeterRules.h), with their defaults, units and sources.
//
// Voltage levels are ratios of the nominal voltage, as EN 50160 states them; with the 230 V default:
// swell above 253 V (+10%), critical from 264.5 V (+15%); dip/sag below 207 V (-10%), critical below 195.5 V
// (-15%, the standard's "always within" floor); interruption (outage) below 11.5 V (5%). An episode ends only
// once the voltage is back past its start level by `voltage_hysteresis_ratio` (2% of nominal, the dip
// hysteresis of EN 50160), so a voltage hovering at a threshold does not open and close episodes on every
// reading.
//
// `validate()` returns the first problem as text ("" when valid); MeterRules's constructor throws on it. Both
// run at start-up only.
#include <cstdint>
#include <string>
#include <vector>

namespace gridsentinel::detectors {

struct MeterRulesConfig {
  // --- Supply voltage (EN 50160) ---
  double nominal_voltage_v = 230.0;
  double swell_ratio = 1.10;               // swell starts above nominal * this
  double swell_critical_ratio = 1.15;      // CRITICAL from nominal * this
  double sag_ratio = 0.90;                 // sag (dip) starts below nominal * this
  double sag_critical_ratio = 0.85;        // CRITICAL below nominal * this
  double outage_ratio = 0.05;              // interruption below nominal * this (and no current drawn)
  double voltage_hysteresis_ratio = 0.02;  // of nominal, to end sag, swell and outage episodes

  // --- Reverse energy flow ---
  // Policy: a meter may export when its id starts with one of `exporting_meter_prefixes`, when
  // `meters_export_by_default` is set, or when it exports during its first `exporter_learning_h` hours of
  // event time on at least `exporter_learning_min_readings` readings (a PV installation shows itself on its
  // first sunny day). Reverse flow is judged only after that commissioning window, so a solar meter never
  // alerts; the price is that a meter reversed before its first reading is learned as an exporter. Set
  // `learn_exporters` false to judge every undeclared meter from its first reading.
  double reverse_power_threshold_w = 100.0;  // export beyond this is reverse flow (below: measurement noise)
  double reverse_power_critical_w = 2000.0;  // CRITICAL from this much export
  // The meter's own REVERSE_CURRENT flag also counts as reverse flow.
  bool reverse_current_flag_counts = true;
  bool meters_export_by_default = false;                // "meters do not export" unless declared or learned
  std::vector<std::string> exporting_meter_prefixes{};  // at most 64, each 1-128 bytes
  bool learn_exporters = true;
  double exporter_learning_h = 48.0;  // commissioning window, hours of event time from the first reading
  uint32_t exporter_learning_min_readings = 4;  // exporting readings in the window that make an exporter

  // --- Bypass: current without voltage, or a register that counts far less than the power implies ---
  double bypass_current_a = 1.0;           // current above this while voltage is below the outage level
  double mismatch_ratio = 0.5;             // register advanced by less than (1 - this) of sum(P dt): bypass
  double mismatch_window_h = 4.0;          // the comparison is made over at least this much event time ...
  double mismatch_min_expected_kwh = 3.0;  // ... and this much power-implied energy (above register steps)

  // --- Tamper flags (MeterStatusFlag bits) ---
  // COVER_OPEN, TERMINAL_OPEN, MAGNETIC_FIELD, NEUTRAL_IMBALANCE.
  uint32_t tamper_flag_mask = 1u | 2u | 4u | 16u;
  uint32_t tamper_warning_only_mask = 16u;  // bits that alone give WARNING, not CRITICAL (neutral imbalance)

  // --- Sustained consumption drop against the meter's own history ---
  // Consumption = max(active power, 0), or the register's advance per hour when power is not reported. A slow
  // EWMA (the baseline, time constant `baseline_tau_h`) is compared with a fast one (`fast_tau_h`); 8 h
  // damps the daily load shape to about +-30% (the daily cycle's fundamental to 43%) while following a
  // drop to 40% of the load within about 15 h, so a one-day drop is reported inside the day (12 h needed
  // up to 22 h and missed short drops: measured by `gridsentinel backtest --scenarios`).
  double baseline_tau_h = 168.0;           // slow EWMA time constant, hours of event time (one week)
  double fast_tau_h = 8.0;                 // fast EWMA time constant, hours (rules.drop_fast_tau_h)
  double baseline_min_hours = 72.0;        // the baseline is established after this much history
  double baseline_min_w = 50.0;            // meters with a smaller baseline are not judged (ratios of noise)
  double drop_ratio = 0.5;                 // drop when fast < (1 - drop_ratio) * baseline ...
  uint32_t drop_min_readings = 8;          // ... on this many consecutive readings
  double drop_end_hysteresis_ratio = 0.1;  // ends when fast >= (1 - drop_ratio + this) * baseline
  // A drop lasting this long (hours) becomes the new baseline and its episode ends; 0 = never.
  double drop_adopt_after_h = 336.0;

  // --- Stuck meter ---
  // Identical values: a live measurement of a real load is never the same to the last digit for hours.
  // Voltage needs a longer run than power: meters that report whole volts repeat a value by chance far more
  // often (at 1 V resolution and 1.5 V noise, 19% of consecutive pairs; 0.19^15 ~ 1e-11).
  uint32_t stuck_min_readings = 8;           // consecutive readings: register standing still, identical power
  uint32_t stuck_voltage_min_readings = 16;  // consecutive identical voltage readings
  double stuck_current_a = 1.0;              // register not advancing while current is above this ...
  double stuck_min_unregistered_kwh = 1.5;   // ... and this much energy went uncounted (above 1 kWh steps)
  double stuck_min_power_w = 100.0;          // identical power counts only at or above this |P| (not standby)

  // --- Cadence ---
  uint32_t default_interval_s = 900;   // assumed reading interval when a reading carries none
  double contiguous_gap_factor = 1.5;  // readings closer than interval * this are consecutive (energy deltas)

  std::string validate() const;
};

}  // namespace gridsentinel::detectors
