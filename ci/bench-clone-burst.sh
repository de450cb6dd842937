#!/usr/bin/env bash
# The CI-style burst of SPEC section 13 (#18's benchmark): N Databases cloned at once
# from a seeded one, each with `ttl: 10m`, on `db-operator dev` against the local
# PostgreSQL (RDS-like admin); prints the time until all are Created. Then deletes
# them (each is dropped) and the seed.
#
#   ci/bench-clone-burst.sh [N] [SEED_ROWS]      (default 50 clones of 100000 rows)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$DBOP_ROOT"
count="${1:-50}" rows="${2:-100000}"

bash ci/services.sh start >/dev/null
use_pip_scripts
set -a
# shellcheck disable=SC1090
source "$DBOP_ENV_FILE"
set +a
swift build --product db-operator >"${TMPDIR:-/tmp}/db-operator-burst-build.log" 2>&1 || die "swift build failed: see ${TMPDIR:-/tmp}/db-operator-burst-build.log"
ns="burst-$RANDOM"
start_dev_bench_stack "$(swift build --show-bin-path)/db-operator" "${DBOP_BURST_PORT:-46543}" "$ns"
database() {  # name, extra spec lines
  cat <<YAML
apiVersion: dboperator.io/v1alpha1
kind: Database
metadata: {name: $1, labels: {burst: "$2"}}
spec:
  driver: postgresql
  connect: {host: $DBOP_PG_HOST, port: $DBOP_PG_PORT, sslMode: disable}
  credentials:
    username: {value: $DBOP_PG_LIMITED_USER}
    password: {valueFrom: {secretKeyRef: {name: pg-admin, key: password}}}
  deletionPolicy: Delete
$3
---
YAML
}
database seed seed "" | "$kubectl" -n "$ns" apply -f - >/dev/null
"$kubectl" -n "$ns" wait --for=jsonpath='{.status.phase}'=Created database/seed --timeout=180s >/dev/null
secret() { "$kubectl" -n "$ns" get secret seed -o "jsonpath={.data.$1}" | base64 -d; }
PGPASSWORD="$(secret password)" "$(echo "$DBOP_PG_BIN_DIRS" | cut -d: -f1)/psql" -q -h "$DBOP_PG_HOST" -p "$DBOP_PG_PORT" \
  -U "$(secret username)" -d "$(secret database)" \
  -c "CREATE TABLE items AS SELECT g AS id, md5(g::text) AS label FROM generate_series(1, $rows) g" -c "ALTER TABLE items ADD PRIMARY KEY (id)"
log "$count clones of a database of $rows rows, each with ttl 10m"
manifests="$(for i in $(seq 1 "$count"); do database "clone-$i" clone "  cloneFrom: {database: seed}
  ttl: 10m"; done)"
start=$(date +%s.%N)
printf '%s\n' "$manifests" | "$kubectl" -n "$ns" apply -f - >/dev/null
"$kubectl" -n "$ns" wait --for=jsonpath='{.status.phase}'=Created database -l burst=clone --timeout=900s >/dev/null
end=$(date +%s.%N)
awk -v n="$count" -v s="$start" -v e="$end" 'BEGIN { printf "all %d clones Created in %.1f s (%.2f per second)\n", n, e - s, n / (e - s) }'
# The path each took, from its Cloned Event: a TEMPLATE copy, or a streamed dump (and why).
"$kubectl" -n "$ns" get events --field-selector reason=Cloned -o jsonpath='{range .items[*]}{.message}{"\n"}{end}' \
  | sed -n 's/.* by \(CREATE DATABASE ... TEMPLATE\|a streamed dump\).*/\1/p' | sort | uniq -c | sed 's/^ */paths: /'
"$kubectl" -n "$ns" delete databases --all --wait=false >/dev/null
"$kubectl" -n "$ns" wait --for=delete database --all --timeout=600s >/dev/null
log "deleted and dropped"
