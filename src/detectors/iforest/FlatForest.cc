#include "detectors/iforest/FlatForest.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string_view>

#include "detectors/iforest/PathLength.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define GS_FOREST_HAS_AVX512 1
#include <immintrin.h>
#else
#define GS_FOREST_HAS_AVX512 0
#endif

namespace gridsentinel::detectors {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// One branch-free step down a tree (i and the result index the whole forest's nodes); a leaf maps to itself.
inline uint32_t step(const IsolationNode* nodes, uint32_t i, const double* x) {
  const IsolationNode& n = nodes[i];
  return n.left + static_cast<uint32_t>(x[n.feature] > n.threshold);
}

// Copies m points (point_at(i) -> its dim values) into `columns`, column-major with `stride` values a column.
// Point by point (each point's address is read once, and its values are adjacent), into dim column streams.
template <typename PointAt>
void copy_columns(double* columns, uint32_t stride, uint32_t dim, uint32_t m, PointAt point_at) {
  for (uint32_t row = 0; row < m; ++row) {
    const double* const point = point_at(row);
    for (uint32_t f = 0; f < dim; ++f) columns[size_t{f} * stride + row] = point[f];
  }
}

// The order in which trees' path lengths are added, shared by every way of scoring so that they agree to the
// bit: tree t goes to lane t mod 8, each lane adds its trees in order, and the lanes are combined pairwise.
// (One running sum in tree order made 100 dependent additions per point, a chain as long as the walks.)
constexpr uint32_t kPathLanes = 8;
inline double combine_lanes(const double* lane) {
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

// Eight trees a step with AVX-512 (see total_path): a node's threshold and its {feature, left} word are
// gathered for eight trees at once, x[feature] is a lane permutation of x held in one register (dim <= 8),
// and the step is one compare and one masked add. Lane l sums trees l, l + 8, ... in order, as the portable
// path does (combine_lanes), so both give the same bits.
#if GS_FOREST_HAS_AVX512
__attribute__((target("avx512f"))) double total_path_avx512(const IsolationNode* nodes,
                                                            const double* leaf_path, const uint32_t* depth,
                                                            size_t capacity, uint32_t n_trees, uint32_t dim,
                                                            const double* x) {
  constexpr uint32_t kGroups = 16;  // groups of 8 trees in flight: their gathers overlap
  const __m512d xv = _mm512_maskz_loadu_pd(static_cast<__mmask8>((1u << dim) - 1), x);
  const __m512i two = _mm512_set1_epi64(2);
  // The masked forms with explicit sources throughout: GCC 12 warns (-Wmaybe-uninitialized) on the
  // unmasked ones, whose headers start from an undefined register.
  constexpr auto kAll = static_cast<__mmask8>(0xff);
  const __m512d zero = _mm512_setzero_pd();
  const __m512i zero_i = _mm512_setzero_si512();
  const auto c2 = static_cast<long long>(2 * capacity);  // 2 x a tree's first node, for trees 0..7
  const __m512i lane_roots = _mm512_set_epi64(7 * c2, 6 * c2, 5 * c2, 4 * c2, 3 * c2, 2 * c2, c2, 0);
  const auto live_lanes = [](uint32_t trees_left) {
    return static_cast<__mmask8>(trees_left >= 8 ? 0xffu : (1u << trees_left) - 1);
  };
  // Node i's threshold is 8-byte word 2i of the node array and its {feature, left} word is 2i + 1; the
  // walk keeps 2i, and 2 left = that word >> 31 (feature < 8 leaves bit 31 clear).
  const auto* words = reinterpret_cast<const double*>(nodes);
  const auto* metas = reinterpret_cast<const long long*>(nodes) + 1;
  __m512d lanes = _mm512_setzero_pd();
  for (uint32_t t0 = 0; t0 < n_trees; t0 += kGroups * 8) {
    const uint32_t trees = std::min(kGroups * 8, n_trees - t0);
    const uint32_t groups = (trees + 7) / 8;
    __m512i at[kGroups];
    for (uint32_t g = 0; g < groups; ++g) {
      // Lanes past the last tree walk tree t0 harmlessly: their leaves are not summed.
      const __m512i first = _mm512_set1_epi64(static_cast<long long>(2 * capacity * (t0 + 8 * g)));
      at[g] = _mm512_mask_blend_epi64(live_lanes(trees - 8 * g),
                                      _mm512_set1_epi64(static_cast<long long>(2 * capacity * t0)),
                                      _mm512_add_epi64(first, lane_roots));
    }
    uint32_t steps = 0;
    for (uint32_t k = 0; k < trees; ++k) steps = std::max(steps, depth[t0 + k]);
    for (uint32_t d = 0; d < steps; ++d)
      for (uint32_t g = 0; g < groups; ++g) {
        const __m512d threshold = _mm512_mask_i64gather_pd(zero, kAll, at[g], words, 8);
        const __m512i meta = _mm512_mask_i64gather_epi64(zero_i, kAll, at[g], metas, 8);
        const __mmask8 right =
            _mm512_cmp_pd_mask(_mm512_maskz_permutexvar_pd(kAll, meta, xv), threshold, _CMP_GT_OQ);
        const __m512i left2 = _mm512_maskz_srli_epi64(kAll, meta, 31);
        at[g] = _mm512_mask_add_epi64(left2, right, left2, two);
      }
    for (uint32_t g = 0; g < groups; ++g) {
      // Only live lanes add: a tree count that is not a multiple of 8 leaves the others alone.
      const __m512i leaf = _mm512_maskz_srli_epi64(kAll, at[g], 1);
      lanes = _mm512_mask_add_pd(lanes, live_lanes(trees - 8 * g), lanes,
                                 _mm512_mask_i64gather_pd(zero, kAll, leaf, leaf_path, 8));
    }
  }
  alignas(64) double sums[kPathLanes];
  _mm512_store_pd(sums, lanes);
  return combine_lanes(sums);
}

// Nodes of fewer points take the scalar loops: their cost is the latency of one chain of loads, which a
// gather and a reduction across lanes only lengthen (bench/iforest_bench BM_GrowTree).
constexpr uint32_t kSimdMinPoints = 64;

// Growing's two passes over a node's points, eight (min/max) and sixteen (partition) at a time; they give
// what the scalar loops in grow_from_columns give: the same minimum and maximum (up to the sign of a zero,
// which no test below can see), and the same points on each side, the left ones in the same order (the right
// side fills from the back, a block at a time here and a point at a time there; no split depends on order).
// A partial last block is masked, so nothing outside the node's range is read or written.
__attribute__((target("avx512f"))) void gather_min_max_avx512(const double* col, const uint32_t* ord,
                                                              uint32_t n, double* vals, double& lo,
                                                              double& hi) {
  const __m512d zero = _mm512_setzero_pd();
  __m512d vlo = _mm512_set1_pd(kInf), vhi = _mm512_set1_pd(-kInf);
  for (uint32_t k = 0; k < n; k += 8) {
    const auto live = static_cast<__mmask8>(n - k >= 8 ? 0xffu : (1u << (n - k)) - 1);
    __m256i rows;
    if (live == 0xff) {
      rows = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ord + k));
    } else {  // (a masked 256-bit load would need AVX-512VL)
      alignas(32) uint32_t tail[8] = {};
      std::copy(ord + k, ord + n, tail);
      rows = _mm256_load_si256(reinterpret_cast<const __m256i*>(tail));
    }
    const __m512d v = _mm512_mask_i32gather_pd(zero, live, rows, col, 8);
    _mm512_mask_storeu_pd(vals + k, live, v);
    vlo = _mm512_mask_min_pd(vlo, live, vlo, v);
    vhi = _mm512_mask_max_pd(vhi, live, vhi, v);
  }
  // Reduced through memory: GCC 12's _mm512_reduce_* start from an undefined register (-Wuninitialized).
  alignas(64) double l[8], h[8];
  _mm512_store_pd(l, vlo);
  _mm512_store_pd(h, vhi);
  lo = *std::min_element(l, l + 8);
  hi = *std::max_element(h, h + 8);
}

