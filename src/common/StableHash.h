#pragma once
// A stable, platform-independent 128-bit hash for identifiers that must not change between runs, builds or
// instances (alert ids, partition-independent entity keys). Not cryptographic: it guards against accidental
// collisions (about 1 in 2^64 between two given inputs), not against an adversary choosing inputs.
#include <cstdint>
#include <string>
#include <string_view>

namespace gridsentinel {

class StableHash {
 public:
  // Adds a field. Fields are length-prefixed, so ("ab","c") and ("a","bc") hash differently.
  StableHash& add(std::string_view field);
  StableHash& add(int64_t v);
  // 32 lowercase hex digits.
  std::string hex() const;
  uint64_t low64() const;

 private:
  void mix_bytes(const void* p, size_t n);
  uint64_t a_ = 0x6a09e667f3bcc908ULL;  // two independent lanes (FNV-1a style with different bases),
  uint64_t b_ = 0xbb67ae8584caa73bULL;  // each finished with a 64-bit avalanche
};

// SplitMix64 finaliser: a bijective avalanche over 64 bits.
inline uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace gridsentinel
