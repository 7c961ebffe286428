#!/usr/bin/env bash
# Peak memory of rx_dtree against the size of its binned data (issue 5: at most 1.5×), on ROWS rows
# × 10 continuous predictors and a 0/1 response in a Parquet file of 1M-row row groups.
#
#   bash benches/peers/tree_memory.sh [ROWS]        # default 10000000
#
# The binned data are 2 bytes of bin code per predictor and row (default bins: 1,001) plus the
# 8-byte response per row: 280 MB for 10M rows. The peak is the process's maximum resident set
# (`/usr/bin/time`), which includes the binary, the reading and the fit. Environment: THREADS=2,
# DIR=/tmp/revoscale-treemem, PY=/tmp/peers-venv/bin/python (numpy and pyarrow).
set -euo pipefail

ROWS=${1:-10000000}
THREADS=${THREADS:-2}
DIR=${DIR:-/tmp/revoscale-treemem}
PY=${PY:-/tmp/peers-venv/bin/python}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

[[ $ROWS =~ ^[0-9]+$ ]] || { echo "usage: $0 [ROWS]" >&2; exit 2; }
if [[ ! -x $PY ]]; then
    venv=$(dirname "$(dirname "$PY")")
    echo "== creating a venv in $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q numpy pyarrow
fi
mkdir -p "$DIR"
DATA=$DIR/mem_$ROWS.parquet
if [[ ! -f $DATA ]]; then
    echo "== generating $ROWS rows × 10 predictors" >&2
    "$PY" - "$ROWS" "$DATA" <<'PY'
import sys
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
rows, out = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(5)
writer = None
for start in range(0, rows, 1_000_000):
    n = min(1_000_000, rows - start)
    x = rng.normal(size=(10, n))
    late = (x[0] + 0.5 * x[1] - 0.3 * x[2] + rng.normal(size=n) > 1.0).astype(np.int32)
    t = pa.table({**{f"x{i + 1}": x[i] for i in range(10)}, "Late": late})
    writer = writer or pq.ParquetWriter(out, t.schema)
    writer.write_table(t, row_group_size=1_000_000)
writer.close()
PY
fi

echo "== building revoscale's trees example (release)" >&2
(cd "$ROOT" && cargo build --release -q -p rx-predict --example trees)
BIN=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/examples/trees
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
FORMULA="F(Late) ~ x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10"
RAYON_NUM_THREADS=$THREADS /usr/bin/time -f "peak_kb=%M" -o "$OUT" \
    "$BIN" --train "$DATA" --test none --only dtree --formula "$FORMULA" >>"$OUT.stdout"
cat "$OUT.stdout" >>"$OUT"; rm -f "$OUT.stdout"
"$PY" - "$OUT" "$ROWS" <<'PY'
import sys
kv = dict(l.strip().split("=", 1) for l in open(sys.argv[1]) if "=" in l)
rows = int(sys.argv[2])
binned = rows * (10 * 2 + 8)
peak = int(kv["peak_kb"]) * 1024
print(f"rx_dtree, depth 10, {rows:,} rows × 10 predictors: {float(kv['dtree_seconds']):.2f} s")
print(f"peak RSS {peak / 1e6:.0f} MB, binned data {binned / 1e6:.0f} MB: {peak / binned:.2f}× (target ≤ 1.5)")
PY
