#pragma once
// FlatForest: the isolation trees of a forest in flat, preallocated arrays, shared by the batch
// (IsolationForest) and streaming (StreamingIsolationForest) detectors.
//
// Growing follows scikit-learn's IsolationForest (ExtraTreeRegressor, splitter='random', max_features=1):
//   - a node becomes a leaf at the depth limit or when it holds fewer than 2 points;
//   - otherwise a feature is drawn uniformly among those not yet found constant in the node; a feature whose
//     spread max - min is <= tolerance[f] is marked constant and another is drawn; when every feature is
//     constant the node becomes a leaf (scikit-learn: FEATURE_THRESHOLD = 1e-7, absolute);
//   - the threshold is uniform in [min, max) of that feature in the node (max itself is mapped to min, as
//     scikit-learn does), points with x <= threshold go left.
// Path length of a point in one tree: the depth of its leaf (edges from the root) + c(points in the leaf).
//
// Layout, and why: each node is 16 bytes {threshold, feature, left}; the right child sits at left + 1, and a
// leaf is a node whose threshold is +inf and whose left child is itself. Scoring is then branch-free and runs
// a fixed number of steps (the tree's depth): a point that reaches a leaf early just stays there. Branch-free
// matters because each split is a coin flip the predictor cannot learn; fixed steps let several trees (one
// point) or several points (one tree) advance in lockstep, so their independent load chains overlap. Leaf
// path lengths (depth + c(size)) are precomputed in a side array read once per tree. Node sizes are kept for
// attribution.
//
// Memory: n_trees x (2 max_samples - 1) x 28 bytes (about 1.4 MB for 100 trees of 256 points) and growing
// scratch of max_samples x (dim + 1) doubles, allocated by reset(); growing and scoring never allocate.
// Cost: growing one tree from m points is O(m x depth) (plus a min/max scan per constant feature drawn);
// scoring is n_trees x depth node steps per point.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/StateCodec.h"
#include "detectors/iforest/Xoshiro256.h"

namespace gridsentinel::detectors {

struct IsolationNode {
  double threshold = 0.0;  // go right when x[feature] > threshold; +inf at a leaf, so nothing goes right
  uint32_t feature = 0;    // 0 at a leaf
  // The left child's index among all the forest's nodes (right = left + 1; a leaf points at itself), so a
  // walk needs no per-tree base (saved within its tree, see save()); FlatForest::left_child gives it within
  // its tree.
  uint32_t left = 0;
};
static_assert(sizeof(IsolationNode) == 16);

class FlatForest {
 public:
  // scikit-learn's FEATURE_THRESHOLD: a feature spanning no more than this in a node counts as constant
  // there.
  static constexpr double kSklearnConstantTolerance = 1e-7;

  // Node indices are 32-bit: a forest holds at most 2^32 - 1 nodes (n_trees x (2 max_samples - 1); 16 bytes
  // each, so 64 GiB).
  static constexpr uint64_t kMaxNodes = 0xffffffffu;
  static bool fits(uint64_t n_trees, uint64_t max_samples);
  // Room for `n_trees` trees grown from up to `max_samples` (>= 1) points of `dim` (>= 1) features. Drops all
  // trees. Throws std::invalid_argument (at set-up) when the forest would not fit().
  void reset(uint32_t n_trees, uint32_t max_samples, uint32_t dim);

  // Grows tree `t` from `m` (1..max_samples) points stored row-major in `sample` (m x dim), with per-feature
  // constant tolerances `tolerance` (dim values). Draws randomness from `rng` only. Does not allocate.
  void grow(uint32_t t, const double* sample, uint32_t m, const double* tolerance, Xoshiro256& rng);
  // The same tree from points given by address (rows[i] points at point i's dim values), so that a caller
  // holding them elsewhere (a window ring) need not copy them first.
  void grow(uint32_t t, const double* const* rows, uint32_t m, const double* tolerance, Xoshiro256& rng);

