#!/usr/bin/env bash
# Sets up the databases that the ODBC integration tests and benchmarks talk to:
#   - a throw-away PostgreSQL cluster on 127.0.0.1:54329 (data under /tmp, never the system one),
#   - the psqlODBC and SQLite3 ODBC drivers, found by absolute path so that nothing has to be
#     registered in /etc/odbcinst.ini (DSN-less "Driver={/abs/path.so}" connection strings).
# Idempotent: safe to run twice; a cluster that is already running is left alone.
# Prints the `export RX_TEST_*=...` lines and writes them to /tmp/rx-db-env.sh for `source`.
set -euo pipefail

PG_PORT=54329
PG_ROOT=${RX_PG_ROOT:-/tmp/rx-pg}   # socket dir + log; the cluster itself is in $PG_ROOT/data
PG_DATA=$PG_ROOT/data
ENV_FILE=${RX_DB_ENV_FILE:-/tmp/rx-db-env.sh}
# unixodbc gives isql for the smoke check below; unixodbc-dev is what odbc-api links against.
PKGS=(unixodbc unixodbc-dev libsqliteodbc odbc-postgresql postgresql)

# --- 1. Debian packages (only when missing, only as root) ------------------------------------
missing=()
for p in "${PKGS[@]}"; do
  [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == 'install ok installed' ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "databases.sh: missing packages ${missing[*]} and not root; install them first" >&2
    exit 1
  fi
  # The Debian package would otherwise create (and, where services may start, run) a "main"
  # cluster on port 5432 that nothing here uses; our own cluster is made below.
  mkdir -p /etc/postgresql-common/createcluster.d
  echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/rx-no-main.conf
  export DEBIAN_FRONTEND=noninteractive
  apt_install() { apt-get install -y --no-install-recommends -q "${missing[@]}" >/dev/null; }
  # Refresh the package lists only when needed: absent (fresh image) or stale (install fails).
  apt-cache show "${missing[@]}" >/dev/null 2>&1 || apt-get update -q >/dev/null
  apt_install || { apt-get update -q >/dev/null && apt_install; }
fi

# --- 2. PostgreSQL cluster --------------------------------------------------------------------
# initdb/pg_ctl refuse to run as root, so as root they run as the `postgres` user that the
# postgresql package created; as a normal user they run as that user, who is then also the
# cluster's superuser (peer auth maps the OS user to the role of the same name).
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
PG_OWNER=$(id -un)
if [[ $(id -u) -eq 0 ]]; then PG_OWNER=postgres; fi
as_pg() { (cd /tmp && if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi); }

mkdir -p "$PG_ROOT"
chown "$PG_OWNER": "$PG_ROOT"
if [[ ! -s $PG_DATA/PG_VERSION ]]; then
  rm -rf "$PG_DATA"
  # The superuser is reachable only over the private unix socket (peer auth).
  as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U "$PG_OWNER" -E UTF8 --no-locale \
    --auth-local=peer --auth-host=scram-sha-256 >/dev/null
  # TCP on loopback only; socket in our own dir (/var/run/postgresql may not exist).
  # The data is disposable, so durability is traded for speed in bulk-load tests.
  cat >>"$PG_DATA/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_ROOT'
password_encryption = 'scram-sha-256'
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
  # Password auth over TCP from 127.0.0.1 only; nothing from ::1 or elsewhere.
  cat >"$PG_DATA/pg_hba.conf" <<EOF
local all $PG_OWNER peer
host  all all 127.0.0.1/32 scram-sha-256
EOF
fi
if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_ROOT/server.log" -w -t 60 start >/dev/null
fi

# Role and database (re-running just resets the password).
as_pg "$PG_BIN/psql" -h "$PG_ROOT" -p "$PG_PORT" -U "$PG_OWNER" -d postgres -qAt -v ON_ERROR_STOP=1 <<'SQL' >/dev/null
SELECT 'CREATE ROLE rx LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rx') \gexec
ALTER ROLE rx LOGIN PASSWORD 'rx-secret';
SELECT 'CREATE DATABASE rx OWNER rx' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'rx') \gexec
SQL

# --- 3. ODBC drivers by absolute path ---------------------------------------------------------
find_lib() { find /usr/lib /usr/local/lib -name "$1" -print -quit 2>/dev/null; }
PG_DRIVER=$(find_lib psqlodbcw.so)        # the unicode (W) psqlODBC driver
SQLITE_DRIVER=$(find_lib libsqlite3odbc.so)
[[ -n $PG_DRIVER && -n $SQLITE_DRIVER ]] || { echo "databases.sh: ODBC driver not found" >&2; exit 1; }

PG_ODBC="Driver={$PG_DRIVER};Server=127.0.0.1;Port=$PG_PORT;Database=rx;Uid=rx;Pwd=rx-secret;UseDeclareFetch=1;Fetch=10000"
PG_URL="postgresql://rx:rx-secret@127.0.0.1:$PG_PORT/rx"

# Smoke checks through the driver manager, so a broken setup fails here and not in the tests.
smoke() { echo "SELECT 1" | isql -b -k "$1" >/dev/null || { echo "databases.sh: ODBC $2 failed" >&2; exit 1; }; }
smoke "$PG_ODBC" PostgreSQL
smoke "Driver=$SQLITE_DRIVER;Database=:memory:" SQLite

cat >"$ENV_FILE" <<EOF
export RX_TEST_PG_ODBC='$PG_ODBC'
export RX_TEST_SQLITE_ODBC_DRIVER=$SQLITE_DRIVER
export RX_TEST_PG_URL='$PG_URL'
EOF
cat "$ENV_FILE"