// Splits in[0, n) by vals (vals[i] belongs to in[i]) into out[0, n): points with vals <= threshold from the
// front, the others from the back (each block's in order, blocks in reverse). Returns how many went left.
__attribute__((target("avx512f,popcnt"))) uint32_t partition_avx512(const uint32_t* in, const double* vals,
                                                                    uint32_t n, double threshold,
                                                                    uint32_t* out) {
  const __m512d zero = _mm512_setzero_pd();
  const __m512i zero_i = _mm512_setzero_si512();
  const __m512d thr = _mm512_set1_pd(threshold);
  uint32_t cut = 0, end = n;  // out[0, cut) went left, out[end, n) right
  for (uint32_t i = 0; i < n; i += 16) {
    const uint32_t left_over = n - i;
    const auto live = static_cast<__mmask16>(left_over >= 16 ? 0xffffu : (1u << left_over) - 1);
    const __m512i rows = _mm512_mask_loadu_epi32(zero_i, live, in + i);
    const __m512d v0 = _mm512_mask_loadu_pd(zero, static_cast<__mmask8>(live), vals + i);
    const __m512d v1 = _mm512_mask_loadu_pd(zero, static_cast<__mmask8>(live >> 8), vals + i + 8);
    // "Not <=": the scalar loop's test, negated.
    const auto goes_right = static_cast<__mmask16>(
        (_mm512_cmp_pd_mask(v0, thr, _CMP_NLE_UQ) | (_mm512_cmp_pd_mask(v1, thr, _CMP_NLE_UQ) << 8)) & live);
    const auto goes_left = static_cast<__mmask16>(~goes_right & live);
    const auto n_left = static_cast<uint32_t>(_mm_popcnt_u32(goes_left));
    const auto n_now_right = static_cast<uint32_t>(_mm_popcnt_u32(goes_right));
    // Compressed in registers and stored with a mask (never compress-to-memory, slow on some processors).
    end -= n_now_right;
    _mm512_mask_storeu_epi32(out + cut, static_cast<__mmask16>((1u << n_left) - 1),
                             _mm512_maskz_compress_epi32(goes_left, rows));
    _mm512_mask_storeu_epi32(out + end, static_cast<__mmask16>((1u << n_now_right) - 1),
                             _mm512_maskz_compress_epi32(goes_right, rows));
    cut += n_left;
  }
  return cut;
}
#endif

}  // namespace

