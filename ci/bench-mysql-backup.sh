#!/usr/bin/env bash
# Benchmark: a MySQL backup through db-operator's pipeline (the dump tool run as the
# driver runs it | parallel gzip or zstd | streaming multipart upload | checksum in
# the object's metadata) against `mariadb-dump | gzip -1 | aws s3 cp -`, on the same
# database, store and machine; then restores each of the pipeline's objects with
# standard tools (`gunzip | mariadb`, `zstd -dc | mariadb`) and compares checksums.
#
#   ci/bench-mysql-backup.sh [DATASET] [ROWS]
#
# DATASET: `poor` (default): poorly compressible rows, a token and a body of base64 of
#            random bytes (gzip -1 saves about a quarter); 400,000 rows, about 305 MiB.
#          `hex`: hex digests (gzip -1 saves almost half); 1,500,000 rows, about 300 MiB.
#
# Needs the local services (ci/services.sh start) and a release build of the bench
# (swift build -c release --product db-operator-bench). Prints figures; asserts
# nothing about speed (it fails only when a restore does not match).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$DBOP_ROOT"
use_pip_scripts
set -a
# shellcheck disable=SC1090
source "$DBOP_ENV_FILE"
set +a
dataset="${1:-poor}"
case "$dataset" in
  poor) rows="${2:-400000}"
        columns="token CHAR(44), body TEXT"
        values="TO_BASE64(RANDOM_BYTES(32)), TO_BASE64(RANDOM_BYTES(540))" ;;
  hex)  rows="${2:-1500000}"
        columns="a CHAR(64), b CHAR(128)"
        values="SHA2(RAND(), 256), SHA2(RAND(), 512)" ;;
  *) die "DATASET is poor or hex, not $dataset" ;;
esac
db="dbop_bench_$dataset"
bench="$(swift build -c release --show-bin-path)/db-operator-bench"
[ -x "$bench" ] || die "build the bench first: swift build -c release --product db-operator-bench"
export MYSQL_PWD="$DBOP_MYSQL_PASSWORD"
my=(mariadb --no-defaults -h "$DBOP_MYSQL_HOST" -P "$DBOP_MYSQL_PORT" -u "$DBOP_MYSQL_USER")
dump=("$(command -v mariadb-dump)" --no-defaults -h "$DBOP_MYSQL_HOST" -P "$DBOP_MYSQL_PORT" -u "$DBOP_MYSQL_USER"
      --single-transaction --routines --triggers --events "$db")
s3() { AWS_ACCESS_KEY_ID=$DBOP_S3_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$DBOP_S3_SECRET_ACCESS_KEY \
  aws --endpoint-url "$DBOP_S3_ENDPOINT" --region "$DBOP_S3_REGION" s3 "$@"; }
seconds() { awk -v start="$1" -v end="$(date +%s.%N)" 'BEGIN { printf "%.2f", end - start }'; }

have="$("${my[@]}" -N -e "SELECT COUNT(*) FROM $db.payload" 2>/dev/null || echo 0)"
if [ "$have" != "$rows" ]; then
  log "creating $db.payload with $rows rows ($dataset)"
  "${my[@]}" -e "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db; USE $db;
    CREATE TABLE payload (id BIGINT PRIMARY KEY, $columns) ENGINE=InnoDB;
    INSERT INTO payload SELECT seq, $values FROM seq_1_to_$rows;"
fi
original=$("${my[@]}" -N -e "CHECKSUM TABLE $db.payload" | awk '{print $2}')

log "dump alone"
start=$(date +%s.%N); size=$("${dump[@]}" | wc -c); t_dump=$(seconds "$start")

log "mariadb-dump | gzip -1 | aws s3 cp -"
key_aws="bench/mysql-aws-$$.sql.gz"
start=$(date +%s.%N)
"${dump[@]}" | gzip -1 | s3 cp --only-show-errors - "s3://$DBOP_S3_BUCKET/$key_aws"
t_aws=$(seconds "$start")
s3 rm --only-show-errors "s3://$DBOP_S3_BUCKET/$key_aws"

declare -A t_ours restored
for compression in gzip zstd; do
  suffix=gz; decompress=(gunzip)
  [ "$compression" = zstd ] && { suffix=zst; decompress=(zstd -dc); }
  key="bench/mysql-ours-$$.sql.$suffix"
  log "db-operator pipeline: mariadb-dump as the driver runs it, parallel $compression, streaming multipart"
  start=$(date +%s.%N)
  "$bench" upload --source command --compression "$compression" --skip-aws --key "$key" -- "${dump[@]}"
  t_ours[$compression]=$(seconds "$start")

  log "restoring the $compression object with standard tools"
  "${my[@]}" -e "DROP DATABASE IF EXISTS dbop_bench_restore; CREATE DATABASE dbop_bench_restore"
  s3 cp --only-show-errors "s3://$DBOP_S3_BUCKET/$key" - | "${decompress[@]}" | "${my[@]}" dbop_bench_restore
  restored[$compression]=$("${my[@]}" -N -e "CHECKSUM TABLE dbop_bench_restore.payload" | awk '{print $2}')
  s3 rm --only-show-errors "s3://$DBOP_S3_BUCKET/$key"
done
"${my[@]}" -e "DROP DATABASE dbop_bench_restore"

printf '\nMySQL backup benchmark (%s): %s rows, dump of %s MiB, %s cores\n' "$dataset" "$rows" "$((size / 1048576))" "$(nproc)"
printf '  mariadb-dump alone:                        %6.1f s\n' "$t_dump"
printf '  mariadb-dump | gzip -1 | aws s3 cp -:      %6.1f s\n' "$t_aws"
ok=true
for compression in gzip zstd; do
  verdict="checksums match"; [ "$original" = "${restored[$compression]}" ] || { verdict="CHECKSUM MISMATCH"; ok=false; }
  printf '  db-operator pipeline, parallel %s:       %6.1f s  (%.2fx faster; restored: %s)\n' "$compression" "${t_ours[$compression]}" \
    "$(awk -v a="$t_aws" -v b="${t_ours[$compression]}" 'BEGIN { print a / b }')" "$verdict"
done
$ok
