#include "sim/DailyProfile.h"

#include <cmath>
#include <numbers>

namespace gridsentinel::sim {
namespace {

// A bump centred on `centre_h` (hours) with width `width_h`, on the 24-hour circle.
double bump(double h, double centre_h, double width_h) {
  double d = std::fmod(h - centre_h + 36.0, 24.0) - 12.0;
  return std::exp(-0.5 * (d / width_h) * (d / width_h));
}

double weekday_shape(double h) {
  return 0.45 + 0.75 * bump(h, 7.25, 0.9) + 0.25 * bump(h, 12.5, 1.5) + 1.45 * bump(h, 19.0, 1.7) +
         0.35 * bump(h, 21.75, 1.0);
}

double weekend_shape(double h) {
  return 0.45 + 0.65 * bump(h, 9.25, 1.4) + 0.55 * bump(h, 13.0, 1.8) + 1.35 * bump(h, 19.0, 1.8) +
         0.3 * bump(h, 22.0, 1.0);
}

}  // namespace

DailyProfile::DailyProfile() {
  double weekday_sum = 0.0;
  for (int m = 0; m < kMinutesPerDay; ++m) weekday_sum += weekday_shape((m + 0.5) / 60.0);
  // Both shapes share the weekday normaliser, so the weekend keeps its extra energy.
  const double norm = kMinutesPerDay / weekday_sum;
  for (int m = 0; m < kMinutesPerDay; ++m) {
    const double h = (m + 0.5) / 60.0;
    weekday_[m] = static_cast<float>(weekday_shape(h) * norm);
    weekend_[m] = static_cast<float>(weekend_shape(h) * norm);
    double s = 0.0;
    if (h > kSunriseHour && h < kSunsetHour) {
      s = std::sin(std::numbers::pi * (h - kSunriseHour) / (kSunsetHour - kSunriseHour));
      s *= s;
    }
    solar_[m] = static_cast<float>(s);
  }
}

}  // namespace gridsentinel::sim
