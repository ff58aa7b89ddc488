#!/usr/bin/python3
"""Oracle test: gridsentinel's isolation forests against scikit-learn's IsolationForest (1.2.x).

For each ODDS set (shuttle, smtp, mammography, satellite) it runs
  - scikit-learn: IsolationForest(n_estimators=100, max_samples=256, random_state=seed) fit on the whole set and
    scored on it (score_samples, sign flipped), for seeds 0..4;
  - tests/oracle/iforest_oracle_cli: our batch forest (same parameters, seeds 0..4) and our streaming forest (each
    row scored, then learned, in file order; window 2048, 100 trees of 256), seeds 0..4;
and compares mean ROC-AUCs. It fails unless, for every set,
  |mean batch AUC (ours) - mean AUC (scikit-learn)| <= 0.01   and
  |mean streaming AUC (ours) - mean batch AUC (ours)| <= 0.03.
The two libraries draw different random numbers, so their forests differ tree by tree and only agree in
distribution: the check compares means over seeds, and needs enough seeds for the tolerance to exceed the noise.
On satellite the AUC of one forest varies by sd ~0.016 from seed to seed in both libraries, so the difference of
two 5-seed means has sd ~0.010, as large as the tolerance: a faithful replica would fail about a third of the
time, depending only on which seeds were picked. There (and only there, as its 6k rows are cheap) the check uses
50 seeds (sd of the difference ~0.003). The table shows the 5-seed figures for every set as well.

Usage: /usr/bin/python3 tests/oracle/iforest_oracle.py --cli build/tests/iforest_oracle_cli
                                                       --data ../shared/data/odds
Exit status: 0 pass, 1 mismatch, 2 setup error (scikit-learn missing, CLI failure, data missing).
"""
import argparse
import json
import os
import subprocess
import sys
import time

try:
    import numpy as np
    import sklearn
    from sklearn.ensemble import IsolationForest
    from sklearn.metrics import roc_auc_score
except ImportError as exc:  # never skip silently: a missing reference is a failure
    print(f"iforest_oracle: FAIL: cannot import numpy/scikit-learn ({exc}). Run with /usr/bin/python3 "
          "(Debian python3-sklearn 1.2.1).", file=sys.stderr)
    sys.exit(2)

DATA_SETS = ["shuttle", "smtp", "mammography", "satellite"]
SEEDS = 5                      # seeds 0..4, for every set
CHECK_SEEDS = {"satellite": 50}  # sets whose seed-to-seed spread needs more seeds to resolve BATCH_TOL
BATCH_TOL = 0.01
STREAM_TOL = 0.03


def load(path):
    data = np.loadtxt(path, delimiter=",", skiprows=1)
    return data[:, :-1], data[:, -1].astype(int)


def sklearn_aucs(X, y, seeds):
    aucs = []
    for seed in range(seeds):
        forest = IsolationForest(n_estimators=100, max_samples=256, random_state=seed).fit(X)
        aucs.append(roc_auc_score(y, -forest.score_samples(X)))
    return aucs


def ours(cli, path, seeds):
    out = subprocess.run([cli, path, "--seeds", str(seeds), "--trees", "100", "--samples", "256",
                          "--window", "2048"], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        print(f"iforest_oracle: FAIL: {cli} {path} exited {out.returncode}: {out.stderr.strip()}", file=sys.stderr)
        sys.exit(2)
    return json.loads(out.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cli", required=True, help="path to iforest_oracle_cli")
    parser.add_argument("--data", required=True, help="directory holding the ODDS csv files")
    args = parser.parse_args()
    if not sklearn.__version__.startswith("1.2"):
        print(f"iforest_oracle: note: scikit-learn {sklearn.__version__}, the tolerances were set on 1.2.1")

    table = []
    failures = []
    for name in DATA_SETS:
        path = os.path.join(args.data, f"{name}.csv")
        if not os.path.exists(path):
            print(f"iforest_oracle: FAIL: missing {path}", file=sys.stderr)
            sys.exit(2)
        X, y = load(path)
        seeds = CHECK_SEEDS.get(name, SEEDS)
        t0 = time.monotonic()
        ref = sklearn_aucs(X, y, seeds)
        ref_seconds = time.monotonic() - t0
        mine = ours(args.cli, path, seeds)
        if mine["rows"] != len(y) or mine["dims"] != X.shape[1]:
            print(f"iforest_oracle: FAIL: CLI read {mine['rows']}x{mine['dims']} from {path}, numpy "
                  f"{X.shape[0]}x{X.shape[1]}", file=sys.stderr)
            sys.exit(2)
        for n in sorted({SEEDS, seeds}):
            sk, batch, stream = (np.mean(ref[:n]), np.mean(mine["batch_auc"][:n]), np.mean(mine["stream_auc"][:n]))
            checked = n == seeds
            table.append((name, n, checked, sk, np.std(ref[:n]), batch, np.std(mine["batch_auc"][:n]), stream,
                          np.std(mine["stream_auc"][:n])))
            if not checked:
                continue
            if abs(batch - sk) > BATCH_TOL:
                failures.append(f"{name}: batch AUC {batch:.4f} vs scikit-learn {sk:.4f} over {n} seeds "
                                f"(|diff| > {BATCH_TOL})")
            if abs(stream - batch) > STREAM_TOL:
                failures.append(f"{name}: streaming AUC {stream:.4f} vs our batch {batch:.4f} over {n} seeds "
                                f"(|diff| > {STREAM_TOL})")
        print(f"{name}: {len(y)} rows x {X.shape[1]} dims, {seeds} seeds: scikit-learn {ref_seconds:.1f} s, "
              f"ours batch {mine['batch_seconds']:.1f} s, ours streaming {mine['stream_seconds']:.1f} s")

    print(f"\nROC-AUC, mean (sd) over seeds 0..n-1; scikit-learn {sklearn.__version__}; * = the figures checked")
    header = (f"{'data set':<12} {'seeds':>5}  {'sklearn':>15}  {'ours batch':>15}  {'ours stream':>15}"
              f"  {'|b-sk|':>7} {'|s-b|':>7}")
    print(header)
    print("-" * len(header))
    for (name, n, checked, sk, sk_sd, b, b_sd, st, st_sd) in table:
        print(f"{name:<12} {n:>4}{'*' if checked else ' '}  {sk:.4f} ({sk_sd:.4f})  {b:.4f} ({b_sd:.4f})  "
              f"{st:.4f} ({st_sd:.4f})  {abs(b - sk):>7.4f} {abs(st - b):>7.4f}")
    print(f"tolerances: |batch - sklearn| <= {BATCH_TOL}, |stream - batch| <= {STREAM_TOL}")
    if failures:
        for f in failures:
            print(f"iforest_oracle: FAIL: {f}", file=sys.stderr)
        return 1
    print("iforest_oracle: PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
