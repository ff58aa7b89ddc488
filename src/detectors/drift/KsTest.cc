#include "detectors/drift/KsTest.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "detectors/drift/KolmogorovDistribution.h"

namespace gridsentinel::detectors {
namespace {

constexpr size_t kMaxAutoN = 10000;  // scipy's MAX_AUTO_N

// The statistic as scipy computes it from cdf1 - cdf2 at every observed value (ties stepped over together).
double ks_statistic(std::span<const double> a, std::span<const double> b) {
  const double n1 = static_cast<double>(a.size()), n2 = static_cast<double>(b.size());
  double max_diff = -std::numeric_limits<double>::infinity();
  double min_diff = std::numeric_limits<double>::infinity();
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    const double v = (j >= b.size() || (i < a.size() && !ks_less(b[j], a[i]))) ? a[i] : b[j];
    while (i < a.size() && !ks_less(v, a[i])) ++i;
    while (j < b.size() && !ks_less(v, b[j])) ++j;
    const double diff = static_cast<double>(i) / n1 - static_cast<double>(j) / n2;
    max_diff = std::max(max_diff, diff);
    min_diff = std::min(min_diff, diff);
  }
  const double min_s = std::clamp(-min_diff, 0.0, 1.0);
  return min_s > max_diff ? min_s : max_diff;
}

// P(D_{n,n} >= h/n) = 2 (A0 - A0 A1 + ...), Horner form (_compute_prob_outside_square).
double prob_outside_square(int64_t n, int64_t h) {
  double p = 0.0;
  for (int64_t k = n / h; k >= 0; --k) {
    double p1 = 1.0;
    for (int64_t j = 0; j < h; ++j)
      p1 = static_cast<double>(n - k * h - j) * p1 / static_cast<double>(n + k * h + j + 1);
    p = p1 * (1.0 - p);
  }
  return 2 * p;
}

// 1 - (share of lattice paths from (0,0) to (m,n) staying strictly inside |n x - m y| / g < h), computed
// directly as scipy's pythran _compute_outer_prob_inside_method (Hodges 1958; Viehmann 2021 for the 1 - p
// recursion).
double outer_prob_inside(int64_t m, int64_t n, int64_t g, int64_t h) {
  if (m < n) std::swap(m, n);
  const int64_t mg = m / g, ng = n / g;
  const auto fdiv = [mg](int64_t num) { return static_cast<double>(num) / static_cast<double>(mg); };
  int64_t minj = 0;
  int64_t maxj = std::min(static_cast<int64_t>(std::ceil(fdiv(h))), n + 1);
  int64_t curlen = maxj - minj;
  const int64_t len_a = std::min(2 * maxj + 2, n + 1);
  std::vector<double> a(static_cast<size_t>(len_a), 1.0);
  std::fill(a.begin(), a.begin() + maxj, 0.0);
  const auto at = [&a](int64_t idx) -> double& { return a[static_cast<size_t>(idx)]; };
  for (int64_t i = 1; i <= m; ++i) {
    const int64_t lastminj = minj, lastlen = curlen;
    minj = std::max(static_cast<int64_t>(std::floor(fdiv(ng * i - h))) + 1, int64_t{0});
    minj = std::min(minj, n);
    maxj = std::min(static_cast<int64_t>(std::ceil(fdiv(ng * i + h))), n + 1);
    if (maxj <= minj) return 1.0;
    double val = minj == 0 ? 0.0 : 1.0;
    for (int64_t jj = 0; jj < maxj - minj; ++jj) {
      const int64_t j = jj + minj;
      const int64_t src = jj + minj - lastminj;
      const double prev = src < len_a ? at(src) : 1.0;
      val = (prev * static_cast<double>(i) + val * static_cast<double>(j)) / static_cast<double>(i + j);
      at(jj) = val;
    }
    curlen = maxj - minj;
    if (lastlen >
        curlen) {  // carried-over cells are outside the band: reset them to 1 (numpy clips the slice)
      const int64_t hi = std::min(maxj - minj + (lastlen - curlen), len_a);
      for (int64_t idx = maxj - minj; idx < hi; ++idx) at(idx) = 1.0;
    }
  }
  return at(maxj - minj - 1);
}

struct ExactOutcome {
  bool success = false;
  double d = 0.0;
  double prob = 0.0;
};

// _attempt_exact_2kssamp for alternative='two-sided'.
ExactOutcome attempt_exact(int64_t n1, int64_t n2, int64_t g, double d) {
  const int64_t lcm = (n1 / g) * n2;
  const int64_t h = static_cast<int64_t>(std::nearbyint(d * static_cast<double>(lcm)));  // half to even
  ExactOutcome out;
  out.d = static_cast<double>(h) * 1.0 / static_cast<double>(lcm);
  if (h == 0) {
    out.success = true;
    out.prob = 1.0;
    return out;
  }
  out.prob = n1 == n2 ? prob_outside_square(n1, h) : outer_prob_inside(n1, n2, g, h);
  out.success = 0 <= out.prob && out.prob <= 1;  // false for NaN too
  return out;
}

double asymp_pvalue(size_t n1, size_t n2, double d) {
  const double m = static_cast<double>(std::max(n1, n2)), n = static_cast<double>(std::min(n1, n2));
  const double en = m * n / (m + n);
  return kstwo_sf(std::nearbyint(en), d);
}

}  // namespace

