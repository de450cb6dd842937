#!/usr/bin/env bash
# Sets up a laptop or a fresh machine and runs the product against local services:
# installs what is missing, starts PostgreSQL, MariaDB and S3 on 127.0.0.1, builds
# db-operator, shows how to reach everything, and runs `db-operator dev` (the fake
# Kubernetes API with the CRDs, the operator and the job runner) until Ctrl-C.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$DBOP_ROOT"

bash ci/install.sh
bash ci/services.sh start
use_pip_scripts
set -a
# shellcheck disable=SC1090
source "$DBOP_ENV_FILE"
set +a
log "building db-operator"
swift build --product db-operator
bin="$(swift build --show-bin-path)/db-operator"
dev_dir="$DBOP_STATE_DIR/dev"
kubeconfig="$dev_dir/kubeconfig"

cat <<TXT

db-operator $("$bin" --version) is built: $bin

Local services (stop them with ci/services.sh stop; the env file is $DBOP_ENV_FILE):
  PostgreSQL  PGPASSWORD=$DBOP_PG_PASSWORD psql -h $DBOP_PG_HOST -p $DBOP_PG_PORT -U $DBOP_PG_USER postgres
              (major:port of every server: $DBOP_PG_SERVERS; the RDS-like admin is $DBOP_PG_LIMITED_USER)
  MariaDB     mariadb -h $DBOP_MYSQL_HOST -P $DBOP_MYSQL_PORT -u $DBOP_MYSQL_USER -p$DBOP_MYSQL_PASSWORD
  S3          AWS_ACCESS_KEY_ID=$DBOP_S3_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$DBOP_S3_SECRET_ACCESS_KEY \\
                $DBOP_AWS --endpoint-url $DBOP_S3_ENDPOINT --region $DBOP_S3_REGION s3 ls s3://$DBOP_S3_BUCKET --recursive

In another terminal, with kubectl=$DBOP_KUBECTL (README.md, "Quick start"):
  export KUBECONFIG=$kubeconfig
  kubectl create secret generic pg-admin --from-literal=password=$DBOP_PG_LIMITED_PASSWORD
  kubectl create secret generic mysql-admin --from-literal=password=$DBOP_MYSQL_LIMITED_PASSWORD
  kubectl create secret generic s3-creds --from-literal=accessKeyId=$DBOP_S3_ACCESS_KEY_ID --from-literal=secretAccessKey=$DBOP_S3_SECRET_ACCESS_KEY
  kubectl apply -f Fixtures/dev-driver-account.yaml   # the driver Jobs' service account
  kubectl apply -f Fixtures/dev/
  kubectl get databases,backups -w

TXT
# The Jobs' driver finds the newest pg_dump here, as the image carries PostgreSQL 18's.
export DB_OPERATOR_PG_BIN_DIRS="${DB_OPERATOR_PG_BIN_DIRS:-$DBOP_PG_BIN_DIRS}"
exec "$bin" dev --port "${DBOP_DEV_PORT:-46443}" --kubeconfig-out "$kubeconfig" --state-dir "$dev_dir"
