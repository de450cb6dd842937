#!/usr/bin/env bash
# Benchmark: a MySQL backup through db-operator's pipeline (dump | parallel gzip |
# streaming multipart upload) against `mariadb-dump | gzip -1 | aws s3 cp -`, on the
# same database, store and machine; then restores the pipeline's object with
# standard tools (`gunzip | mariadb`) and compares the table checksums.
#
#   ci/bench-mysql-backup.sh [ROWS]     (default 1,500,000 rows: a dump of about 300 MiB)
#
# Needs the local services (ci/services.sh start) and a release build of the bench
# (swift build -c release --product db-operator-bench). Prints figures; asserts nothing
# about speed.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$DBOP_ROOT"
use_pip_scripts
set -a
# shellcheck disable=SC1090
source "$DBOP_ENV_FILE"
set +a
rows="${1:-1500000}"
bench="$(swift build -c release --show-bin-path)/db-operator-bench"
[ -x "$bench" ] || die "build the bench first: swift build -c release --product db-operator-bench"
export MYSQL_PWD="$DBOP_MYSQL_PASSWORD"
my=(mariadb --no-defaults -h "$DBOP_MYSQL_HOST" -P "$DBOP_MYSQL_PORT" -u "$DBOP_MYSQL_USER")
dump=(mariadb-dump --no-defaults -h "$DBOP_MYSQL_HOST" -P "$DBOP_MYSQL_PORT" -u "$DBOP_MYSQL_USER"
      --single-transaction --routines --triggers --events dbop_bench)

have="$("${my[@]}" -N -e "SELECT COUNT(*) FROM dbop_bench.payload" 2>/dev/null || echo 0)"
if [ "$have" != "$rows" ]; then
  log "creating dbop_bench.payload with $rows rows of hex digests"
  "${my[@]}" -e "DROP DATABASE IF EXISTS dbop_bench; CREATE DATABASE dbop_bench;
    USE dbop_bench;
    CREATE TABLE dbop_bench.payload (id BIGINT PRIMARY KEY, a CHAR(64), b CHAR(128)) ENGINE=InnoDB;
    INSERT INTO dbop_bench.payload SELECT seq, SHA2(RAND(), 256), SHA2(RAND(), 512) FROM seq_1_to_$rows;"
fi

seconds() { awk -v start="$1" -v end="$(date +%s.%N)" 'BEGIN { printf "%.2f", end - start }'; }

log "dump alone"
start=$(date +%s.%N); size=$("${dump[@]}" | wc -c); t_dump=$(seconds "$start")

log "mariadb-dump | gzip -1 | aws s3 cp -"
key_aws="bench/mysql-aws-$$.sql.gz"
start=$(date +%s.%N)
"${dump[@]}" | gzip -1 | AWS_ACCESS_KEY_ID=$DBOP_S3_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$DBOP_S3_SECRET_ACCESS_KEY \
  aws --endpoint-url "$DBOP_S3_ENDPOINT" --region "$DBOP_S3_REGION" s3 cp --only-show-errors - "s3://$DBOP_S3_BUCKET/$key_aws"
t_aws=$(seconds "$start")

log "mariadb-dump | db-operator pipeline (parallel gzip, streaming multipart)"
key_ours="bench/mysql-ours-$$.sql.gz"
start=$(date +%s.%N)
"${dump[@]}" | "$bench" upload --source stdin --gzip --skip-aws --key "$key_ours" >/tmp/dbop-bench-mysql.out
t_ours=$(seconds "$start")
cat /tmp/dbop-bench-mysql.out

log "restoring the pipeline's object with gunzip | mariadb"
s3get() { AWS_ACCESS_KEY_ID=$DBOP_S3_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$DBOP_S3_SECRET_ACCESS_KEY \
  aws --endpoint-url "$DBOP_S3_ENDPOINT" --region "$DBOP_S3_REGION" s3 "$@"; }
"${my[@]}" -e "DROP DATABASE IF EXISTS dbop_bench_restore; CREATE DATABASE dbop_bench_restore"
s3get cp --only-show-errors "s3://$DBOP_S3_BUCKET/$key_ours" - | gunzip | "${my[@]}" dbop_bench_restore
original=$("${my[@]}" -N -e "CHECKSUM TABLE dbop_bench.payload" | awk '{print $2}')
restored=$("${my[@]}" -N -e "CHECKSUM TABLE dbop_bench_restore.payload" | awk '{print $2}')
s3get rm --only-show-errors "s3://$DBOP_S3_BUCKET/$key_aws"; s3get rm --only-show-errors "s3://$DBOP_S3_BUCKET/$key_ours"
"${my[@]}" -e "DROP DATABASE dbop_bench_restore"

printf '\nMySQL backup benchmark: %s rows, dump of %s MiB\n' "$rows" "$((size / 1048576))"
printf '  mariadb-dump alone:                      %6.1f s\n' "$t_dump"
printf '  mariadb-dump | gzip -1 | aws s3 cp -:    %6.1f s\n' "$t_aws"
printf '  mariadb-dump | db-operator pipeline:     %6.1f s  (%.2fx faster)\n' "$t_ours" "$(awk -v a="$t_aws" -v b="$t_ours" 'BEGIN { print a / b }')"
printf '  restore with gunzip | mariadb:           %s\n' "$([ "$original" = "$restored" ] && echo "checksums match ($original)" || echo "CHECKSUM MISMATCH: $original vs $restored")"
[ "$original" = "$restored" ]
