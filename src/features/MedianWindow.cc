#include "features/MedianWindow.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <vector>

namespace gridsentinel::features {

namespace {
constexpr int64_t kMinOffset = std::numeric_limits<int32_t>::min();
constexpr int64_t kMaxOffset = std::numeric_limits<int32_t>::max();

int32_t clamp_offset(int64_t d) {
  return static_cast<int32_t>(std::clamp(d, kMinOffset, kMaxOffset));
}

// One pass of select_near around a candidate c: how many values are below and equal to c, and the nearest
// values either side (-inf / +inf when there is none). In lanes of 16 bytes (GCC/Clang vector extensions:
// SSE2 pairs on baseline x86-64, NEON on ARM; no target flags needed), then the lanes combined and the tail
// done one by one: the same counts and the same nearest values as one scalar pass (when both -0 and +0 are
// the nearest value, which sign is returned may differ; they compare equal).
template <typename T>
struct Around {
  uint32_t less = 0, equal = 0;
  T below = -std::numeric_limits<T>::infinity(), above = std::numeric_limits<T>::infinity();
};

using F4 = float __attribute__((vector_size(16)));
using I4 = int32_t __attribute__((vector_size(16)));
using D2 = double __attribute__((vector_size(16)));
using L2 = int64_t __attribute__((vector_size(16)));
template <typename T>
struct Lanes;
template <>
struct Lanes<float> {
  using V = F4;
  using M = I4;  // what a comparison of two V gives: -1 (true) or 0 in each lane
};
template <>
struct Lanes<double> {
  using V = D2;
  using M = L2;
};

template <typename T>
Around<T> count_around(const T* a, uint32_t n, T c) {
  using V = typename Lanes<T>::V;
  using M = typename Lanes<T>::M;
  constexpr uint32_t kLanes = sizeof(V) / sizeof(T);
  Around<T> r;
  uint32_t i = 0;
  if (n >= kLanes) {
    const V vc = c - V{};  // c in every lane
    V below = r.below - V{}, above = r.above - V{};
    M less{}, equal{};
    for (; i + kLanes <= n; i += kLanes) {
      V v;
      std::memcpy(&v, a + i, sizeof v);
      const M lt = v < vc;
      const M gt = v > vc;
      less -= lt;  // a true lane is -1
      equal -= v == vc;
      below = (lt & (v > below)) ? v : below;
      above = (gt & (v < above)) ? v : above;
    }
    for (uint32_t k = 0; k < kLanes; ++k) {
      r.less += static_cast<uint32_t>(less[k]);
      r.equal += static_cast<uint32_t>(equal[k]);
      r.below = below[k] > r.below ? below[k] : r.below;
      r.above = above[k] < r.above ? above[k] : r.above;
    }
  }
  for (; i < n; ++i) {
    const T v = a[i];
    r.less += v < c ? 1 : 0;
    r.equal += v == c ? 1 : 0;
    r.below = v < c && v > r.below ? v : r.below;
    r.above = v > c && v < r.above ? v : r.above;
  }
  return r;
}

// The k-th smallest (0-based) of a[0, n), found from a guess `hint` close to it in rank: each step is one
// branch-free pass (count_around), so a hint one or two ranks away costs one or two passes and reorders
// nothing. The window's previous median and MAD are such hints: one point in, one out. After three steps (or
// with a non-finite hint) it falls back to std::nth_element, which reorders a.
template <typename T>
T select_near(T* a, uint32_t n, uint32_t k, T hint) {
  T c = hint;
  for (int step = 0; step < 3 && std::isfinite(c); ++step) {
    const Around<T> r = count_around(a, n, c);
    if (k < r.less) {
      if (k + 1 == r.less) return r.below;  // the largest value below c
      c = r.below;
    } else if (k < r.less + r.equal) {
      return c;
    } else {
      if (k == r.less + r.equal) return r.above;  // the smallest value above c
      c = r.above;
    }
  }
  std::nth_element(a, a + k, a + n);
  return a[k];
}

// Median of a[0, n) (n > 0), reordering it.
double median_of(float* a, uint32_t n) {
  const uint32_t mid = n / 2;
  std::nth_element(a, a + mid, a + n);
  const auto upper = static_cast<double>(a[mid]);
  if (n % 2 == 1) return upper;
  const auto lower = static_cast<double>(*std::max_element(a, a + mid));
  return 0.5 * (lower + upper);
}
}  // namespace

MedianWindow::MedianWindow(uint32_t capacity) : ring_(std::clamp<uint32_t>(capacity, 1, kMaxPoints)) {}

int32_t MedianWindow::offset(int64_t time_ms) {
  // Differences of arbitrary int64 times are computed in unsigned arithmetic (no overflow), then clamped.
  const auto diff = [](int64_t a, int64_t b) {
    const uint64_t d = static_cast<uint64_t>(a) - static_cast<uint64_t>(b);
    if (a >= b) return d > static_cast<uint64_t>(kMaxOffset) ? kMaxOffset : static_cast<int64_t>(d);
    const uint64_t nd = static_cast<uint64_t>(b) - static_cast<uint64_t>(a);
    return nd > static_cast<uint64_t>(-kMinOffset) ? kMinOffset : -static_cast<int64_t>(nd);
  };
  if (count_ == 0) {
    base_ = time_ms;
    return 0;
  }
  const int64_t d = diff(time_ms, base_);
  if (d > kMinOffset && d < kMaxOffset) return static_cast<int32_t>(d);
  // Rebase on the oldest point (or the new one, if older), so that the window's span fits when it can.
  const int64_t oldest = base_ + slot(0).dt;
  const int64_t new_base = std::min(oldest, time_ms);
  const int64_t shift = diff(new_base, base_);
  for (uint32_t i = 0; i < count_; ++i) slot(i).dt = clamp_offset(int64_t{slot(i).dt} - shift);
  base_ = new_base;
  return clamp_offset(diff(time_ms, base_));
}

void MedianWindow::copy_values(uint32_t from, uint32_t n, float* out) const {
  // The ring in age order, in (at most) two straight runs: no division per point.
  const uint32_t cap = ring_.size();
  uint32_t at = (head_ + from) % cap;
  for (uint32_t i = 0; i < n; ++i) {
    out[i] = ring_[at].value;
    if (++at == cap) at = 0;
  }
}

bool MedianWindow::add(int64_t time_ms, double value) {
  if (!std::isfinite(value)) return false;
  const uint32_t cap = ring_.size();
  if (count_ == cap && count_ > 0) {
    // Compare with the oldest point in full int64 event time.
    const int64_t oldest = base_ + slot(0).dt;
    if (time_ms < oldest) return false;  // would be the one evicted
    head_ = (head_ + 1) % cap;
    --count_;
  }
  const int32_t dt = offset(time_ms);
  uint32_t pos = count_;
  while (pos > 0 && slot(pos - 1).dt > dt) --pos;
  for (uint32_t i = count_; i > pos; --i) slot(i) = slot(i - 1);
  slot(pos) = Sample{static_cast<float>(value), dt};
  ++count_;
  refresh();
  return true;
}

double MedianWindow::recent_median(uint32_t n) const {
  n = std::min(n, count_);
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();
  if (n == 1) return static_cast<double>(slot(count_ - 1).value);
  thread_local std::vector<float> a(kMaxPoints);
  copy_values(count_ - n, n, a.data());
  return median_of(a.data(), n);
}

void MedianWindow::refresh() {
  if (count_ == 0) {
    median_ = mad_ = std::numeric_limits<float>::quiet_NaN();
    return;
  }
  // Scratch, reused; on the heap (static TLS is taken from every thread's stack, civetweb's are 100 kB).
  thread_local std::vector<float> a(kMaxPoints);
  copy_values(0, count_, a.data());
  // Median and MAD as order statistics found from the previous ones (select_near): exactly what a full
  // selection gives, in about two passes over the window instead of two nth_element calls.
  const uint32_t mid = count_ / 2;
  const float upper = select_near(a.data(), count_, mid, median_);
  const double m = count_ % 2 == 1
                       ? static_cast<double>(upper)
                       : 0.5 * (static_cast<double>(select_near(a.data(), count_, mid - 1, upper)) +
                                static_cast<double>(upper));
  // Deviations from the median; a float holds them exactly enough (they are differences of floats).
  thread_local std::vector<double> dev(kMaxPoints);
  for (uint32_t i = 0; i < count_; ++i) dev[i] = std::abs(static_cast<double>(a[i]) - m);
  const double dev_upper = select_near(dev.data(), count_, mid, static_cast<double>(mad_));
  double mad = dev_upper;
  if (count_ % 2 == 0) mad = 0.5 * (select_near(dev.data(), count_, mid - 1, dev_upper) + dev_upper);
  median_ = static_cast<float>(m);
  mad_ = static_cast<float>(mad);
}

void MedianWindow::save(StateWriter& w) const {
  w.put<uint32_t>(ring_.size());
  w.put<uint32_t>(count_);
  if (count_ == 0) return;
  w.put<int64_t>(base_);
  for (uint32_t i = 0; i < count_; ++i) {
    w.put<int32_t>(slot(i).dt);
    w.put<float>(slot(i).value);
  }
}

bool MedianWindow::restore(StateReader& r) {
  uint32_t capacity = 0, count = 0;
  if (!r.get(capacity) || !r.get(count) || capacity != ring_.size() || count > capacity) return false;
  MedianWindow next(capacity);
  if (count > 0 && !r.get(next.base_)) return false;
  for (uint32_t i = 0; i < count; ++i) {
    Sample& s = next.ring_[i];
    if (!r.get(s.dt) || !r.get(s.value) || !std::isfinite(s.value)) return false;
    if (i > 0 && s.dt < next.ring_[i - 1].dt) return false;
  }
  next.count_ = count;
  next.refresh();
  *this = std::move(next);
  return true;
}

}  // namespace gridsentinel::features
