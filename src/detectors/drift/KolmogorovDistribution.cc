#include "detectors/drift/KolmogorovDistribution.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <tuple>
#include <utility>
#include <vector>

namespace gridsentinel::detectors {
namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kPi = std::numbers::pi;
// scipy rescales intermediate products by 2^+-128 and keeps the exponent aside.
constexpr int kScaleExp = 128;
const long double kScaleUp = std::ldexp(1.0L, kScaleExp);
const long double kScaleDown = std::ldexp(1.0L, -kScaleExp);

double clip01(double p) {
  return std::clamp(p, 0.0, 1.0);
}

// ---- Durbin matrix, Marsaglia-Tsang-Wang evaluation (_ksstats.py::_kolmogn_DMTW), returns the CDF. ----

using Matrix = std::vector<double>;  // row-major, m x m

Matrix matmul(const Matrix& a, const Matrix& b, int m) {
  Matrix c(static_cast<size_t>(m) * static_cast<size_t>(m), 0.0);
  for (int i = 0; i < m; ++i)
    for (int k = 0; k < m; ++k) {
      const double aik = a[static_cast<size_t>(i * m + k)];
      if (aik == 0.0) continue;
      for (int j = 0; j < m; ++j)
        c[static_cast<size_t>(i * m + j)] += aik * b[static_cast<size_t>(k * m + j)];
    }
  return c;
}

double kolmogn_dmtw_cdf(int n, double d) {
  if (d >= 1.0) return 1.0;
  const double nd = n * d;
  if (nd <= 0.5) return 0.0;
  const int k = static_cast<int>(std::ceil(nd));
  const double h = k - nd;
  const int m = 2 * k - 1;
  const auto at = [m](int r, int c) { return static_cast<size_t>(r * m + c); };

  std::vector<double> v(static_cast<size_t>(m)), w(static_cast<size_t>(m));
  for (int j = 1; j <= m; ++j) v[static_cast<size_t>(j - 1)] = 1.0 - std::pow(h, j);
  double fac = 1.0;
  for (int j = 1; j <= m; ++j) {
    w[static_cast<size_t>(j - 1)] = fac;
    fac /= j;  // may underflow; harmless, as in scipy
    v[static_cast<size_t>(j - 1)] *= fac;
  }
  const double tt = std::pow(std::max(2 * h - 1.0, 0.0), m) - 2 * std::pow(h, m);
  v[static_cast<size_t>(m - 1)] = (1.0 + tt) * fac;

  Matrix hm(static_cast<size_t>(m) * static_cast<size_t>(m), 0.0);
  for (int i = 1; i < m; ++i)
    for (int r = i - 1; r < m; ++r) hm[at(r, i)] = w[static_cast<size_t>(r - (i - 1))];
  for (int r = 0; r < m; ++r) hm[at(r, 0)] = v[static_cast<size_t>(r)];
  for (int c = 0; c < m; ++c) hm[at(m - 1, c)] = v[static_cast<size_t>(m - 1 - c)];

  Matrix pw(static_cast<size_t>(m) * static_cast<size_t>(m), 0.0);
  for (int i = 0; i < m; ++i) pw[at(i, i)] = 1.0;
  int64_t expnt = 0, h_expnt = 0;
  for (int nn = n; nn > 0; nn /= 2) {
    if (nn % 2) {
      pw = matmul(pw, hm, m);
      expnt += h_expnt;
    }
    hm = matmul(hm, hm, m);
    h_expnt *= 2;
    if (std::abs(hm[at(k - 1, k - 1)]) > kScaleUp) {
      for (double& x : hm) x = static_cast<double>(x / kScaleUp);
      h_expnt += kScaleExp;
    }
  }
  long double p = pw[at(k - 1, k - 1)];
  for (int i = 1; i <= n; ++i) {
    p = i * p / n;
    if (std::abs(p) < kScaleDown) {
      p *= kScaleUp;
      expnt -= kScaleExp;
    }
  }
  if (expnt != 0) p = std::ldexp(p, static_cast<int>(expnt));
  return clip01(static_cast<double>(p));
}

// ---- Pomeranz recursion (_ksstats.py::_kolmogn_Pomeranz), returns the CDF. ----

std::pair<int, int> pomeranz_j1j2(int i, int n, int ll, int ceilf, int roundf) {
  int j1 = 0, j2 = 0;
  if (i == 0) {
    j1 = -ll - ceilf - 1;
    j2 = ll + ceilf - 1;
  } else {
    const int ip1div2 = (i + 1) / 2, ip1mod2 = (i + 1) % 2;
    if (ip1mod2 == 0) {
      if (ip1div2 == n + 1) {
        j1 = n - ll - ceilf - 1;
        j2 = n + ll + ceilf - 1;
      } else {
        j1 = ip1div2 - 1 - ll - roundf - 1;
        j2 = ip1div2 + ll - 1 + ceilf - 1;
      }
    } else {
      j1 = ip1div2 - 1 - ll - 1;
      j2 = ip1div2 + ll + roundf - 1;
    }
  }
  return {std::max(j1 + 2, 0), std::min(j2, n)};
}

double kolmogn_pomeranz_cdf(int n, double x) {
  const double t = n * x;
  const int ll = static_cast<int>(std::floor(t));
  const double f = t - ll;
  const double g = std::min(f, 1.0 - f);
  const int ceilf = f > 0 ? 1 : 0;
  const int roundf = f > 0.5 ? 1 : 0;
  const size_t npwrs = 2 * (static_cast<size_t>(std::max(ll, 0)) + 1);  // ll >= 1 here: n x > 1
  // Entry 0 of each table is 1; the loop below overwrites the rest.
  std::vector<double> gpower(npwrs, 1.0), twogpower(npwrs, 1.0), onem2gpower(npwrs, 1.0);
  const double g_over_n = g / n, two_g_over_n = 2 * g / n, one_minus_two_g_over_n = (1 - 2 * g) / n;
  for (size_t m = 1; m < npwrs; ++m) {
    const double dm = static_cast<double>(m);
    gpower[m] = gpower[m - 1] * g_over_n / dm;
    twogpower[m] = twogpower[m - 1] * two_g_over_n / dm;
    onem2gpower[m] = onem2gpower[m - 1] * one_minus_two_g_over_n / dm;
  }

  std::vector<double> v0(npwrs, 0.0), v1(npwrs, 0.0), conv;
  v1.front() = 1;
  int v0s = 0, v1s = 0;
  int64_t expnt = 0;
  auto [j1, j2] = pomeranz_j1j2(0, n, ll, ceilf, roundf);
  for (int i = 1; i < 2 * n + 2; ++i) {
    const int k1 = j1;
    std::swap(v0, v1);
    std::swap(v0s, v1s);
    std::fill(v1.begin(), v1.end(), 0.0);
    std::tie(j1, j2) = pomeranz_j1j2(i, n, ll, ceilf, roundf);
    const std::vector<double>& pwrs = (i == 1 || i == 2 * n + 1) ? gpower : (i % 2 ? twogpower : onem2gpower);
    const int ln2 = j2 - k1 + 1;
    if (ln2 <= 0) continue;
    // np.convolve(V0[k1 - V0s : k1 - V0s + ln2], pwrs[:ln2]), with Python's clipping of slices to the array.
    const int start = std::max(k1 - v0s, 0);
    const size_t la = static_cast<size_t>(
        std::clamp(std::min(start + ln2, static_cast<int>(npwrs)) - start, 0, static_cast<int>(npwrs)));
    const size_t lb = std::min(static_cast<size_t>(ln2), npwrs);
    if (la == 0 || lb == 0) continue;
    conv.assign(la + lb - 1, 0.0);
    for (size_t a = 0; a < la; ++a) {
      const double va = v0[static_cast<size_t>(start) + a];
      for (size_t b = 0; b < lb; ++b) conv[a + b] += va * pwrs[b];
    }
    const int conv_start = j1 - k1;
    const int conv_len = j2 - j1 + 1;
    for (int idx = 0; idx < conv_len; ++idx) {
      const int src = conv_start + idx;
      if (static_cast<size_t>(idx) >= npwrs || src < 0 || static_cast<size_t>(src) >= conv.size()) break;
      v1[static_cast<size_t>(idx)] = conv[static_cast<size_t>(src)];
    }
    const double vmax = *std::max_element(v1.begin(), v1.end());
    if (0 < vmax && vmax < kScaleDown) {
      for (double& val : v1) val = static_cast<double>(val * kScaleUp);
      expnt -= kScaleExp;
    }
    v1s = v0s + j1 - k1;
  }
  const int idx = n - v1s;
  long double ans = (idx >= 0 && static_cast<size_t>(idx) < npwrs) ? v1[static_cast<size_t>(idx)] : 0.0;
  for (int m = 1; m <= n; ++m) {
    if (std::abs(ans) > kScaleUp) {
      ans *= kScaleDown;
      expnt += kScaleExp;
    }
    ans *= m;
  }
  if (expnt != 0) ans = std::ldexp(ans, static_cast<int>(expnt));
  return clip01(static_cast<double>(ans));
}

// ---- Pelz-Good asymptotic expansion (_ksstats.py::_kolmogn_PelzGood), returns the (unclipped) CDF. ----

double kolmogn_pelz_good_cdf(int n, double x) {
  if (x <= 0.0) return 0.0;
  if (x >= 1.0) return 1.0;
  const double pi2 = kPi * kPi, pi4 = std::pow(kPi, 4), pi6 = std::pow(kPi, 6);
  const double sqrt2pi = std::sqrt(2 * kPi);
  const double z = std::sqrt(static_cast<double>(n)) * x;
  const double z2 = z * z, z3 = z * z * z, z4 = std::pow(z, 4), z6 = std::pow(z, 6);
  const double qlog = -pi2 / 8 / z2;
  if (qlog < -708) return 0.0;
  double q = std::exp(qlog);

  const double k1a = -z2, k1b = pi2 / 4;
  const double k2a = 6 * z6 + 2 * z4, k2b = (2 * z4 - 5 * z2) * pi2 / 4, k2c = pi4 * (1 - 2 * z2) / 16;
  const double k3d = pi6 * (5 - 30 * z2) / 64, k3c = pi4 * (-60 * z2 + 212 * z4) / 16;
  const double k3b = pi2 * (135 * z4 - 96 * z6) / 4, k3a = -30 * z6 - 90 * std::pow(z, 8);

  std::array<double, 4> k0to3{};
  const int maxk = static_cast<int>(std::ceil(16 * z / kPi));
  for (int k = maxk; k > 0; --k) {
    const double m = 2 * k - 1, m2 = m * m, m4 = std::pow(m, 4), m6 = std::pow(m, 6);
    const double qpower = std::pow(q, 8 * k);
    const std::array<double, 4> coeffs{1.0, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4,
                                       k3a + k3b * m2 + k3c * m4 + k3d * m6};
    for (size_t i = 0; i < 4; ++i) k0to3[i] = k0to3[i] * qpower + coeffs[i];
  }
  const std::array<double, 4> denom{z, 6 * z4, 72 * std::pow(z, 7), 6480 * std::pow(z, 10)};
  for (size_t i = 0; i < 4; ++i) k0to3[i] = k0to3[i] * q * sqrt2pi / denom[i];

  q = std::exp(-pi2 / 2 / z2);
  const double sqrt3z = std::sqrt(3.0) * z;
  double k2extra = 0.0, k3extra = 0.0;
  for (int k = maxk; k > 0; --k) {
    const double ksq = static_cast<double>(k) * k;
    const double qp = std::pow(q, ksq);
    const double kspi = kPi * k;
    k2extra += ksq * qp;
    k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ksq * qp;
  }
  k0to3[2] += k2extra * (pi2 * sqrt2pi / (-36 * z3));
  k0to3[3] += k3extra * (pi2 * sqrt2pi / (216 * z6));
  double sum = 0.0;
  for (size_t i = 0; i < 4; ++i)
    sum += k0to3[i] / std::pow(static_cast<double>(n), static_cast<double>(i) / 2.0);
  return sum;
}

// log(n! / n^n) by Stirling's series, as _ksstats.py::_log_nfactorial_div_n_pow_n.
double log_nfactorial_div_n_pow_n(int n) {
  static constexpr std::array<double, 8> kStirling{-2.955065359477124183e-2,  6.4102564102564102564e-3,
                                                   -1.9175269175269175269e-3, 8.4175084175084175084e-4,
                                                   -5.952380952380952381e-4,  7.9365079365079365079e-4,
                                                   -2.7777777777777777778e-3, 8.3333333333333333333e-2};
  const double rn = 1.0 / n;
  double poly = 0.0;
  for (double c : kStirling) poly = poly * (rn / n) + c;
  return std::log(static_cast<double>(n)) / 2 - n + std::log(2 * kPi) / 2 + rn * poly;
}

// _ksstats.py::_kolmogn(n, x, cdf=False).
double kolmogn_sf(int n, double x) {
  if (n <= 0) return kNan;
  if (x >= 1.0) return 0.0;
  if (x <= 0.0) return 1.0;
  const double t = n * x;
  if (t <= 1.0) {  // Ruben-Gambino: 1/2n <= x <= 1/n
    if (t <= 0.5) return 1.0;
    double prob = 1.0;
    if (n <= 140) {
      for (int i = 1; i <= n; ++i) prob *= i * (1.0 / n) * (2 * t - 1);
    } else {
      prob = std::exp(log_nfactorial_div_n_pow_n(n) + n * std::log(2 * t - 1));
    }
    return clip01(1.0 - prob);
  }
  if (t >= n - 1) return clip01(2 * std::pow(1.0 - x, n));  // Ruben-Gambino
  if (x >= 0.5) return clip01(2 * smirnov_sf(n, x));

  const double nxsquared = t * x;
  if (n <= 140) {
    if (nxsquared <= 0.754693) return clip01(1.0 - kolmogn_dmtw_cdf(n, x));
    if (nxsquared <= 4) return clip01(1.0 - kolmogn_pomeranz_cdf(n, x));
    return clip01(2 * smirnov_sf(n, x));
  }
  if (nxsquared >= 370.0) return 0.0;
  if (nxsquared >= 2.2) return clip01(2 * smirnov_sf(n, x));
  double cdf = 1.0;
  if (nxsquared >= 18.0) {
    cdf = 1.0;
  } else if (n <= 100000 && n * std::pow(x, 1.5) <= 1.4) {
    cdf = kolmogn_dmtw_cdf(n, x);
  } else {
    cdf = kolmogn_pelz_good_cdf(n, x);
  }
  return clip01(1.0 - cdf);
}

// ---- One-sided Smirnov (cephes/kolmogorov.c::_smirnov), survival function only. ----

constexpr int kSmirnovMaxComputeN = 1000000;
constexpr int kSmUpperMaxTerms = 3;
constexpr int kSmUpperSumMinN = 10;
constexpr double kCephesMinLog = -7.451332191019412076235E2;  // log(2^-1075), cephes const.c (DENORMAL)

// floor(n x) and the remainder n x - floor(n x), from the exact product (scipy: double-double modNX).
double mod_nx(int n, double x, int* nx_floor) {
  const double hi = n * x;
  const double lo = std::fma(static_cast<double>(n), x, -hi);  // exact: n x = hi + lo
  double fl = std::floor(hi);
  if (fl == hi) fl += std::floor(lo);
  double alpha = static_cast<double>((static_cast<long double>(hi) - fl) + lo);
  int nxfl = static_cast<int>(fl);
  if (alpha == 1.0) {
    nxfl += 1;
    alpha = 0.0;
  }
  *nx_floor = nxfl;
  return alpha;
}

// A binomial coefficient far outside double range: mantissa in [0.5, 1) and a binary exponent.
struct ScaledBinomial {
  long double man = 1.0L;
  int64_t expnt = 0;
  void times(long double ratio) {
    int e = 0;
    man = std::frexp(man * ratio, &e);
    expnt += e;
  }
  long double log2() const { return std::log2(man) + static_cast<long double>(expnt); }
};

// Birnbaum-Tingey term C * (x + v/n)^(v-1) * (1 - x - v/n)^(n-v), evaluated in log2 space so that neither the
// binomial nor the powers leave the exponent range. Terms below double's range are 0, as in scipy.
long double smirnov_term(int n, double x, int v, const ScaledBinomial& c) {
  const long double t1x = static_cast<long double>(v) / n + x;
  const long double t2x = static_cast<long double>(n - v) / n - x;
  const int e1 = v - 1, e2 = n - v;
  long double log2_term = c.log2();
  long double sign = 1.0L;
  if (e1 != 0) {
    if (t1x == 0) return 0.0L;
    log2_term += e1 * std::log2(std::abs(t1x));
    if (t1x < 0 && (e1 % 2 != 0)) sign = -sign;
  }
  if (e2 != 0) {
    if (t2x == 0) return 0.0L;
    log2_term += e2 * std::log2(std::abs(t2x));
    if (t2x < 0 && (e2 % 2 != 0)) sign = -sign;
  }
  if (log2_term < -1075.0L) return 0.0L;
  return sign * std::exp2(log2_term);
}

}  // namespace

