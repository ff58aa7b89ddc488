#!/usr/bin/python3
"""Oracle test: gridsentinel's two-sample K-S test against scipy.stats.ks_2samp (scipy 1.10.1).

Generates >= 1,000 seeded sample pairs (sizes 1 .. a few thousand, a few above 10,000 so that 'auto' picks
'asymp'; continuous, shifted, rescaled, rounded/integer data with ties, identical and disjoint samples, a few
+-inf and NaN values), asks scipy for ks_2samp(a, b, 'two-sided', method) with method 'auto' for all of them and
forced 'exact' / 'asymp' on subsets, runs the C++ CLI on the same data, and fails unless every pair agrees:
|D - D_scipy| <= 1e-12, |p - p_scipy| <= 1e-6 (NaN only where scipy gives NaN) and the method actually used is the
same (scipy's exact -> asymp fallback is detected from its RuntimeWarning). It also checks the one-sample
distributions behind 'asymp' (kstwo.sf, special.smirnov) on a grid of (n, d), with the same p tolerance.

Usage: /usr/bin/python3 tests/oracle/ks_oracle.py --cli build/tests/ks_oracle_cli [--seed S] [--pairs N]
Exit status: 0 pass, 1 mismatch, 2 setup error (scipy missing or the wrong version, CLI failure).
"""
import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
import warnings

try:
    import numpy as np
    import scipy
    import scipy.special
    import scipy.stats
except ImportError as exc:  # never skip silently: a missing reference is a failure
    print(f"ks_oracle: FAIL: cannot import numpy/scipy ({exc}). Run with /usr/bin/python3 "
          "(Debian python3-scipy 1.10.1).", file=sys.stderr)
    sys.exit(2)

D_TOL = 1e-12
P_TOL = 1e-6
EXPECTED_SCIPY = "1.10"


