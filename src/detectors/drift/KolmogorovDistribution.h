#pragma once
// Survival functions of the one-sample Kolmogorov-Smirnov statistics, as scipy 1.10.1 computes them. They
// serve the 'asymp' branch of the two-sample test (KsTest.h), which scipy evaluates as `kstwo.sf(D, round(n m
// / (n + m)))`.
//
//   kstwo_sf(n, d)   = P(D_n >= d), D_n = sup |F_n - F|, n i.i.d. points (scipy.stats.kstwo.sf, i.e.
//                      rv_continuous.sf around scipy/stats/_ksstats.py::_kolmogn(n, d, cdf=False)).
//   smirnov_sf(n, d) = P(D_n^+ >= d), the one-sided statistic (scipy.special.smirnov, cephes/kolmogorov.c).
//
// kstwo_sf picks its algorithm exactly as Simard & L'Ecuyer (2011) and scipy do: Ruben-Gambino closed forms
// near the ends, 2 * smirnov for d >= 0.5 or large n d^2, the Durbin matrix (Marsaglia-Tsang-Wang 2003) or
// Pomeranz (1974) recursions for small n, the Pelz-Good (1976) expansion for large n. Thresholds, branch
// order, scaling and summation order follow scipy line by line. One deliberate difference: where cephes'
// smirnov uses double-double arithmetic, this port uses long double and sums its Birnbaum-Tingey terms in
// log2 space with a separate binary exponent; the result agrees to ~1e-13 relative (checked against scipy by
// tests/oracle/ks_oracle.py).
//
// Cost: O(n d) terms for smirnov (early exit once terms are negligible); O((n d)^3 log n) for the Durbin
// matrix, which scipy only uses while n d^1.5 <= 1.4 (so n d <= ~60 for n <= 1e5); O(n^2 d) for Pomeranz (n
// <= 140); O(sqrt(n) d) for Pelz-Good. The matrix and Pomeranz branches allocate O((n d)^2) and O(n d)
// scratch. Never throws. NaN in gives NaN out; kstwo_sf returns NaN for n < 1 or non-integral n (scipy's
// badvalue).
namespace gridsentinel::detectors {

double kstwo_sf(double n, double d);
double smirnov_sf(int n, double d);

}  // namespace gridsentinel::detectors
