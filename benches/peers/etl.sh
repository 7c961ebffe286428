#!/usr/bin/env bash
# Side-by-side ETL: revoscale (rx-etl on DataFusion) against DuckDB on the same generated data, in
# the same run, at the same thread count; each job in its own process, with its peak memory.
#
#   bash benches/peers/etl.sh [ROWS]          # default 10000000
#
# Environment:
#   REPS=3          timed runs per job (medians are compared)
#   THREADS=2       DuckDB's threads (revoscale uses every core of the machine)
#   WORK=/tmp/revoscale-etl   scratch folder (the data are generated once and reused)
#   PY=/tmp/peers-venv/bin/python   a Python with duckdb (created with `pip install duckdb` if missing)
#
# Jobs: "step" = filter (ArrDelay > 15 AND DayOfWeek IN ('Monday','Friday')) + two transforms,
# Parquet -> Parquet (and .xdf -> .xdf for revoscale); "sort" = sort by UniqueCarrier, -ArrDelay.
# Prints seconds, peak RSS and the ratio revoscale / DuckDB (below 1: revoscale is faster).
set -euo pipefail

ROWS=${1:-10000000}
REPS=${REPS:-3}
THREADS=${THREADS:-2}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=${PY:-/tmp/peers-venv/bin/python}
WORK=${WORK:-/tmp/revoscale-etl}

[[ $ROWS =~ ^[0-9]+$ ]] || { echo "usage: $0 [ROWS]" >&2; exit 2; }
if [[ ! -x $PY ]]; then
    venv=$(dirname "$(dirname "$PY")")
    echo "== creating a venv with duckdb in $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q duckdb pyarrow
fi

echo "== building revoscale's etl example (release)" >&2
(cd "$ROOT" && cargo build --release -q -p benches --example etl)
BIN=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/examples/etl

mkdir -p "$WORK"
XDF=$WORK/wide10_$ROWS.xdf
PQ=$WORK/wide10_$ROWS.parquet
if [[ ! -f $XDF || ! -f $PQ ]]; then
    echo "== generating $ROWS rows" >&2
    "$BIN" make --rows "$ROWS" --dir "$WORK" >/dev/null
fi

# value KEY OUTPUT: the value of KEY= in a job's key=value output.
value() { sed -n "s/^$1=//p" <<<"$2"; }

duck() { # duck step|sort IN OUT
    "$PY" - "$1" "$2" "$3" "$THREADS" <<'PY'
import resource, sys, time
import duckdb
job, src, out, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
con = duckdb.connect()
con.execute(f"SET threads = {threads}")
if job == "step":
    q = (f"COPY (SELECT *, ArrDelay > 60 AS Late2, CRSDepTime / 24.0 + Distance / 500.0 AS Hours "
         f"FROM read_parquet('{src}') WHERE ArrDelay > 15 AND DayOfWeek IN ('Monday', 'Friday')) "
         f"TO '{out}' (FORMAT PARQUET)")
else:
    q = (f"COPY (SELECT * FROM read_parquet('{src}') ORDER BY UniqueCarrier, ArrDelay DESC NULLS LAST) "
         f"TO '{out}' (FORMAT PARQUET)")
t = time.perf_counter()
con.execute(q)
secs = time.perf_counter() - t
rows = con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()[0]
print(f"job={job}\nrows={rows}\nsecs={secs:.3f}\npeak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
PY
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

run() { # run NAME COMMAND...: prints "NAME secs peak_mb rows" (median secs, max peak)
    local name=$1; shift
    local secs=() peak=0 rows=0 out
    for _ in $(seq "$REPS"); do
        out=$("$@")
        secs+=("$(value secs "$out")")
        rows=$(value rows "$out")
        local p; p=$(value peak_rss_mb "$out"); p=${p%.*}
        (( p > peak )) && peak=$p
    done
    local m; m=$(printf '%s\n' "${secs[@]}" | median)
    printf '%-34s %8s s  peak %6s MB  rows %s\n' "$name" "$m" "$peak" "$rows" >&2
    echo "$m"
}

echo "== $ROWS rows, $REPS runs each, DuckDB threads=$THREADS, $(nproc) cores" >&2
rx_step_pq=$(run "revoscale step parquet->parquet" "$BIN" step --input "$PQ" --output "$WORK/rx_step.parquet")
rx_step_xdf=$(run "revoscale step xdf->xdf" "$BIN" step --input "$XDF" --output "$WORK/rx_step.xdf")
dk_step=$(run "duckdb step parquet->parquet" duck step "$PQ" "$WORK/duck_step.parquet")
rx_sort_pq=$(run "revoscale sort parquet->parquet" "$BIN" sort --input "$PQ" --output "$WORK/rx_sort.parquet")
rx_sort_xdf=$(run "revoscale sort xdf->xdf" "$BIN" sort --input "$XDF" --output "$WORK/rx_sort.xdf")
dk_sort=$(run "duckdb sort parquet->parquet" duck sort "$PQ" "$WORK/duck_sort.parquet")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "step_ratio_parquet=$(ratio "$rx_step_pq" "$dk_step")"
echo "step_ratio_xdf=$(ratio "$rx_step_xdf" "$dk_step")"
echo "sort_ratio_parquet=$(ratio "$rx_sort_pq" "$dk_sort")"
echo "sort_ratio_xdf=$(ratio "$rx_sort_xdf" "$dk_sort")"