bool FlatForest::simd_enabled() {
#if GS_FOREST_HAS_AVX512
  static const bool enabled = [] {
    const char* env = std::getenv("GS_FOREST_SIMD");
    if (env != nullptr && std::string_view(env) == "0") return false;
    return __builtin_cpu_supports("avx512f") != 0;
  }();
  return enabled;
#else
  return false;
#endif
}

bool FlatForest::fits(uint64_t n_trees, uint64_t max_samples) {
  return n_trees * (2 * std::max<uint64_t>(max_samples, 1) - 1) <= kMaxNodes;
}

void FlatForest::reset(uint32_t n_trees, uint32_t max_samples, uint32_t dim) {
  if (!fits(n_trees, max_samples))
    throw std::invalid_argument("FlatForest: n_trees x (2 max_samples - 1) nodes exceed 2^32 - 1");
  n_trees_ = n_trees;
  max_samples_ = std::max<uint32_t>(max_samples, 1);
  dim_ = std::max<uint32_t>(dim, 1);
  const size_t total = size_t{n_trees_} * capacity();
  nodes_.resize(total);
  // Every slot starts as a leaf pointing at itself, so a walk through a tree not grown yet stays at its root.
  for (size_t i = 0; i < total; ++i) nodes_[i] = IsolationNode{kInf, 0, static_cast<uint32_t>(i)};
  leaf_path_.assign(total, 0.0);
  leaf_c_.resize(size_t{max_samples_} + 1);
  for (uint32_t n = 0; n <= max_samples_; ++n) leaf_c_[n] = average_path_length(n);
  size_.assign(total, 0);
  node_count_.assign(n_trees_, 0);
  depth_.assign(n_trees_, 0);
  samples_.assign(n_trees_, 0);
  order_.assign(2 * size_t{max_samples_}, 0);
  values_.assign(max_samples_, 0.0);
  columns_.assign(size_t{max_samples_} * dim_, 0.0);
  features_.assign(dim_, 0);
  pending_.clear();
  use_simd_ = simd_enabled();
  // Depth-first with both children pushed at once: never more than one pending sibling per level, plus one.
  pending_.reserve(isolation_depth_limit(max_samples_) + 2);
}