double smirnov_sf(int n, double x) {
  if (std::isnan(x)) return kNan;
  if (!(n > 0 && x >= 0.0 && x <= 1.0)) return kNan;
  if (n == 1) return 1 - x;
  if (x == 0.0) return 1.0;
  if (x == 1.0) return 0.0;

  int nxfl = 0;
  const double alpha = mod_nx(n, x, &nxfl);
  int n1mxfl = n - nxfl - (alpha == 0 ? 0 : 1);
  int n1mxceil = n - nxfl;
  if (alpha == 0) {  // x = k/n exactly: the boundary term is 0 in both sums
    n1mxfl -= 1;
    n1mxceil += 1;
  }
  if (nxfl == 0 || (nxfl == 1 && alpha == 0)) {  // x <= 1/n
    const double t = static_cast<double>(std::pow(1.0L + x, n - 1));
    return 1 - x * t;
  }
  if (-2.0 * n * x * x < kCephesMinLog) return 0.0;  // scipy: int -2 * n, exact either way
  if (nxfl >= n - 1) return static_cast<double>(std::pow(1.0L - x, n));  // x >= 1 - 1/n
  if (n > kSmirnovMaxComputeN) {
    const double logp = -std::pow(6.0 * n * x + 1, 2) / 18.0 / n;
    return logp < -std::numbers::ln2 ? std::exp(logp) : 1 + std::expm1(logp);
  }

  // The upper (alternating) sum only when it has very few terms: each one costs ~1.6 bits of accuracy.
  const int n_upper_terms = n - n1mxceil + 1;
  const bool use_upper =
      (n_upper_terms <= 1 && x < 0.5) ||
      (n >= kSmUpperSumMinN && n_upper_terms <= kSmUpperMaxTerms && x <= 0.5 / std::sqrt(n));
  int start = 0, step = 1, n_terms = n1mxfl + 1;
  long double aj = 0.0L;
  if (use_upper) {
    start = n;
    step = -1;
    n_terms = n - n1mxceil + 1;
    aj = std::pow(1.0L + x, n - 1);
  } else {
    aj = std::pow(1.0L - x, n) / x;
  }
  long double aj_sum = aj;
  ScaledBinomial c;
  c.times(static_cast<long double>(n));  // C(n, 1)
  const int vmid = n / 2;
  for (int j = 1; j < n_terms; ++j) {
    const int v = start + j * step;
    aj = smirnov_term(n, x, v, c);
    if (std::isfinite(aj) && aj != 0) aj_sum += aj;
    if (aj != 0) {
      // Safe to stop once the remaining terms cannot move the sum.
      if (4.0L * (n_terms - j) * std::abs(aj) < std::numeric_limits<double>::epsilon() * aj_sum &&
          j != n_terms - 1)
        break;
    } else if (j > vmid) {
      break;
    }
    c.times(static_cast<long double>(n - j) / (j + 1.0L));
  }
  const double prob = static_cast<double>(x * aj_sum);
  return clip01(step < 0 ? 1 - prob : prob);
}

double kstwo_sf(double n, double d) {
  // rv_continuous.sf: bad shape -> NaN; at or below the support's lower end 0.5/n -> 1; at or above 1 -> 0.
  if (!(n >= 1 && n == std::round(n)) || std::isnan(d)) return kNan;
  if (d <= 0.5 / n) return 1.0;
  if (!(d < 1.0)) return 0.0;
  if (n > static_cast<double>(std::numeric_limits<int>::max() / 2)) return kNan;
  return kolmogn_sf(static_cast<int>(n), d);
}

}  // namespace gridsentinel::detectors
