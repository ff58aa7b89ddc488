#pragma once
// Two-sample Kolmogorov-Smirnov test, two-sided, behaving as scipy.stats.ks_2samp(a, b,
// alternative='two-sided', method=...) in scipy 1.10.1 (scipy/stats/_stats_py.py), checked live against it by
// tests/oracle/ks_oracle.py.
//
// Statistic: D = max(max(cdf_a - cdf_b), clip(-min(cdf_a - cdf_b), 0, 1)) over every observed value, with the
// empirical CDFs counted as scipy's searchsorted(side='right') does, so tied values are stepped over
// together. D is computed by one merge walk over the two sorted samples: O((n + m) log(n + m)) with the sort.
//
// p-value, by method:
//   kAuto  -> kExact when max(n, m) <= 10000, else kAsymp (scipy's MAX_AUTO_N).
//   kExact -> Hodges (1958) lattice-path counting on h = round(D lcm(n, m)); D is then reported as h / lcm,
//   as
//             scipy does. n == m: the closed alternating series of _compute_prob_outside_square, O(n). n !=
//             m: Viehmann's (2021) "inside" recursion for 1 - p (_compute_outer_prob_inside_method), O(max(n,
//             m) * min(min(n, m), h / (max(n, m) / gcd))) time, O(min(n, m)) memory; at most ~1e8 steps at
//             10000 x 9999. A forced kExact whose lcm would overflow int32 (n/g >= INT32_MAX / (m/g)), or
//             whose result is not a probability, falls back to kAsymp, as scipy does (scipy also warns;
//             `method` here says which ran).
//   kAsymp -> kstwo.sf(D, round(n m / (n + m))): the exact one-sample Kolmogorov distribution at the
//   "effective"
//             size (KolmogorovDistribution.h), rounding half to even like numpy. Note that scipy 1.10.1 does
//             NOT use the limiting kolmogorov(sqrt(en) D) here.
// The p-value is clipped to [0, 1].
//
// Inputs: any doubles, unsorted; +-inf are ordinary values. NaN is ordered after +inf and equal to other
// NaNs, exactly as numpy's sort/searchsorted treat it (so a NaN-laden call still matches scipy; callers that
// can, should drop NaN first). An empty sample (scipy raises ValueError) gives {D = 0, p = 1, method = kAuto,
// valid = false}. The only NaN p-value: kAsymp forced with n == m == 1 (round(0.5) = 0 is outside kstwo's
// domain), as in scipy.
//
// Never throws. ks_2samp copies and sorts its inputs (one allocation of n + m doubles); ks_2samp_sorted takes
// ascending samples (NaN last) and only allocates for kExact with n != m (O(min(n, m))) or for the
// small-sample asymptotic branches (KolmogorovDistribution.h).
#include <cmath>
#include <cstdint>
#include <span>

namespace gridsentinel::detectors {

enum class KsMethod : uint8_t { kAuto = 0, kExact = 1, kAsymp = 2 };

const char* to_string(KsMethod m);

struct KsResult {
  double statistic = 0.0;             // D, in [0, 1]
  double pvalue = 1.0;                // two-sided p-value, in [0, 1]
  KsMethod method = KsMethod::kAuto;  // the method that produced `pvalue` (kExact or kAsymp; kAuto if !valid)
  bool valid = false;                 // false when a sample is empty
};

KsResult ks_2samp(std::span<const double> a, std::span<const double> b, KsMethod method = KsMethod::kAuto);
KsResult ks_2samp_sorted(std::span<const double> sorted_a, std::span<const double> sorted_b,
                         KsMethod method = KsMethod::kAuto);

// numpy's ordering of doubles: the usual order, with every NaN after +inf. Sort with this before
// ks_2samp_sorted.
inline bool ks_less(double x, double y) {
  return x < y || (!std::isnan(x) && std::isnan(y));
}

}  // namespace gridsentinel::detectors
