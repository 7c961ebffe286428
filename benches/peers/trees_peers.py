"""The peers of revoscale's tree models on the same train/test split: scikit-learn's
DecisionTreeClassifier, RandomForestClassifier and HistGradientBoostingClassifier, and LightGBM,
with the settings revoscale's `trees` example uses. Each job fits on the training Parquet file
(loaded untimed), is timed (median of --reps), and is scored on the test file (AUC, accuracy of
Late). Prints one JSON object.

    python trees_peers.py train.parquet test.parquet [--threads 2] [--reps 1] [--only ...]
"""

import argparse
import json
import resource
import sys
import time

import numpy as np
import pyarrow.parquet as pq

FEATURES = ["CRSDepTime", "DayOfWeek", "Distance", "UniqueCarrier"]
FACTORS = ["DayOfWeek", "UniqueCarrier"]


def load(path, levels=None):
    t = pq.read_table(path).to_pandas()
    levels = levels or {f: sorted(t[f].astype(str).unique()) for f in FACTORS}
    X = np.empty((len(t), len(FEATURES)))
    for j, f in enumerate(FEATURES):
        if f in FACTORS:
            codes = {l: i for i, l in enumerate(levels[f])}
            X[:, j] = t[f].astype(str).map(codes).to_numpy(dtype=float)
        else:
            X[:, j] = t[f].to_numpy(dtype=float)
    return X, t["Late"].to_numpy().astype(int), levels


def auc(p, y):
    from sklearn.metrics import roc_auc_score
    return float(roc_auc_score(y, p))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("train")
    ap.add_argument("test")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--n-tree", type=int, default=100)
    ap.add_argument("--only", default="sk_dtree,sk_rf,sk_hgb,lightgbm")
    a = ap.parse_args()
    X, y, levels = load(a.train)
    Xt, yt, _ = load(a.test, levels)
    cat = [FEATURES.index(f) for f in FACTORS]
    out = {"rows_train": int(len(y)), "rows_test": int(len(yt)), "threads": a.threads, "results": {}}
    for job in a.only.split(","):
        if job == "sk_dtree":
            from sklearn.tree import DecisionTreeClassifier
            make = lambda: DecisionTreeClassifier(max_depth=10, random_state=0)
        elif job == "sk_rf":
            from sklearn.ensemble import RandomForestClassifier
            make = lambda: RandomForestClassifier(n_estimators=a.n_tree, max_depth=10, max_features="sqrt",
                                                  n_jobs=a.threads, random_state=0)
        elif job == "sk_hgb":
            from sklearn.ensemble import HistGradientBoostingClassifier
            make = lambda: HistGradientBoostingClassifier(max_iter=a.n_tree, learning_rate=0.1, max_depth=6,
                                                          max_leaf_nodes=63, min_samples_leaf=20, max_bins=255,
                                                          early_stopping=False, categorical_features=cat,
                                                          random_state=0)
        elif job == "lightgbm":
            import lightgbm as lgb
            make = lambda: lgb.LGBMClassifier(n_estimators=a.n_tree, learning_rate=0.1, max_depth=6, num_leaves=63,
                                              max_bin=255, min_child_samples=20, n_jobs=a.threads, verbose=-1,
                                              random_state=0)
        else:
            sys.exit(f"unknown job {job}")
        times = []
        model = None
        for _ in range(max(1, a.reps)):
            m = make()
            t0 = time.perf_counter()
            if job == "lightgbm":
                m.fit(X, y, categorical_feature=cat)
            else:
                m.fit(X, y)
            times.append(time.perf_counter() - t0)
            model = m
        p = model.predict_proba(Xt)[:, 1]
        out["results"][job] = {
            "seconds": sorted(times)[len(times) // 2],
            "auc": auc(p, yt),
            "accuracy": float(np.mean((p > 0.5) == (yt == 1))),
        }
        print(f"{job}: {out['results'][job]}", file=sys.stderr)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


if __name__ == "__main__":
    main()
