#!/usr/bin/env bash
# Side-by-side tree models: revoscale's rx_dtree / rx_dforest / rx_btrees against scikit-learn
# (DecisionTree, RandomForest, HistGradientBoosting) and LightGBM on the same airline data
# (../shared/peers/gen_data.py), trained on ROWS rows and scored on the next ROWS rows, in one run.
#
#   bash benches/peers/trees.sh [ROWS]          # default 1000000
#
# Environment: THREADS=2, REPS=1, N_TREE=100, DIR=/tmp/revoscale-trees,
# PY=/tmp/peers-venv/bin/python (created with the packages it needs if missing),
# ONLY_RX=dtree,dforest,btrees,btrees_default  ONLY_PEERS=sk_dtree,sk_rf,sk_hgb,lightgbm
#
# Targets (issue 5): btrees ≤ 1.5× LightGBM's time at matching AUC; dforest ≥ 3× faster than
# scikit-learn's RandomForest; dtree at least as fast as scikit-learn's DecisionTree; held-out
# AUC / accuracy no more than 1 point below the matching scikit-learn model.
set -euo pipefail

ROWS=${1:-1000000}
THREADS=${THREADS:-2}
REPS=${REPS:-1}
N_TREE=${N_TREE:-100}
DIR=${DIR:-/tmp/revoscale-trees}
ONLY_RX=${ONLY_RX:-dtree,dforest,btrees,btrees_default}
ONLY_PEERS=${ONLY_PEERS:-sk_dtree,sk_rf,sk_hgb,lightgbm}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PEERS=${PEERS:-$(cd "$ROOT/../shared/peers" 2>/dev/null && pwd || echo /work/shared/peers)}
PY=${PY:-/tmp/peers-venv/bin/python}

[[ $ROWS =~ ^[0-9]+$ ]] || { echo "usage: $0 [ROWS]" >&2; exit 2; }
if [[ ! -x $PY ]]; then
    venv=$(dirname "$(dirname "$PY")")
    echo "== creating a venv in $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q numpy pandas pyarrow scikit-learn lightgbm
fi

mkdir -p "$DIR"
TRAIN=$DIR/train_$ROWS.parquet
TEST=$DIR/test_$ROWS.parquet
if [[ ! -f $TRAIN || ! -f $TEST ]]; then
    TOTAL=$((2 * ROWS))
    echo "== generating $TOTAL airline rows" >&2
    (cd "$DIR" && "$PY" "$PEERS/gen_data.py" --airline "$TOTAL" --out-dir "$DIR" >/dev/null)
    CSV=$(find "$DIR" -name "airline_$TOTAL.csv" | head -1)
    "$PY" - "$CSV" "$ROWS" "$TRAIN" "$TEST" <<'PY'
import sys
import pyarrow.csv as pc, pyarrow.parquet as pq
csv, rows, train, test = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
t = pc.read_csv(csv)
pq.write_table(t.slice(0, rows), train)
pq.write_table(t.slice(rows, rows), test)
PY
fi

echo "== building revoscale's trees example (release)" >&2
(cd "$ROOT" && cargo build --release -q -p rx-predict --example trees)
BIN=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/examples/trees

RX_OUT=$(mktemp)
PEER_OUT=$(mktemp)
trap 'rm -f "$RX_OUT" "$PEER_OUT"' EXIT
echo "== revoscale" >&2
RAYON_NUM_THREADS=$THREADS /usr/bin/time -f "rx_peak_rss_kb=%M" -o "$RX_OUT.rss" \
    "$BIN" --train "$TRAIN" --test "$TEST" --only "$ONLY_RX" --reps "$REPS" --n-tree "$N_TREE" >"$RX_OUT"
cat "$RX_OUT.rss" >>"$RX_OUT"; rm -f "$RX_OUT.rss"
echo "== peers" >&2
"$PY" "$HERE/trees_peers.py" "$TRAIN" "$TEST" --threads "$THREADS" --reps "$REPS" --n-tree "$N_TREE" \
    --only "$ONLY_PEERS" >"$PEER_OUT"

"$PY" - "$RX_OUT" "$PEER_OUT" "$ROWS" <<'PYEOF'
import json, sys
rx = dict(l.strip().split("=", 1) for l in open(sys.argv[1]) if "=" in l)
peers = json.load(open(sys.argv[2]))["results"]
rows = int(sys.argv[3])
print(f"\nTrees, F(Late) ~ CRSDepTime + DayOfWeek + Distance + UniqueCarrier: train {rows:,} rows, test {rows:,}")
print(f"{'revoscale':16s} {'s':>8s} {'AUC':>7s} {'acc':>7s} | {'peer':10s} {'s':>8s} {'AUC':>7s} {'acc':>7s} | {'rx/peer time':>12s}")
pairs = [("dtree", "sk_dtree"), ("dforest", "sk_rf"), ("btrees", "lightgbm"), ("btrees", "sk_hgb"),
         ("btrees_default", "lightgbm")]
for r, p in pairs:
    if r + "_seconds" not in rx or p not in peers:
        continue
    t, a, c = (float(rx[f"{r}_{k}"]) for k in ("seconds", "auc", "accuracy"))
    q = peers[p]
    print(f"{r:16s} {t:8.2f} {a:7.4f} {c:7.4f} | {p:10s} {q['seconds']:8.2f} {q['auc']:7.4f} {q['accuracy']:7.4f} | {t / q['seconds']:12.2f}")
print(f"revoscale peak RSS (all jobs, one process): {int(rx.get('rx_peak_rss_kb', 0)) / 1024:.0f} MB")
PYEOF
