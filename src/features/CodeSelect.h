#pragma once
// select_codes: several order statistics of up to 65535 16-bit codes at once, by a two-level radix select.
//
// Why: BucketedQuantiles refreshes its quartiles on every point while its window fills (the first days of
// every meter), and type 7 needs six order statistics of up to a few hundred codes. Three std::nth_element
// calls spent most of that in branch mispredictions (each comparison a coin flip); here a histogram of the
// codes' high bytes locates each wanted rank's bin in one pass, and only the codes of those few bins (the
// HalfCodec's high byte is sign, exponent and two mantissa bits, so one meter's values spread over a few
// dozen bins) are gathered and sorted. Exact: the result is the order statistic itself, ties included.
// Cost: two passes over the codes, a scan of 256 counters, and sorting the gathered bins.
#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

namespace gridsentinel::features {

// For each j < k: out[j] = the ranks[j]-th smallest (0-based) of codes[0, n). Requires n > 0, every rank < n,
// k <= 8, and `scratch` with room for n codes.
inline void select_codes(const uint16_t* codes, uint32_t n, const uint32_t* ranks, uint32_t k, uint16_t* out,
                         uint16_t* scratch) {
  std::array<uint32_t, 256> hist{};
  for (uint32_t i = 0; i < n; ++i) ++hist[codes[i] >> 8];
  // Wanted ranks in ascending order (k is tiny: insertion sort of their indices).
  std::array<uint32_t, 8> order{};
  for (uint32_t j = 0; j < k; ++j) {
    uint32_t at = j;
    while (at > 0 && ranks[order[at - 1]] > ranks[j]) {
      order[at] = order[at - 1];
      --at;
    }
    order[at] = j;
  }
  // Each wanted rank's bin, and its rank within the bin; the wanted bins get a slice of `scratch`.
  constexpr uint16_t kNone = 0xffff;
  std::array<uint16_t, 256> slice{};  // bin -> index into start/fill, kNone if not wanted
  slice.fill(kNone);
  std::array<uint32_t, 8> bin_of{}, within{}, start{}, fill{};
  uint32_t bins = 0, used = 0, cum = 0, next = 0;
  for (uint32_t b = 0; b < 256 && next < k; ++b) {
    while (next < k && ranks[order[next]] < cum + hist[b]) {
      const uint32_t j = order[next++];
      bin_of[j] = b;
      within[j] = ranks[j] - cum;
      if (slice[b] == kNone) {
        slice[b] = static_cast<uint16_t>(bins);
        start[bins] = used;
        fill[bins] = used;
        used += hist[b];
        ++bins;
      }
    }
    cum += hist[b];
  }
  for (uint32_t i = 0; i < n; ++i) {
    const uint16_t s = slice[codes[i] >> 8];
    if (s != kNone) scratch[fill[s]++] = codes[i];
  }
  for (uint32_t s = 0; s < bins; ++s) std::sort(scratch + start[s], scratch + fill[s]);
  for (uint32_t j = 0; j < k; ++j) out[j] = scratch[start[slice[bin_of[j]]] + within[j]];
}

}  // namespace gridsentinel::features