const char* to_string(KsMethod m) {
  switch (m) {
    case KsMethod::kAuto:
      return "auto";
    case KsMethod::kExact:
      return "exact";
    case KsMethod::kAsymp:
      return "asymp";
  }
  return "?";
}

KsResult ks_2samp_sorted(std::span<const double> a, std::span<const double> b, KsMethod method) {
  KsResult r;
  if (a.empty() || b.empty()) return r;
  r.valid = true;
  double d = ks_statistic(a, b);
  const auto n1 = static_cast<int64_t>(a.size()), n2 = static_cast<int64_t>(b.size());
  const int64_t g = std::gcd(n1, n2);
  const int64_t n1g = n1 / g, n2g = n2 / g;

  KsMethod mode = method;
  if (mode == KsMethod::kAuto) {
    mode = std::max(a.size(), b.size()) <= kMaxAutoN ? KsMethod::kExact : KsMethod::kAsymp;
  } else if (mode == KsMethod::kExact &&
             static_cast<double>(n1g) >=
                 static_cast<double>(std::numeric_limits<int32_t>::max()) / static_cast<double>(n2g)) {
    mode = KsMethod::kAsymp;  // lcm(n1, n2) too big for the lattice
  }
  double prob = -std::numeric_limits<double>::infinity();
  if (mode == KsMethod::kExact) {
    const ExactOutcome ex = attempt_exact(n1, n2, g, d);
    d = ex.d;
    prob = ex.prob;
    if (!ex.success) mode = KsMethod::kAsymp;
  }
  if (mode == KsMethod::kAsymp) prob = asymp_pvalue(a.size(), b.size(), d);
  r.statistic = d;
  r.pvalue = std::isnan(prob) ? prob : std::clamp(prob, 0.0, 1.0);
  r.method = mode;
  return r;
}

KsResult ks_2samp(std::span<const double> a, std::span<const double> b, KsMethod method) {
  if (a.empty() || b.empty()) return {};
  std::vector<double> all(a.begin(), a.end());
  all.insert(all.end(), b.begin(), b.end());
  const auto mid = all.begin() + static_cast<std::ptrdiff_t>(a.size());
  std::sort(all.begin(), mid, ks_less);
  std::sort(mid, all.end(), ks_less);
  return ks_2samp_sorted(std::span<const double>(all).first(a.size()),
                         std::span<const double>(all).subspan(a.size()), method);
}

}  // namespace gridsentinel::detectors