void FlatForest::make_leaf(uint32_t t, uint32_t node, uint32_t size, uint32_t depth) {
  const size_t at = offset(t) + node;
  nodes_[at] = IsolationNode{kInf, 0, static_cast<uint32_t>(at)};
  leaf_path_[at] = static_cast<double>(depth) + leaf_c_[size];
  depth_[t] = std::max(depth_[t], depth);
}

void FlatForest::grow(uint32_t t, const double* sample, uint32_t m, const double* tolerance,
                      Xoshiro256& rng) {
  copy_columns(columns_.data(), max_samples_, dim_, m,
               [&](uint32_t row) { return sample + size_t{row} * dim_; });
  grow_from_columns(t, m, tolerance, rng);
}

void FlatForest::grow(uint32_t t, const double* const* rows, uint32_t m, const double* tolerance,
                      Xoshiro256& rng) {
  copy_columns(columns_.data(), max_samples_, dim_, m, [&](uint32_t row) { return rows[row]; });
  grow_from_columns(t, m, tolerance, rng);
}

// The sample is in columns_ (column-major: a node's values of one feature are one indexed load each).
void FlatForest::grow_from_columns(uint32_t t, uint32_t m, const double* tolerance, Xoshiro256& rng) {
  const uint32_t depth_limit = isolation_depth_limit(m);
  const size_t base = offset(t);
  IsolationNode* nodes = nodes_.data() + base;
  std::iota(order_.begin(), order_.begin() + m, 0u);  // the root's points, in order buffer 0
  node_count_[t] = 1;
  depth_[t] = 0;
  samples_[t] = m;
  pending_.clear();
  pending_.push_back({0, 0, m, 0});
  while (!pending_.empty()) {
    const Pending p = pending_.back();
    pending_.pop_back();
    const uint32_t n = p.end - p.begin;
    size_[base + p.node] = n;
    if (p.depth >= depth_limit || n < 2) {
      make_leaf(t, p.node, n, p.depth);
      continue;
    }
    // Draw features until one varies in this node (scikit-learn's random splitter with max_features = 1).
    std::iota(features_.begin(), features_.end(), 0u);
    uint32_t candidates = dim_;
    bool split = false;
    // A node at depth d holds its points in order buffer d % 2 and partitions them into the other one, where
    // its children find them: nothing is copied back.
    const uint32_t* const ord = order_.data() + size_t{p.depth % 2} * max_samples_;
    uint32_t* const next = order_.data() + size_t{(p.depth + 1) % 2} * max_samples_;
    double* const vals = values_.data();  // the drawn feature's values of the node's points, in order
    while (candidates > 0 && !split) {
      const auto j = static_cast<uint32_t>(rng.below(candidates));
      const uint32_t f = features_[j];
      const double* const col = columns_.data() + size_t{f} * max_samples_;
      // Min and max in two interleaved pairs (one pair made each step wait for the last min/max). The sample
      // is finite, and which of +0 and -0 comes out cannot change a split: every test below treats them
      // alike.
      double lo, hi;
#if GS_FOREST_HAS_AVX512
      if (use_simd_ && n >= kSimdMinPoints) {
        gather_min_max_avx512(col, ord + p.begin, n, vals, lo, hi);
      } else
#endif
      {
        double lo0 = kInf, hi0 = -kInf, lo1 = kInf, hi1 = -kInf;
        uint32_t k = 0;
        for (; k + 2 <= n; k += 2) {
          const double a = col[ord[p.begin + k]], b = col[ord[p.begin + k + 1]];
          vals[k] = a;
          vals[k + 1] = b;
          lo0 = std::min(lo0, a);
          hi0 = std::max(hi0, a);
          lo1 = std::min(lo1, b);
          hi1 = std::max(hi1, b);
        }
        if (k < n) {
          const double a = col[ord[p.begin + k]];
          vals[k] = a;
          lo0 = std::min(lo0, a);
          hi0 = std::max(hi0, a);
        }
        lo = std::min(lo0, lo1);
        hi = std::max(hi0, hi1);
      }
      if (!(hi > lo) || hi <= lo + tolerance[f]) {  // the first test holds even for a NaN tolerance
        features_[j] = features_[--candidates];
        features_[candidates] = f;
        continue;
      }
      double threshold = lo + (hi - lo) * rng.uniform();
      // As scikit-learn (threshold == max becomes min): both sides stay non-empty. Written as a range check
      // so that it also catches hi - lo overflowing to +inf for values near DBL_MAX.
      if (!(threshold < hi)) threshold = lo;
      // Partition without branches (each comparison is a coin flip the predictor cannot learn): left points
      // fill the node's range in the other buffer from the front, right ones from the back. Both slots are
      // written every time; the one that is not kept lies in the unfilled middle and is overwritten later.
      // The order within a side does not matter: a node's split depends only on which points it holds.
      uint32_t cut = p.begin;
#if GS_FOREST_HAS_AVX512
      if (use_simd_ && n >= kSimdMinPoints) {
        cut += partition_avx512(ord + p.begin, vals, n, threshold, next + p.begin);
      } else
#endif
      {
        uint32_t end = p.end;
        for (uint32_t i = 0; i < n; ++i) {
          const uint32_t row = ord[p.begin + i];
          const bool goes_left = vals[i] <= threshold;
          next[cut] = row;
          next[end - 1] = row;
          cut += static_cast<uint32_t>(goes_left);
          end -= static_cast<uint32_t>(!goes_left);
        }
      }
      const auto left = node_count_[t];
      node_count_[t] += 2;
      nodes[p.node] = IsolationNode{threshold, f, static_cast<uint32_t>(base + left)};
      pending_.push_back({left + 1, cut, p.end, p.depth + 1});
      pending_.push_back({left, p.begin, cut, p.depth + 1});
      split = true;
    }
    if (!split) make_leaf(t, p.node, n, p.depth);
  }
}

