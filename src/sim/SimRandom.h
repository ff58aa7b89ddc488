#pragma once
// Random numbers for the simulators.
//
// The engines are exactly specified (std::mt19937_64 by the C++ standard, SplitMix64 below), but the standard
// library's distributions are not: libstdc++ and libc++ turn the same engine output into different normals.
// The conversions here are written out so that a seed gives the same telemetry with any standard library.
#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>

#include "common/StableHash.h"

namespace gridsentinel::sim {

// Derives an independent 64-bit seed for one purpose ("stream") of one run from the run's seed.
inline uint64_t derive_seed(uint64_t seed, uint64_t stream, uint64_t index = 0) {
  return mix64(mix64(seed ^ mix64(stream + 0x9e3779b97f4a7c15ULL)) + index);
}

// Uniform in [0, 1) with 53 random bits.
inline double to_unit(uint64_t bits) {
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

// SplitMix64 (Steele, Lea, Flood 2014): 8 bytes of state and cheap to seed, so every meter and every anomaly
// can own a stream derived from the run's seed without the ~2.5 kB state and slow seeding of a Mersenne
// Twister.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    return mix64(state_);
  }
  double uniform() { return to_unit(next()); }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [lo, hi] (inclusive); the modulo bias is below 2^-32 for the small ranges used here.
  uint32_t uniform_int(uint32_t lo, uint32_t hi) {
    return lo + static_cast<uint32_t>(next() % (static_cast<uint64_t>(hi) - lo + 1));
  }
  double normal() {
    // Box-Muller with one draw per call: 1 - u keeps the logarithm finite.
    const double u1 = 1.0 - uniform();
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }
  // Exponential with the given mean.
  double exponential(double mean) { return -mean * std::log(1.0 - uniform()); }

 private:
  uint64_t state_;
};

// The per-tick stream: a Mersenne Twister with normals produced in pairs (Box-Muller), the second one cached.
class TickRng {
 public:
  explicit TickRng(uint64_t seed) : engine_(seed) {}
  double uniform() { return to_unit(engine_()); }
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = 1.0 - uniform();
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double a = 2.0 * std::numbers::pi * u2;
    spare_ = r * std::sin(a);
    has_spare_ = true;
    return r * std::cos(a);
  }

 private:
  std::mt19937_64 engine_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace gridsentinel::sim