  // Sum over trees of the path length of `x` (dim values). 0 when no tree is grown. Walks eight trees a step
  // with AVX-512 when simd() and dim <= 8, else total_path_portable(). Every scoring function here
  // adds the trees' path lengths in one fixed order (eight lanes by tree number, combined pairwise), so they
  // agree to the bit, on every machine.
  double total_path(const double* x) const;
  double total_path_portable(const double* x) const;
  // Whether this machine runs the AVX-512 walk: x86-64 with AVX-512F, unless the environment sets
  // GS_FOREST_SIMD=0 (for tools that do not model AVX-512, such as valgrind). Decided once per process.
  static bool simd_enabled();
  // Whether this forest grows and walks with the AVX-512 kernels: simd_enabled() after reset().
  // set_simd(false) makes it run the portable code, set_simd(true) returns to simd_enabled(); the trees and
  // scores are the same to the bit either way (tests compare them).
  bool simd() const { return use_simd_; }
  void set_simd(bool on) { use_simd_ = on && simd_enabled(); }
  // For `n` points (row i at X + i * stride), adds each one's summed path length to sums[i]. Tree-major in
  // blocks of points, so one tree stays in L1 while a block of points runs through it.
  void accumulate_paths(const double* X, size_t n, size_t stride, double* sums) const;
  // As total_path, and writes each feature's share of the isolation of `x` to credit[0..dim), summing to 1.
  // Along each tree's path, a split that sent x to a branch holding n_child < n / 2 of the node's n points
  // credits its feature with log2(n / (2 n_child)): the halvings it saved beyond an even split, large when
  // the split nearly isolated x, zero on the bigger branch. Each tree's credits are weighted by 1 / h_t(x),
  // so trees that isolate x sooner count more (the tree weighting of DIFFI: Carletti, Terzi & Susto,
  // "Interpretable Anomaly Detection with DIFFI", Eng. Appl. of AI, 2023; here on the point's own path only).
  // A point no split cut off gets equal shares. Costs two walks per tree, with branches: for explaining
  // alerts, not for every point.
  double total_path_with_credit(const double* x, double* credit) const;

  uint32_t n_trees() const { return n_trees_; }
  uint32_t max_samples() const { return max_samples_; }
  uint32_t dim() const { return dim_; }
  // Per-tree shape, for tests and diagnostics.
  uint32_t node_count(uint32_t t) const { return node_count_[t]; }
  uint32_t depth(uint32_t t) const { return depth_[t]; }
  uint32_t samples(uint32_t t) const { return samples_[t]; }
  std::span<const IsolationNode> nodes(uint32_t t) const { return {tree(t), node_count_[t]}; }
  // Node i's left child within tree t (right = left + 1); i itself for a leaf.
  uint32_t left_child(uint32_t t, uint32_t i) const {
    return tree(t)[i].left - static_cast<uint32_t>(offset(t));
  }
  uint32_t node_size(uint32_t t, uint32_t i) const { return size_[offset(t) + i]; }
  bool grown(uint32_t t) const { return node_count_[t] > 0; }

  void save(StateWriter& w) const;
  // Reads a forest written by save() and checks every index, so that a malformed state can never send a walk
  // out of bounds. Returns false (leaving *this unspecified) on malformed input; callers restore into a copy.
  bool restore(StateReader& r, uint32_t max_trees, uint32_t max_dim);

 private:
  // A node waiting to be split or made a leaf; its points are [begin, end) of order buffer depth % 2.
  struct Pending {
    uint32_t node, begin, end, depth;
  };
  size_t capacity() const { return 2 * size_t{max_samples_} - 1; }
  size_t offset(uint32_t t) const { return t * capacity(); }
  const IsolationNode* tree(uint32_t t) const { return nodes_.data() + offset(t); }
  void grow_from_columns(uint32_t t, uint32_t m, const double* tolerance, Xoshiro256& rng);
  void make_leaf(uint32_t t, uint32_t node, uint32_t size, uint32_t depth);
  bool finish_restored_tree(uint32_t t);

  uint32_t n_trees_ = 0, max_samples_ = 0, dim_ = 0;
  bool use_simd_ = false;
  std::vector<IsolationNode> nodes_;                    // n_trees x capacity
  std::vector<double> leaf_path_;                       // depth + c(size) at leaves
  std::vector<double> leaf_c_;                          // c(n) for n = 0..max_samples (a log each, once)
  std::vector<uint32_t> size_;                          // training points that reached each node
  std::vector<uint32_t> node_count_, depth_, samples_;  // per tree; node_count 0 = not grown
  // Growing scratch, sized by reset().
  std::vector<uint32_t> order_;  // two buffers of max_samples point numbers (see grow_from_columns)
  std::vector<uint32_t> features_;
  std::vector<double> values_, columns_;  // one feature's values in a node; the sample, column-major
  std::vector<Pending> pending_;
};

}  // namespace gridsentinel::detectors