double FlatForest::total_path(const double* x) const {
#if GS_FOREST_HAS_AVX512
  if (dim_ <= 8 && use_simd_)
    return total_path_avx512(nodes_.data(), leaf_path_.data(), depth_.data(), capacity(), n_trees_, dim_, x);
#endif
  return total_path_portable(x);
}

double FlatForest::total_path_portable(const double* x) const {
  // Trees advance in lockstep groups so that their independent load chains overlap: a step is a dependent
  // load, so a point's walk is latency-bound: 1.09 us a score with 8 chains, 0.79 with 10, 0.82 with 12,
  // 0.87 with 16 (100 trees of 256 points, bench/iforest_bench BM_StreamingScore); child indices that
  // address the whole forest (no per-tree base to add at each step) took 10 chains from ~0.81 to ~0.73 us.
  constexpr uint32_t kGroup = 10;
  const IsolationNode* const nodes = nodes_.data();
  double lane[kPathLanes] = {};
  uint32_t t = 0;
  for (; t + kGroup <= n_trees_; t += kGroup) {
    uint32_t idx[kGroup];
    uint32_t steps = 0;
    for (uint32_t k = 0; k < kGroup; ++k) {
      idx[k] = static_cast<uint32_t>(offset(t + k));  // the root
      steps = std::max(steps, depth_[t + k]);
    }
    for (uint32_t d = 0; d < steps; ++d)
      for (uint32_t k = 0; k < kGroup; ++k) idx[k] = step(nodes, idx[k], x);
    for (uint32_t k = 0; k < kGroup; ++k) lane[(t + k) % kPathLanes] += leaf_path_[idx[k]];
  }
  // The last n_trees mod kGroup trees in lockstep too. (The same loop with a run-time group size: full groups
  // keep the compile-time one, which the compiler unrolls.)
  if (const uint32_t rest = n_trees_ - t; rest > 0) {
    uint32_t idx[kGroup] = {};
    uint32_t steps = 0;
    for (uint32_t k = 0; k < rest; ++k) {
      idx[k] = static_cast<uint32_t>(offset(t + k));
      steps = std::max(steps, depth_[t + k]);
    }
    for (uint32_t d = 0; d < steps; ++d)
      for (uint32_t k = 0; k < rest; ++k) idx[k] = step(nodes, idx[k], x);
    for (uint32_t k = 0; k < rest; ++k) lane[(t + k) % kPathLanes] += leaf_path_[idx[k]];
  }
  return combine_lanes(lane);
}

