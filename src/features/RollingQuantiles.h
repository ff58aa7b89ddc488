#pragma once
// RollingQuantiles: exact quantiles, median and MAD of one feature of one entity over a short rolling window.
//
// Window: the `max_points` most recent points by event time and, when `window_ms` > 0, only those with time >
// newest - window_ms (newest = the newest event time seen). Points may arrive out of order: a late point
// still inside the window is inserted at its place; one older than the window, or older than every point of a
// full window (it would be evicted at once), is refused (`add` returns false) and the caller counts it as
// late. A point leaves the window only when a newer one arrives: between arrivals the window keeps what it
// has.
//
// Data structure: a ring of the points in event-time order (for eviction) and a sorted vector of their values
// (for order statistics), both allocated once at construction. Insert/remove in the sorted vector is a binary
// search plus a memmove of O(N) elements. Measured against an O(log N) order-statistics tree (GCC's pb_ds
// red-black tree), it is faster up to about 2,000 points, because moving a few kB costs less than a dozen
// dependent cache misses: 0.10 / 0.27 / 0.61 us per point against 0.23 / 0.32 / 0.39 us at N = 64 / 1,024 /
// 4,096 (bench/window_detectors_bench.cc, BM_OrderStatistics*). Windows are therefore capped at kMaxPoints;
// longer windows belong to SlidingQuantileSketch.
//
// Cost per point: the memmove above; the ring insert is O(1) in order (a late point shifts the ring by how
// late it is). Quantiles are O(1) (random access); the MAD is O(log N), a k-th smallest of two sorted
// sequences (the deviations below and above the median).
// Memory: 24 bytes per point of capacity (16 in the ring, 8 sorted) plus about 100 bytes, fixed at
// construction.
// Quantile definition: linear interpolation between order statistics (Hyndman & Fan type 7, numpy's default).
#include <cstdint>
#include <span>
#include <vector>

#include "common/StateCodec.h"
#include "features/Quartiles.h"

namespace gridsentinel::features {

class RollingQuantiles {
 public:
  static constexpr uint32_t kMaxPoints = 4096;
  // max_points is clamped to [1, kMaxPoints]; window_ms <= 0 means "count only".
  RollingQuantiles(uint32_t max_points, int64_t window_ms);

  // Adds one point. Returns false (and changes nothing) when the value is not finite or the point is too
  // late.
  bool add(int64_t time_ms, double value);

  uint32_t count() const { return count_; }
  uint32_t capacity() const { return capacity_; }
  // Quantile q in [0, 1] (type 7); NaN when empty.
  double quantile(double q) const;
  double median() const { return quantile(0.5); }
  // Median absolute deviation from the median (unscaled: multiply by 1.4826 for a normal sigma); NaN when
  // empty.
  double mad() const;
  Quartiles quartiles() const;
  // The window's values, ascending.
  std::span<const double> sorted() const { return sorted_; }
  size_t memory_bytes() const;

  void save(StateWriter& w) const;
  bool restore(
      StateReader& r);  // false on malformed input or a different shape; then this window is unchanged

 private:
  struct Sample {
    int64_t time_ms;
    double value;
  };
  Sample& slot(uint32_t i) { return ring_[(head_ + i) % capacity_]; }  // i-th oldest
  const Sample& slot(uint32_t i) const { return ring_[(head_ + i) % capacity_]; }
  bool older_than_window(int64_t time_ms, int64_t newest) const;
  void evict_oldest();

  uint32_t capacity_;
  int64_t window_ms_;
  std::vector<Sample> ring_;
  uint32_t head_ = 0;
  uint32_t count_ = 0;
  std::vector<double> sorted_;
};

}  // namespace gridsentinel::features
