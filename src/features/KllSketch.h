#pragma once
// KllSketch: a mergeable quantile sketch of a stream of doubles with a bounded rank error and bounded memory.
//
// Algorithm: Karnin, Lang, Liberty, "Optimal Quantile Approximation in Streams" (FOCS 2016), in the
// lazy-compaction form of Apache DataSketches' KLL (which is what its published error figures describe).
// Items live in levels; an item at level h stands for 2^h input items. Level h may hold max(8, round(k
// (2/3)^(H-1-h))) items, H the number of levels, so the top level holds k and lower ones geometrically fewer.
// When the sketch is full, the lowest level at or over its capacity is compacted: sorted, and every other
// item (odd or even positions, by a coin flip) promoted to the level above; an odd one out stays. A merge
// concatenates levels, then compacts the same way, so a merged sketch carries the same guarantee as one built
// from the concatenated stream.
//
// Error: rank error at most epsilon(k) * n for a single quantile query with 99% confidence, epsilon(k) =
// 2.296 / k^0.9723 (DataSketches' fit to its measurements: 1.33% at k = 200, 2.6% at k = 100). Exact while
// the stream fits in level 0 (n <= k). Measured at k = 200 (tests/unit/kll_sketch_test.cc, which asserts the
// bound): worst 0.76% over 432 queries on four distributions of 10^5 points, with and without ties; none
// beyond the bound.
// Randomness: the coin flips come from a SplitMix64 stream seeded at construction (or `clear`) and saved with
// the state, so two sketches fed the same items from the same seed are identical.
// Cost: update O(1) amortised (a compaction sorts one level, O(k log k), every ~k/2 updates): about 35 ns.
// Merge O(m log m) in the retained items m; quantile queries build a sorted view, O(m log m), then O(log m)
// each.
// Memory: at most the total capacity, about 3k items plus 8 per level beyond the 9th (k = 200: 585 + 8 (H -
// 9) doubles; 624 items, 5.1 kB at n = 2 * 10^6), grown on demand, never shrunk by `clear`.
// Non-finite values are ignored: NaN has no rank.
#include <cstdint>
#include <utility>
#include <vector>

#include "common/StateCodec.h"

namespace gridsentinel::features {

class KllSketch {
 public:
  static constexpr uint16_t kMinK = 8;
  static constexpr uint16_t kMaxK = 1024;
  static constexpr uint16_t kDefaultK = 200;

  // Single-query normalised rank error at 99% confidence for a given k.
  static double rank_error(uint16_t k);

  // k is clamped to [kMinK, kMaxK].
  explicit KllSketch(uint16_t k = kDefaultK, uint64_t seed = 0);

  void update(double x);
  // Folds `other` in (its k should equal this one's; capacities follow this sketch's k).
  void merge(const KllSketch& other);
  // Empties the sketch and reseeds it, keeping its memory.
  void clear(uint64_t seed);

  uint16_t k() const { return k_; }
  uint64_t count() const { return n_; }
  bool empty() const { return n_ == 0; }
  size_t retained() const { return items_.size(); }
  size_t memory_bytes() const;

  // The retained items sorted, each with the number of input items at or below it.
  class SortedView {
   public:
    // The smallest retained item whose cumulative weight reaches q * n (the empirical inverse CDF,
    // "inverted_cdf" in numpy's terms); NaN when empty.
    double quantile(double q) const;
    uint64_t count() const { return items_.empty() ? 0 : items_.back().second; }

   private:
    friend class KllSketch;
    std::vector<std::pair<double, uint64_t>> items_;  // (value, cumulative weight)
  };
  SortedView sorted_view() const;
  double quantile(double q) const { return sorted_view().quantile(q); }

  void save(StateWriter& w) const;
  bool restore(StateReader& r);  // false on malformed input or a different k; then this sketch is unchanged

 private:
  static constexpr uint32_t kMaxLevels = 61;  // weight 2^60 per item: beyond any count a uint64 can hold
  uint32_t levels() const { return static_cast<uint32_t>(level_sizes_.size()); }
  uint32_t level_capacity(uint32_t h) const;
  size_t total_capacity() const;
  size_t level_begin(uint32_t h) const;
  void compress_once();
  void compact(uint32_t h);
  bool coin_flip();

  uint16_t k_;
  uint64_t n_ = 0;
  uint64_t rng_;
  size_t capacity_ = 0;  // total_capacity() cached; changes only when a level is added
  // Levels stored top level first and level 0 last, so that an update is a push_back and a compaction of
  // level h writes its promoted items straight after level h + 1.
  std::vector<double> items_;
  std::vector<uint32_t> level_sizes_;  // indexed by level
};

}  // namespace gridsentinel::features
