#pragma once
// select_codes: several order statistics of up to 65535 16-bit codes at once, by a two-level radix select.
//
// Why: BucketedQuantiles refreshes its quartiles on every point while its window fills (the first days of
// every meter), and type 7 needs six order statistics of up to a few hundred codes. Three std::nth_element
// calls spent most of that in branch mispredictions (each comparison a coin flip); here a histogram of the
// codes' high bytes locates each wanted rank's bin in one pass, and only the codes of those few bins (the
// HalfCodec's high byte is sign, exponent and two mantissa bits, so one meter's values spread over a few
// dozen bins) are gathered and sorted. Exact: the result is the order statistic itself, ties included.
// Cost: two passes over the codes, a scan of the bins between the smallest and largest code, and sorting the
// gathered bins. The scratch's counters are left zeroed for the next call, so no call clears all 256.
#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

namespace gridsentinel::features {

struct CodeSelectScratch {
  static constexpr uint16_t kNone = 0xffff;
  CodeSelectScratch() { slice.fill(kNone); }
  std::array<uint32_t, 256> hist{};  // all zero between calls
  std::array<uint16_t, 256> slice;   // all kNone between calls
  std::vector<uint16_t> gathered;
};

// For each j < k: out[j] = the ranks[j]-th smallest (0-based) of codes[0, n). Requires n > 0, every rank < n,
// and k <= 8.
inline void select_codes(const uint16_t* codes, uint32_t n, const uint32_t* ranks, uint32_t k, uint16_t* out,
                         CodeSelectScratch& s) {
  auto& hist = s.hist;
  uint32_t lo_bin = 255, hi_bin = 0;
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t b = codes[i] >> 8;
    ++hist[b];
    lo_bin = std::min(lo_bin, b);
    hi_bin = std::max(hi_bin, b);
  }
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
  // Each wanted rank's bin, and its rank within the bin; the wanted bins get a slice of `gathered`.
  std::array<uint32_t, 8> bin_of{}, within{}, start{}, fill{}, wanted{};
  uint32_t bins = 0, used = 0, cum = 0, next = 0;
  for (uint32_t b = lo_bin; b <= hi_bin && next < k; ++b) {
    while (next < k && ranks[order[next]] < cum + hist[b]) {
      const uint32_t j = order[next++];
      bin_of[j] = b;
      within[j] = ranks[j] - cum;
      if (s.slice[b] == CodeSelectScratch::kNone) {
        s.slice[b] = static_cast<uint16_t>(bins);
        wanted[bins] = b;
        start[bins] = used;
        fill[bins] = used;
        used += hist[b];
        ++bins;
      }
    }
    cum += hist[b];
  }
  if (s.gathered.size() < used) s.gathered.resize(used);
  uint16_t* const g = s.gathered.data();
  for (uint32_t i = 0; i < n; ++i) {
    const uint16_t sl = s.slice[codes[i] >> 8];
    if (sl != CodeSelectScratch::kNone) g[fill[sl]++] = codes[i];
  }
  for (uint32_t b = 0; b < bins; ++b) std::sort(g + start[b], g + fill[b]);
  for (uint32_t j = 0; j < k; ++j) out[j] = g[start[s.slice[bin_of[j]]] + within[j]];
  // Leave the scratch as found: counters zero, no bin wanted.
  if (lo_bin <= hi_bin) std::fill(hist.begin() + lo_bin, hist.begin() + hi_bin + 1, 0u);  // (n > 0: always)
  for (uint32_t b = 0; b < bins; ++b) s.slice[wanted[b]] = CodeSelectScratch::kNone;
}

}  // namespace gridsentinel::features
