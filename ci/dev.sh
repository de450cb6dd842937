#!/usr/bin/env bash
# Sets up a laptop or a fresh machine and runs the product against local services:
# installs what is missing, starts PostgreSQL, MariaDB and S3 on 127.0.0.1, builds
# db-operator, and shows how to reach everything.
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
log "building db-operator and fake-apiserver"
swift build --product db-operator
swift build --product fake-apiserver
bin="$(swift build --show-bin-path)/db-operator"
kubeconfig="$DBOP_STATE_DIR/fake-apiserver.kubeconfig"

cat <<TXT

db-operator $("$bin" --version) is built: $bin

Local services (stop them with ci/services.sh stop; the env file is $DBOP_ENV_FILE):
  PostgreSQL  PGPASSWORD=$DBOP_PG_PASSWORD psql -h $DBOP_PG_HOST -p $DBOP_PG_PORT -U $DBOP_PG_USER postgres
  MariaDB     mariadb -h $DBOP_MYSQL_HOST -P $DBOP_MYSQL_PORT -u $DBOP_MYSQL_USER -p$DBOP_MYSQL_PASSWORD
  S3          AWS_ACCESS_KEY_ID=$DBOP_S3_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$DBOP_S3_SECRET_ACCESS_KEY \\
                aws --endpoint-url $DBOP_S3_ENDPOINT --region $DBOP_S3_REGION s3 ls s3://$DBOP_S3_BUCKET
  kubectl     $DBOP_KUBECTL --kubeconfig $kubeconfig get namespaces

Serving the fake Kubernetes API on https://127.0.0.1:${DBOP_FAKE_APISERVER_PORT:-46443} until Ctrl-C
(kubeconfig: $kubeconfig).
TXT
exec "$(swift build --show-bin-path)/fake-apiserver" --port "${DBOP_FAKE_APISERVER_PORT:-46443}" --kubeconfig-out "$kubeconfig"
