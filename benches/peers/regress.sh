#!/usr/bin/env bash
# Side-by-side regression benchmark: revoscale's rx_lin_mod / rx_logit end to end on an .xdf file
# against statsmodels OLS / Logit reading the same data from Parquet, and against one plain pass
# over the same columns (the one-pass floor), in one run.
#
#   bash benches/peers/regress.sh [ROWS]        # default 10000000
#
# Environment: THREADS=1 (BLAS threads for statsmodels; revoscale runs sequentially),
# REPS=3 (revoscale runs per job), PEER_REPS=1, DIR=/tmp/revoscale-regress,
# PY=/tmp/peers-venv/bin/python (created from ../shared/peers/requirements.txt if missing).
#
# Targets (issue 3): statsmodels / revoscale >= 20, revoscale / plain pass <= 2.
set -euo pipefail

ROWS=${1:-10000000}
THREADS=${THREADS:-1}
REPS=${REPS:-3}
PEER_REPS=${PEER_REPS:-1}
DIR=${DIR:-/tmp/revoscale-regress}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PEERS=${PEERS:-$(cd "$ROOT/../shared/peers" 2>/dev/null && pwd || echo /work/shared/peers)}
PY=${PY:-/tmp/peers-venv/bin/python}

if [[ ! -x $PY ]]; then
    venv=$(dirname "$(dirname "$PY")")
    echo "== creating the peers' venv in $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q -r "$PEERS/requirements.txt"
fi

echo "== building the regress example (release)" >&2
(cd "$ROOT" && cargo build --release -q -p benches --example regress)
BIN=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/examples/regress

RX_OUT=$(mktemp)
PEER_OUT=$(mktemp)
trap 'rm -f "$RX_OUT" "$PEER_OUT"' EXIT
echo "== revoscale (generates the data on first use)" >&2
"$BIN" --rows "$ROWS" --reps "$REPS" --dir "$DIR" >"$RX_OUT"
PARQUET=$(sed -n 's/^parquet=//p' "$RX_OUT")
echo "== statsmodels on $PARQUET" >&2
"$PY" "$HERE/regress_peers.py" "$PARQUET" --reps "$PEER_REPS" --threads "$THREADS" >"$PEER_OUT"

"$PY" - "$RX_OUT" "$PEER_OUT" <<'PYEOF'
import json, sys
rx = dict(l.strip().split("=", 1) for l in open(sys.argv[1]) if "=" in l)
peers = json.load(open(sys.argv[2]))["results"]
rows = int(rx["rows"])
floor = float(rx["pass_seconds"])
print(f"\nRegression, {rows:,} rows: 10 numeric terms + a 7-level factor (.xdf, LZ4) vs statsmodels (Parquet)")
print(f"plain pass over the same columns (read + sum): {floor:.3f} s")
print(f"{'model':8s} {'revoscale s':>12s} {'/ plain pass':>13s} {'statsmodels s':>14s} {'statsmodels / rx':>17s}")
for key, peer in (("linmod", "ols"), ("logit", "logit")):
    if key + "_seconds" not in rx:
        continue
    t = float(rx[key + "_seconds"])
    p = peers.get(peer, {}).get("seconds_median")
    ps = f"{p:14.2f} {p / t:17.1f}" if p else f"{'-':>14s} {'-':>17s}"
    extra = f" ({rx[key + '_iterations']} IRLS iterations)" if key + "_iterations" in rx else ""
    print(f"{key:8s} {t:12.3f} {t / floor:13.2f} {ps}{extra}")
PYEOF
