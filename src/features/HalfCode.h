#pragma once
// 16-bit codes of doubles for the per-entity windows, which hold values for a million entities.
//
// HalfCodec: IEEE binary16 (11 significant bits) of x * 2^-anchor, stored as an order-preserving key (a
// uint16 compares as the value does), so order statistics of codes are the codes of the order statistics.
// The anchor is chosen from the first non-zero value (which maps into [16, 32)) and raised, re-encoding what
// the owner holds, when a value would not fit (|x| >= 65504 * 2^anchor). Error of a code, for round to
// nearest: |decode(encode(x)) - x| <= 2^-11 |x| + 2^(anchor - 25), the second term for values below 2^(anchor
// - 14) (binary16's subnormal range), i.e. for values at least 2^18 times smaller than the anchoring value.
// Rounding down (up) gives a code <= x (>= x) within twice that, for min and max that must enclose the
// values.
//
// bf16: the top 16 bits of a float, rounded to nearest (8 significant bits: relative error <= 2^-9), with no
// anchor: for non-negative sums of squares whose scale is unknown.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

namespace gridsentinel::features {

enum class Rounding : uint8_t { kNearest, kDown, kUp };

// x 2^n for |n| <= 1000: a multiplication by an exact power of two, one correctly rounded operation, so the
// same value as std::ldexp (also correctly rounded, subnormal and overflowing results included) without its
// library call (0.5-0.9% of the compute core in perf profiles).
inline double times_pow2(double x, int n) {
  return x * std::bit_cast<double>(static_cast<uint64_t>(n + 1023) << 52);
}

class HalfCodec {
 public:
  static constexpr uint16_t kZero = 0x8000;
  static constexpr int8_t kUnset = std::numeric_limits<int8_t>::min();

  int8_t anchor() const { return anchor_; }
  bool anchored() const { return anchor_ != kUnset; }
  void reset() { anchor_ = kUnset; }
  bool set_anchor(int8_t a) {
    if (a != kUnset && (a < -120 || a > 120)) return false;
    anchor_ = a;
    return true;
  }

  // The anchor a value needs: its own if the codec has none, a larger one if it does not fit, else the
  // current one. Non-finite or zero values need none.
  int8_t anchor_for(double x) const {
    if (!std::isfinite(x) || x == 0) return anchor_;
    const int e = std::clamp(std::ilogb(x) - 4, -120, 120);
    if (!anchored()) return static_cast<int8_t>(e);
    return std::abs(times_pow2(x, -anchor_)) < kMaxHalf ? anchor_
                                                        : static_cast<int8_t>(std::max<int>(e, anchor_));
  }

  // Callers re-anchor first (anchor_for) so that x fits, else it saturates (+-infinity and NaN too).
  uint16_t encode(double x, Rounding r = Rounding::kNearest) const {
    if (x == 0 || !anchored()) return kZero;
    const double y = times_pow2(x, -anchor_);
    if (y > 0) return static_cast<uint16_t>(kZero + magnitude(y, r));
    const Rounding flipped = r == Rounding::kDown ? Rounding::kUp : r == Rounding::kUp ? Rounding::kDown : r;
    return static_cast<uint16_t>(kZero - magnitude(-y, flipped));
  }
  double decode(uint16_t code) const {
    if (code == kZero || !anchored()) return 0.0;
    const double m = code > kZero ? from_magnitude(static_cast<uint16_t>(code - kZero))
                                  : -from_magnitude(static_cast<uint16_t>(kZero - code));
    return times_pow2(m, anchor_);
  }
  // True for a key encode can produce.
  static bool valid(uint16_t code) { return code >= kZero - kMaxMagnitude && code <= kZero + kMaxMagnitude; }

 private:
  static constexpr double kMaxHalf = 65504.0;
  static constexpr uint16_t kMaxMagnitude = 0x7BFF;

  static double round_with(double v, Rounding r) {
    return r == Rounding::kDown ? std::floor(v) : r == Rounding::kUp ? std::ceil(v) : std::nearbyint(v);
  }
  // binary16 bits of y > 0, saturating at the largest finite half; infinity and NaN saturate too (a window
  // fed values beyond a float's range accumulates them), so encode is defined for every input.
  static uint16_t magnitude(double y, Rounding r) {
    if (!(y < kMaxHalf)) return kMaxMagnitude;
    if (y < 0x1p-14) return static_cast<uint16_t>(round_with(y * 0x1p24, r));  // subnormal, 0..1024
    int e = 0;
    const double f = std::frexp(y, &e);  // y = f 2^e, f in [0.5, 1)
    int exp = e - 1;                     // y in [2^exp, 2^(exp + 1))
    auto mant = static_cast<uint32_t>(round_with((2 * f - 1) * 1024.0, r));
    if (mant == 1024) {
      mant = 0;
      ++exp;
    }
    if (exp > 15) return kMaxMagnitude;
    return static_cast<uint16_t>((static_cast<uint32_t>(exp + 15) << 10) | mant);
  }
  static double from_magnitude(uint16_t m) {
    const int exp = m >> 10;
    const int mant = m & 1023;
    if (exp == 0) return times_pow2(mant, -24);
    return times_pow2(1024 + mant, exp - 25);
  }

  int8_t anchor_ = kUnset;
};

// bf16 of a finite x >= 0 (round to nearest even), and back.
inline uint16_t to_bf16(double x) {
  const float f = static_cast<float>(std::min(x, static_cast<double>(std::numeric_limits<float>::max())));
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  const uint32_t rounded = bits + 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(std::min<uint32_t>(rounded >> 16, 0x7F7Fu));  // never rounds up to infinity
}
inline double from_bf16(uint16_t b) {
  return static_cast<double>(std::bit_cast<float>(static_cast<uint32_t>(b) << 16));
}

}  // namespace gridsentinel::features
