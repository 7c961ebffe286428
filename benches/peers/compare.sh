#!/usr/bin/env bash
# Side-by-side CSV import: revoscale (TextData -> .xdf) against its peers on the same CSV, in the
# same run, at the same thread count.
#
#   bash benches/peers/compare.sh [ROWS]          # default 1000000
#
# Environment:
#   THREADS=1        threads for the peers (time_peers.py --threads) and revoscale (RAYON_NUM_THREADS)
#   REPS=3           timed runs per job; medians are compared
#   BREAKDOWN=1      also time revoscale's CSV parse alone, .xdf write alone (no/LZ4/Zstd) and
#                    the import without compression (set BREAKDOWN=0 to skip)
#   WORK=/tmp/revoscale-peers   scratch folder (the CSV is generated once and reused)
#   PEERS=<repo>/../shared/peers   gen_data.py and time_peers.py
#   PY=/tmp/peers-venv/bin/python  the peers' venv (created from PEERS/requirements.txt if missing)
#
# Prints, per peer: the peer's seconds and the ratio revoscale / peer (below 1 means revoscale is
# faster) for revoscale's default import (LZ4: wall and CPU) and, with BREAKDOWN=1, its import
# without compression (the same kind of output as pyarrow's uncompressed feather); then the full vs
# 2-of-10-column .xdf scan ratio.
set -euo pipefail

ROWS=${1:-1000000}
THREADS=${THREADS:-1}
REPS=${REPS:-3}
BREAKDOWN=${BREAKDOWN:-1}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PEERS=${PEERS:-$(cd "$ROOT/../shared/peers" 2>/dev/null && pwd || echo /work/shared/peers)}
PY=${PY:-/tmp/peers-venv/bin/python}
WORK=${WORK:-/tmp/revoscale-peers}

[[ $ROWS =~ ^[0-9]+$ ]] || { echo "usage: $0 [ROWS]" >&2; exit 2; }
[[ -f $PEERS/gen_data.py && -f $PEERS/time_peers.py ]] || { echo "no gen_data.py / time_peers.py in $PEERS (set PEERS=...)" >&2; exit 2; }

if [[ ! -x $PY ]]; then
    venv=$(dirname "$(dirname "$PY")")
    echo "== creating the peers' venv in $venv (about 2 GB, once)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q -r "$PEERS/requirements.txt"
fi

mkdir -p "$WORK"
CSV=$WORK/synth/airline_$ROWS.csv
if [[ ! -f $CSV ]]; then
    echo "== generating $CSV" >&2
    "$PY" "$PEERS/gen_data.py" --airline "$ROWS" --out-dir "$WORK" >&2
fi

echo "== building revoscale's import_csv example (release)" >&2
(cd "$ROOT" && cargo build --release -q -p benches --example import_csv)
BIN=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/examples/import_csv

PEER_JSON=$WORK/peers_import_${ROWS}_t$THREADS.json
RX_OUT=$WORK/revoscale_import_${ROWS}_t$THREADS.txt

echo "== peers: time_peers.py --only import --threads $THREADS" >&2
(cd "$WORK" && "$PY" "$PEERS/time_peers.py" "$CSV" --only import --threads "$THREADS" --reps "$REPS" --out "$PEER_JSON" >/dev/null)

echo "== revoscale: TextData -> XdfData (RAYON_NUM_THREADS=$THREADS)" >&2
rx_args=("$CSV" --reps "$REPS")
[[ $BREAKDOWN == 1 ]] && rx_args+=(--breakdown)
RAYON_NUM_THREADS=$THREADS "$BIN" "${rx_args[@]}" >"$RX_OUT"

"$PY" - "$PEER_JSON" "$RX_OUT" <<'EOF'
import json, sys
peers = json.load(open(sys.argv[1]))
rx = dict(line.strip().split("=", 1) for line in open(sys.argv[2]) if "=" in line)
f = lambda k: float(rx[k])
t, cpu = f("import_seconds"), f("import_cpu_seconds")
loads = [r["load_before"]["loadavg_1m"] for r in peers["results"].values()]
print(f"\nCSV import, {peers['rows']:,} rows, {peers['bytes'] / 2**20:.1f} MB, --threads {peers['threads']} "
      f"(revoscale: RAYON_NUM_THREADS={rx['rayon_threads']}), medians of {peers['reps']} runs; "
      f"1-min load before the peers {min(loads):.1f}..{max(loads):.1f}")
print(f"revoscale: {t:.3f} s wall, {cpu:.2f} s CPU (all threads), peak RSS {f('import_peak_rss_mb'):.0f} MB, "
      f".xdf (LZ4) {f('import_xdf_mb'):.1f} MB")
t0 = f("import_uncompressed_seconds") if "import_uncompressed_seconds" in rx else None
if t0 is not None:
    print(f"revoscale without compression (--compression 0): {t0:.3f} s wall, "
          f"{f('import_uncompressed_cpu_seconds'):.2f} s CPU")
print(f"{'peer':24s} {'peer s':>7s} {'peer RSS':>9s} {'rx wall / peer':>15s} {'rx CPU / peer':>14s}"
      + (f" {'rx none / peer':>15s}" if t0 is not None else ""))
for name in ["import.duckdb_parquet", "import.pyarrow_parquet", "import.pyarrow_feather",
             "import.polars_parquet", "import.pandas_parquet"]:
    r = peers["results"].get(name)
    if r is None:
        continue
    if "error" in r:
        print(f"{name:24s} ERROR {r['error']}")
        continue
    p = r["seconds_median"]
    print(f"{name:24s} {p:7.3f} {r['peak_rss_mb']:6.0f} MB {t / p:15.2f} {cpu / p:14.2f}"
          + (f" {t0 / p:15.2f}" if t0 is not None else ""))
if "parse_only_seconds" in rx:
    print("\nrevoscale breakdown (wall s / CPU s):")
    rows = [("CSV parse only (chunks dropped)", "parse_only"), ("CSV parse, kept in memory", "parse_collect"),
            (".xdf write from memory, none", "write_only_none"), (".xdf write from memory, LZ4", "write_only_lz4"),
            (".xdf write from memory, Zstd", "write_only_zstd"), ("import, no compression", "import_uncompressed"),
            ("import, LZ4 (default)", "import")]
    for label, k in rows:
        size = f"   ({f(k + '_xdf_mb'):.1f} MB)" if k + "_xdf_mb" in rx else ""
        print(f"  {label:34s} {f(k + '_seconds'):6.3f} / {f(k + '_cpu_seconds'):5.2f}{size}")
if "scan_full_seconds" in rx:
    full, proj = f("scan_full_seconds"), f("scan_project_2_of_10_seconds")
    print(f"\n.xdf scan, {int(rx['rows']):,} rows x 10 columns (LZ4): all columns {full:.4f} s, "
          f"2 of 10 {proj:.4f} s, projected / full {proj / full:.3f}")
EOF
echo "(raw: $PEER_JSON, $RX_OUT)"