def scipy_ks(a, b, method):
    """scipy's result and the method that actually produced the p-value."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = scipy.stats.ks_2samp(a, b, alternative="two-sided", method=method)
    used = method
    if method == "auto":
        used = "exact" if max(len(a), len(b)) <= 10000 else "asymp"
    if any("Switching to" in str(w.message) or "not possible" in str(w.message) for w in caught):
        used = "asymp"
    return float(res.statistic), float(res.pvalue), used


def draw_size(rng, size_class):
    lo, hi = {"tiny": (1, 10), "small": (11, 100), "medium": (101, 1000), "large": (1001, 4000)}[size_class]
    return int(rng.integers(lo, hi + 1))


def draw_sample(rng, n, kind, shift, scale):
    if kind == "normal":
        return rng.normal(shift, scale, n)
    if kind == "rounded":  # ties: a normal rounded to 1 decimal
        return np.round(rng.normal(shift, scale, n), 1)
    if kind == "integer":  # heavy ties
        return rng.poisson(3.0 + 2.0 * abs(shift), n).astype(float)
    if kind == "few_levels":
        return rng.choice([0.0, 1.0, 2.0], n, p=[0.5, 0.3, 0.2] if shift == 0 else [0.3, 0.3, 0.4])
    if kind == "exponential":
        return rng.exponential(scale, n) + shift
    raise ValueError(kind)


def make_pairs(rng, n_pairs):
    """(a, b, tag) tuples."""
    pairs = []
    kinds = ["normal", "normal", "rounded", "integer", "few_levels", "exponential"]
    classes = ["tiny", "small", "small", "medium", "medium", "large"]
    for i in range(n_pairs):
        kind = kinds[i % len(kinds)]
        c1 = classes[int(rng.integers(len(classes)))]
        c2 = c1 if rng.random() < 0.6 else classes[int(rng.integers(len(classes)))]
        n1 = draw_size(rng, c1)
        r = rng.random()
        if r < 0.3:
            n2 = n1  # equal sizes: scipy's closed-form branch
        elif r < 0.45:
            n2 = n1 * int(rng.integers(2, 5))  # large gcd
        else:
            n2 = draw_size(rng, c2)
        shift = 0.0 if rng.random() < 0.5 else float(rng.choice([0.1, 0.3, 0.7, 1.5]))
        scale = 1.0 if rng.random() < 0.7 else float(rng.choice([0.5, 2.0]))
        a = draw_sample(rng, n1, kind, 0.0, 1.0)
        b = draw_sample(rng, n2, kind, shift, scale)
        pairs.append((a, b, f"{kind}/{n1}x{n2}/shift={shift}/scale={scale}"))
    # Hand-picked shapes.
    base = rng.normal(0, 1, 300)
    pairs.append((base, base.copy(), "identical/300"))
    pairs.append((base[:57], base[:57].copy(), "identical/57"))
    pairs.append((base, base + 1000.0, "disjoint/300"))
    pairs.append((base[:40], base[:25] - 1000.0, "disjoint/40x25"))
    pairs.append((np.zeros(50), np.zeros(70), "constant/50x70"))
    pairs.append((np.array([1.0]), np.array([2.0]), "single/1x1"))
    pairs.append((np.array([1.0]), np.array([1.0]), "single-equal/1x1"))
    pairs.append((np.array([0.0, 1.0, 2.0]), np.array([0.5, 1.5]), "hand/3x2"))
    pairs.append((np.array([1.0, 2.0, 3.0, 4.0]), np.array([3.0, 4.0, 5.0, 6.0]), "hand/4x4"))
    pairs.append((np.array([-np.inf, 0.0, 1.0, np.inf]), np.array([0.5, np.inf, np.inf]), "inf/4x3"))
    pairs.append((np.array([np.nan, 0.0, 1.0, 2.0]), np.array([0.5, 1.5, np.nan, np.nan, 3.0]), "nan/4x5"))
    pairs.append((np.array([-0.0, 0.0, 1.0]), np.array([0.0, -0.0]), "signed-zero/3x2"))
    # Above 10,000 points: 'auto' switches to 'asymp'; effective sizes from tiny to large.
    for n1, n2 in [(10001, 10001), (10001, 3), (12000, 1), (15000, 40), (10500, 700), (20000, 5000),
                   (11000, 11000), (25000, 18000), (10001, 9999), (30000, 2), (14000, 140), (16000, 12000)]:
        shift = float(rng.choice([0.0, 0.0, 0.02, 0.05]))
        kind = "normal" if rng.random() < 0.7 else "rounded"
        pairs.append((draw_sample(rng, n1, kind, 0.0, 1.0), draw_sample(rng, n2, kind, shift, 1.0),
                      f"big-{kind}/{n1}x{n2}/shift={shift}"))
    return pairs


def fmt(x):
    return repr(float(x))


def one_sample_grid(rng):
    """(kind, n, d) points covering every branch of kstwo.sf and special.smirnov."""
    points = []
    ns = list(range(1, 31)) + [35, 50, 64, 99, 100, 139, 140, 141, 150, 200, 333, 500, 1000, 1012, 1013, 2400,
                               5000, 12345, 50000, 100000, 100001, 1000001, 2500000]
    for n in ns:
        ds = {0.5 / n, 1.0 / n, 0.75 / n, 1.5 / n, 0.499, 0.5, 0.51, 0.9, 1 - 1.0 / n, 0.999, 1.0, 0.0}
        for c in (0.3, 0.6, 0.8, 0.87, 1.0, 1.2, 1.48, 1.6, 2.0, 2.5, 3.0, 5.0, 10.0):
            ds.add(c / math.sqrt(n))
        for _ in range(6):
            ds.add(float(rng.uniform(0, 1)))
        # scipy itself takes up to ~0.5 s per call at n >= 100,000: sample those sizes sparsely.
        stride = 1 if n <= 20000 else 4
        for j, d in enumerate(sorted(ds)):
            if 0.0 <= d <= 1.0 and j % stride == 0:
                points.append(("kstwo", n, d))
                points.append(("smirnov", n, d))
    return points


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", required=True, help="path to ks_oracle_cli")
    ap.add_argument("--seed", type=int, default=20240611)
    ap.add_argument("--pairs", type=int, default=1100, help="random pairs (hand-picked and >10k pairs added)")
    args = ap.parse_args()

    if not scipy.__version__.startswith(EXPECTED_SCIPY):
        print(f"ks_oracle: FAIL: the reference is scipy {EXPECTED_SCIPY}.x (Debian 12), found {scipy.__version__}",
              file=sys.stderr)
        return 2
    if not os.access(args.cli, os.X_OK):
        print(f"ks_oracle: FAIL: CLI not executable: {args.cli}", file=sys.stderr)
        return 2

    t0 = time.monotonic()
    rng = np.random.default_rng(args.seed)
    pairs = make_pairs(rng, args.pairs)
    cases = []  # (method, index into pairs)
    for i in range(len(pairs)):
        cases.append(("auto", i))
    small = [i for i, (a, b, _) in enumerate(pairs) if max(len(a), len(b)) <= 4000]
    for i in rng.choice(small, size=min(250, len(small)), replace=False):
        cases.append(("exact", int(i)))
    for i in rng.choice(len(pairs), size=min(300, len(pairs)), replace=False):
        cases.append(("asymp", int(i)))
    # Forced 'exact' where lcm(n1, n2) overflows int32: scipy switches to 'asymp'.
    big_a, big_b = rng.normal(0, 1, 50000), rng.normal(0, 1, 49999)
    pairs.append((big_a, big_b, "lcm-overflow/50000x49999"))
    cases.append(("exact", len(pairs) - 1))
    # Forced 'asymp' with n1 == n2 == 1: round(0.5) == 0, scipy gives NaN.
    cases.append(("asymp", next(i for i, p in enumerate(pairs) if p[2] == "single/1x1")))
    grid = one_sample_grid(rng)

    expected = []
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        path = f.name
        for method, i in cases:
            a, b, tag = pairs[i]
            expected.append(scipy_ks(a, b, method))
            f.write(f"ks2 {method} {len(a)} {len(b)} ")
            f.write(" ".join(fmt(v) for v in a))
            f.write(" ")
            f.write(" ".join(fmt(v) for v in b))
            f.write("\n")
        for kind, n, d in grid:
            f.write(f"{kind} {n} {fmt(d)}\n")
    t_scipy = time.monotonic() - t0

    try:
        proc = subprocess.run([args.cli, path], capture_output=True, text=True, timeout=240)
    finally:
        os.unlink(path)
    if proc.returncode != 0:
        print(f"ks_oracle: FAIL: CLI exited {proc.returncode}: {proc.stderr.strip()}", file=sys.stderr)
        return 2
    lines = proc.stdout.splitlines()
    if len(lines) != len(cases) + len(grid):
        print(f"ks_oracle: FAIL: CLI printed {len(lines)} lines, expected {len(cases) + len(grid)}",
              file=sys.stderr)
        return 2

    failures = []
    worst = {}  # method -> dict(dd=(value, tag), dp=(value, tag))
    counts = {}
    for (method, i), (d_ref, p_ref, used_ref), line in zip(cases, expected, lines):
        tag = pairs[i][2]
        fields = line.split()
        d, p, used, valid = float(fields[0]), float(fields[1]), fields[2], fields[3]
        counts[method] = counts.get(method, 0) + 1
        dd = abs(d - d_ref)
        both_nan = math.isnan(p) and math.isnan(p_ref)
        dp = 0.0 if both_nan else abs(p - p_ref)
        if math.isnan(dp):
            dp = math.inf
        w = worst.setdefault(method, {"dd": (0.0, ""), "dp": (0.0, ""), "nan": 0})
        w["nan"] += int(both_nan)
        if dd > w["dd"][0] or not w["dd"][1]:
            w["dd"] = (dd, f"{tag} D={d!r} scipy={d_ref!r}")
        if dp > w["dp"][0] or not w["dp"][1]:
            w["dp"] = (dp, f"{tag} p={p!r} scipy={p_ref!r}")
        problems = []
        if not dd <= D_TOL:
            problems.append(f"|dD|={dd:.3g}")
        if not dp <= P_TOL:
            problems.append(f"|dp|={dp:.3g}")
        if used != used_ref:
            problems.append(f"method {used} vs scipy {used_ref}")
        if valid != "1":
            problems.append("reported invalid")
        if problems:
            failures.append(f"ks2 method={method} {tag}: {', '.join(problems)} "
                            f"(D={d!r} vs {d_ref!r}, p={p!r} vs {p_ref!r})")

    grid_worst = {"kstwo": (0.0, ""), "smirnov": (0.0, "")}
    for (kind, n, d), line in zip(grid, lines[len(cases):]):
        got = float(line)
        ref = float(scipy.stats.kstwo.sf(d, n)) if kind == "kstwo" else float(scipy.special.smirnov(n, d))
        diff = 0.0 if (math.isnan(got) and math.isnan(ref)) else abs(got - ref)
        if math.isnan(diff):
            diff = math.inf
        if diff > grid_worst[kind][0] or not grid_worst[kind][1]:
            grid_worst[kind] = (diff, f"n={n} d={d!r} got={got!r} scipy={ref!r}")
        if not diff <= P_TOL:
            failures.append(f"{kind}(n={n}, d={d!r}): {got!r} vs scipy {ref!r} (|diff|={diff:.3g})")

    elapsed = time.monotonic() - t0
    print(f"ks_oracle: scipy {scipy.__version__}, numpy {np.__version__}; {len(pairs)} sample pairs, "
          f"{len(cases)} ks_2samp comparisons ({', '.join(f'{m}: {c}' for m, c in counts.items())}), "
          f"{len(grid)} one-sample distribution points; {elapsed:.1f}s (scipy side {t_scipy:.1f}s)")
    for method in ("auto", "exact", "asymp"):
        if method in worst:
            w = worst[method]
            print(f"  {method:5s}: worst |dD| = {w['dd'][0]:.3g} [{w['dd'][1]}]")
            print(f"  {method:5s}: worst |dp| = {w['dp'][0]:.3g} [{w['dp'][1]}]  (NaN on both sides: {w['nan']})")
    for kind, (v, where) in grid_worst.items():
        print(f"  {kind}: worst |dsf| = {v:.3g} [{where}]")
    if failures:
        print(f"ks_oracle: FAIL: {len(failures)} mismatches (tolerances |dD| <= {D_TOL}, |dp| <= {P_TOL}); "
              f"first ones:", file=sys.stderr)
        for msg in failures[:20]:
            print("  " + msg, file=sys.stderr)
        return 1
    print("ks_oracle: PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
