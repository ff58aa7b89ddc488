#include "common/StableHash.h"

#include <cstring>

namespace gridsentinel {

void StableHash::mix_bytes(const void* p, size_t n) {
  const auto* s = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; ++i) {
    a_ = (a_ ^ s[i]) * 0x100000001b3ULL;
    b_ = (b_ ^ s[i]) * 0x00000100000001b3ULL + 0x9e3779b97f4a7c15ULL;
  }
}

StableHash& StableHash::add(std::string_view field) {
  const uint64_t n = field.size();
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
  mix_bytes(len, sizeof len);
  mix_bytes(field.data(), field.size());
  return *this;
}

StableHash& StableHash::add(int64_t v) {
  unsigned char bytes[8];
  const auto u = static_cast<uint64_t>(v);
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(u >> (8 * i));
  mix_bytes(bytes, sizeof bytes);
  return *this;
}

uint64_t StableHash::low64() const {
  return mix64(a_ ^ mix64(b_));
}

std::string StableHash::hex() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  const uint64_t hi = mix64(b_ + 0x9e3779b97f4a7c15ULL * mix64(a_));
  const uint64_t lo = low64();
  std::string out(32, '0');
  for (int i = 0; i < 16; ++i) {
    out[static_cast<size_t>(i)] = kDigits[(hi >> (60 - 4 * i)) & 0xf];
    out[static_cast<size_t>(16 + i)] = kDigits[(lo >> (60 - 4 * i)) & 0xf];
  }
  return out;
}

}  // namespace gridsentinel