void FlatForest::accumulate_paths(const double* X, size_t n, size_t stride, double* sums) const {
  constexpr size_t kBlock = 128;    // points per pass over the forest: a block and one tree fit in L1
  constexpr size_t kLanes = 8;      // points advanced in lockstep through one tree
  double lane[kBlock][kPathLanes];  // per point, the lane sums of combine_lanes
  for (size_t b0 = 0; b0 < n; b0 += kBlock) {
    const size_t b1 = std::min(n, b0 + kBlock);
    for (size_t r = b0; r < b1; ++r) std::fill(lane[r - b0], lane[r - b0] + kPathLanes, 0.0);
    for (uint32_t t = 0; t < n_trees_; ++t) {
      const IsolationNode* nodes = nodes_.data();
      const double* paths = leaf_path_.data();
      const auto root = static_cast<uint32_t>(offset(t));
      const uint32_t steps = depth_[t];
      const uint32_t tree_lane = t % kPathLanes;
      size_t r = b0;
      for (; r + kLanes <= b1; r += kLanes) {
        uint32_t idx[kLanes];
        std::fill(idx, idx + kLanes, root);
        for (uint32_t d = 0; d < steps; ++d)
          for (size_t k = 0; k < kLanes; ++k) idx[k] = step(nodes, idx[k], X + (r + k) * stride);
        for (size_t k = 0; k < kLanes; ++k) lane[r + k - b0][tree_lane] += paths[idx[k]];
      }
      for (; r < b1; ++r) {
        uint32_t i = root;
        for (uint32_t d = 0; d < steps; ++d) i = step(nodes, i, X + r * stride);
        lane[r - b0][tree_lane] += paths[i];
      }
    }
    for (size_t r = b0; r < b1; ++r) sums[r] += combine_lanes(lane[r - b0]);
  }
}

double FlatForest::total_path_with_credit(const double* x, double* credit) const {
  std::fill(credit, credit + dim_, 0.0);
  double lane[kPathLanes] = {};
  const IsolationNode* const nodes = nodes_.data();
  const uint32_t* const sizes = size_.data();
  for (uint32_t t = 0; t < n_trees_; ++t) {
    const auto root = static_cast<uint32_t>(offset(t));
    uint32_t leaf = root;
    for (uint32_t d = 0; d < depth_[t]; ++d) leaf = step(nodes, leaf, x);
    const double path = leaf_path_[leaf];
    lane[t % kPathLanes] += path;
    if (!(path > 0.0)) continue;  // a root leaf: no split to credit
    // Second walk, now that the tree's weight 1 / h(x) is known: trees that isolate x sooner count more.
    const double tree_weight = 1.0 / path;
    for (uint32_t i = root; i != leaf;) {
      const uint32_t next = step(nodes, i, x);
      // Bits saved beyond an even halving: log2(n / (2 n_child)) > 0 only on the smaller branch.
      const double ratio = static_cast<double>(sizes[i]) / (2.0 * static_cast<double>(sizes[next]));
      if (ratio > 1.0) credit[nodes[i].feature] += tree_weight * std::log2(ratio);
      i = next;
    }
  }
  const double sum = std::accumulate(credit, credit + dim_, 0.0);
  const double uniform = 1.0 / static_cast<double>(dim_);
  for (uint32_t f = 0; f < dim_; ++f) credit[f] = sum > 0.0 ? credit[f] / sum : uniform;
  return combine_lanes(lane);
}

