#pragma once
// Shapes of a household's day, tabulated per minute of local time.
//
// load(): relative household demand, mean 1 over a weekday. Night trough ~0.45 around 03:00-04:00, a morning
// peak ~07:15, a small midday bump and the evening peak ~19:00 (~2x the mean), the shape of published
// residential load profiles (e.g. the UK Elexon profile class 1). Weekends get a later, broader morning and a
// higher midday, ~9% more energy. solar(): rooftop PV output relative to its peak, sin^2 between 06:30 and
// 17:30, zero outside.
#include <array>

namespace gridsentinel::sim {

class DailyProfile {
 public:
  static constexpr int kMinutesPerDay = 1440;
  static constexpr double kSunriseHour = 6.5;
  static constexpr double kSunsetHour = 17.5;

  DailyProfile();
  // minute: minute of the local day, [0, 1440).
  float load(bool weekend, int minute) const { return weekend ? weekend_[minute] : weekday_[minute]; }
  float solar(int minute) const { return solar_[minute]; }

 private:
  std::array<float, kMinutesPerDay> weekday_{};
  std::array<float, kMinutesPerDay> weekend_{};
  std::array<float, kMinutesPerDay> solar_{};
};

}  // namespace gridsentinel::sim
