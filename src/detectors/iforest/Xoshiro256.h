#pragma once
// Xoshiro256: the xoshiro256** generator (Blackman & Vigna, "Scrambled linear pseudorandom number
// generators", 2021), seeded through SplitMix64 as its authors recommend.
//
// Why not std::mt19937_64: its state is 2.5 KB and only serialises as text; this one is 32 bytes, trivially
// copyable (saved verbatim in detector state), and fast enough to draw a split per tree node without showing
// up in a profile. Output sequences are fixed by this file alone, so seeds reproduce across compilers and
// standard libraries (std::uniform_*_distribution would not).
#include <array>
#include <cstdint>

namespace gridsentinel::detectors {

class Xoshiro256 {
 public:
  using State = std::array<uint64_t, 4>;

  explicit Xoshiro256(uint64_t seed = 0) { reseed(seed); }

  void reseed(uint64_t seed) {
    uint64_t sm = seed;
    for (auto& word : s_) word = splitmix64(sm);
  }

  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  // Uniform integer in [0, n), n >= 1, without modulo bias: reject the lowest 2^64 mod n outputs so that the
  // rest cover every residue equally often.
  // The bound (one division) is needed only when r < n, since it is below n: one division a draw, not two.
  uint64_t below(uint64_t n) {
    uint64_t r = next();
    if (r < n) [[unlikely]] {
      const uint64_t reject_below = (0 - n) % n;
      while (r < reject_below) r = next();
    }
    return r % n;
  }

  const State& state() const { return s_; }
  // An all-zero state is the one fixed point of the generator; callers restoring state must reject it.
  void set_state(const State& s) { s_ = s; }
  static bool valid_state(const State& s) { return (s[0] | s[1] | s[2] | s[3]) != 0; }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  State s_{};
};

}  // namespace gridsentinel::detectors
