"""statsmodels OLS and Logit on the regression benchmark data, read from Parquet, end to end.

    python regress_peers.py DATA.parquet [--reps 1] [--only ols,logit] [--threads 1]

Each job reads the file with pandas (pyarrow engine), builds the design matrix (intercept,
x1..x10, treatment dummies of F dropping the first level), fits, and computes the standard
errors (`.bse`), as `rx_lin_mod` / `rx_logit` do in one call. Prints one JSON object with the
median seconds per job.
"""
import argparse
import json
import os
import statistics
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("parquet")
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--only", default="ols,logit")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(a.threads)
    import numpy as np
    import pandas as pd
    import statsmodels.api as sm

    def design(df, response):
        cols = ["x%d" % j for j in range(1, 11)]
        X = np.empty((len(df), 1 + 10 + 6))
        X[:, 0] = 1.0
        for k, c in enumerate(cols):
            X[:, 1 + k] = df[c].to_numpy(float)
        codes = df["F"].cat.codes.to_numpy()
        for k in range(1, 7):
            X[:, 10 + k] = codes == k
        return X, df[response].to_numpy(float)

    def ols():
        df = pd.read_parquet(a.parquet, columns=["y", "F"] + ["x%d" % j for j in range(1, 11)])
        X, y = design(df, "y")
        return sm.OLS(y, X).fit().bse

    def logit():
        df = pd.read_parquet(a.parquet, columns=["yb", "F"] + ["x%d" % j for j in range(1, 11)])
        X, y = design(df, "yb")
        return sm.Logit(y, X).fit(disp=0).bse

    out = {"parquet": a.parquet, "reps": a.reps, "threads": a.threads, "results": {}}
    for name, job in (("ols", ols), ("logit", logit)):
        if name not in a.only:
            continue
        times = []
        for _ in range(a.reps):
            t = time.perf_counter()
            job()
            times.append(time.perf_counter() - t)
        out["results"][name] = {"seconds_median": statistics.median(times), "seconds": times}
        print(f"{name}: {times}", file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
