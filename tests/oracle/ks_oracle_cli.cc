// Feeds gridsentinel's K-S functions from text so that tests/oracle/ks_oracle.py can compare them with scipy.
//
// Usage: ks_oracle_cli [FILE]   (reads stdin without FILE or with "-")
// Records, whitespace-separated, any number per input:
//   ks2 METHOD N1 N2 a_1 .. a_N1 b_1 .. b_N2   -> "D p METHOD_USED VALID"   (METHOD: auto | exact | asymp)
//   kstwo N D                                  -> "sf"                      (scipy.stats.kstwo.sf(D, N))
//   smirnov N D                                -> "sf"                      (scipy.special.smirnov(N, D))
// One output line per record, numbers as %.17g (round-trip exact). Exit status 2 on malformed input.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "detectors/drift/KolmogorovDistribution.h"
#include "detectors/drift/KsTest.h"

namespace {

using gridsentinel::detectors::KsMethod;

bool read_double(std::istream& in, double& out) {
  std::string tok;
  if (!(in >> tok)) return false;
  char* end = nullptr;
  errno = 0;
  out = std::strtod(tok.c_str(), &end);
  return end != tok.c_str() && *end == '\0';
}

bool read_count(std::istream& in, long long& out) {
  std::string tok;
  if (!(in >> tok)) return false;
  char* end = nullptr;
  out = std::strtoll(tok.c_str(), &end, 10);
  return end != tok.c_str() && *end == '\0' && out >= 0;
}

bool parse_method(const std::string& s, KsMethod& m) {
  if (s == "auto")
    m = KsMethod::kAuto;
  else if (s == "exact")
    m = KsMethod::kExact;
  else if (s == "asymp")
    m = KsMethod::kAsymp;
  else
    return false;
  return true;
}

int fail(const std::string& what, long long record) {
  std::cerr << "ks_oracle_cli: malformed input at record " << record << ": " << what << "\n";
  return 2;
}

int run(std::istream& in) {
  std::string kind;
  long long record = 0;
  std::vector<double> a, b;
  while (in >> kind) {
    ++record;
    if (kind == "ks2") {
      std::string method_name;
      KsMethod method = KsMethod::kAuto;
      long long n1 = 0, n2 = 0;
      if (!(in >> method_name) || !parse_method(method_name, method)) return fail("method", record);
      if (!read_count(in, n1) || !read_count(in, n2)) return fail("sizes", record);
      a.resize(static_cast<size_t>(n1));
      b.resize(static_cast<size_t>(n2));
      for (double& v : a)
        if (!read_double(in, v)) return fail("sample a", record);
      for (double& v : b)
        if (!read_double(in, v)) return fail("sample b", record);
      const auto r = gridsentinel::detectors::ks_2samp(a, b, method);
      std::printf("%.17g %.17g %s %d\n", r.statistic, r.pvalue, gridsentinel::detectors::to_string(r.method),
                  r.valid ? 1 : 0);
    } else if (kind == "kstwo" || kind == "smirnov") {
      double n = 0, d = 0;
      if (!read_double(in, n) || !read_double(in, d)) return fail("n d", record);
      const double sf = kind == "kstwo" ? gridsentinel::detectors::kstwo_sf(n, d)
                                        : gridsentinel::detectors::smirnov_sf(static_cast<int>(n), d);
      std::printf("%.17g\n", sf);
    } else {
      return fail("unknown record kind '" + kind + "'", record);
    }
  }
  return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 2) {
    std::cerr << "usage: ks_oracle_cli [FILE]\n";
    return 2;
  }
  if (argc == 2 && std::string(argv[1]) != "-") {
    std::ifstream f(argv[1]);
    if (!f) {
      std::cerr << "ks_oracle_cli: cannot open " << argv[1] << "\n";
      return 2;
    }
    return run(f);
  }
  std::ios::sync_with_stdio(false);
  return run(std::cin);
}