void FlatForest::save(StateWriter& w) const {
  w.put(n_trees_);
  w.put(max_samples_);
  w.put(dim_);
  for (uint32_t t = 0; t < n_trees_; ++t) {
    w.put(node_count_[t]);
    w.put(samples_[t]);
    const size_t base = offset(t);
    for (uint32_t i = 0; i < node_count_[t]; ++i) {
      IsolationNode n = nodes_[base + i];
      n.left -= static_cast<uint32_t>(base);  // saved within its tree
      w.put(n);
      w.put(size_[base + i]);
    }
  }
}

bool FlatForest::restore(StateReader& r, uint32_t max_trees, uint32_t max_dim) {
  uint32_t n_trees = 0, max_samples = 0, dim = 0;
  if (!r.get(n_trees) || !r.get(max_samples) || !r.get(dim)) return false;
  if (n_trees > max_trees || max_samples == 0 || max_samples > (1u << 20) || dim == 0 || dim > max_dim ||
      !fits(n_trees, max_samples))
    return false;
  reset(n_trees, max_samples, dim);
  for (uint32_t t = 0; t < n_trees_; ++t) {
    uint32_t count = 0, samples = 0;
    if (!r.get(count) || !r.get(samples) || count > capacity() || samples > max_samples_) return false;
    if ((count == 0) != (samples == 0)) return false;
    const size_t base = offset(t);
    for (uint32_t i = 0; i < count; ++i)
      if (!r.get(nodes_[base + i]) || !r.get(size_[base + i])) return false;
    node_count_[t] = count;
    samples_[t] = samples;
    if (count > 0 && !finish_restored_tree(t)) return false;
  }
  return r.ok();
}

// Checks the invariants growing guarantees (children after their parent and in range, sizes that add up,
// depth within the limit, leaves that point at themselves) and recomputes depths and leaf path lengths.
bool FlatForest::finish_restored_tree(uint32_t t) {
  const size_t base = offset(t);
  const uint32_t count = node_count_[t];
  const uint32_t limit = isolation_depth_limit(samples_[t]);
  if (size_[base] != samples_[t]) return false;
  // Each node's depth, filled in as its parent (always at a lower index) is visited, goes into leaf_path_
  // temporarily.
  double* node_depth = leaf_path_.data() + base;
  std::fill(node_depth, node_depth + count, -1.0);
  node_depth[0] = 0.0;
  depth_[t] = 0;
  for (uint32_t i = 0; i < count; ++i) {
    const IsolationNode& n = nodes_[base + i];
    if (node_depth[i] < 0.0) return false;  // unreachable node
    const auto d = static_cast<uint32_t>(node_depth[i]);
    if (n.left == i) {
      if (n.threshold != kInf || n.feature != 0) return false;
      depth_[t] = std::max(depth_[t], d);
      continue;
    }
    if (n.left <= i || n.left + 1 >= count || n.feature >= dim_ || !(n.threshold < kInf) || d + 1 > limit)
      return false;
    if (node_depth[n.left] >= 0.0 || node_depth[n.left + 1] >= 0.0) return false;  // two parents
    if (size_[base + n.left] + uint64_t{size_[base + n.left + 1]} != size_[base + i]) return false;
    if (size_[base + n.left] == 0 || size_[base + n.left + 1] == 0) return false;
    node_depth[n.left] = node_depth[n.left + 1] = static_cast<double>(d + 1);
  }
  for (uint32_t i = 0; i < count; ++i) {
    IsolationNode& n = nodes_[base + i];
    leaf_path_[base + i] = n.left == i ? node_depth[i] + leaf_c_[size_[base + i]] : 0.0;
    n.left += static_cast<uint32_t>(base);  // saved within its tree, walked within the forest
  }
  return true;
}

}  // namespace gridsentinel::detectors
