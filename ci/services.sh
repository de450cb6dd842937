#!/usr/bin/env bash
# Starts, stops and reports the local services the tests and `db-operator dev` use:
# PostgreSQL, MariaDB and SeaweedFS (S3 with SigV4), each on 127.0.0.1 with a fixed
# port and a fixed admin login, and writes the env file the tests read.
#
#   ci/services.sh start    start whatever is not running (safe to repeat)
#   ci/services.sh stop     stop all three; no server process is left behind
#   ci/services.sh status   one line per service
#   ci/services.sh env      print the env file
#
# Data lives in $DBOP_STATE_DIR (default /tmp/db-operator-services) and survives a
# stop; `ci/services.sh reset` stops everything and deletes it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
use_pip_scripts

PG_DIR="$DBOP_STATE_DIR/postgres"
MY_DIR="$DBOP_STATE_DIR/mariadb"
S3_DIR="$DBOP_STATE_DIR/seaweedfs"

prepare_state_dir() {
  mkdir -p "$DBOP_STATE_DIR"
  chmod 755 "$DBOP_STATE_DIR"
}

# --- PostgreSQL --------------------------------------------------------------

pg_running() { [ -f "$PG_DIR/data/postmaster.pid" ] && as_user postgres "$(pg_bindir)/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; }

start_postgres() {
  local bin; bin="$(pg_bindir)" || die "PostgreSQL server binaries not found (run ci/install.sh)"
  if pg_running; then log "postgresql: already running on port $DBOP_PG_PORT"; return; fi
  mkdir -p "$PG_DIR/run"
  if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
    rm -rf "$PG_DIR/data"; mkdir -p "$PG_DIR/data"
    printf '%s\n' "$DBOP_PG_PASSWORD" > "$PG_DIR/pwfile"
    [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$PG_DIR"
    chmod 700 "$PG_DIR/data"
    log "postgresql: initialising a cluster in $PG_DIR/data"
    as_user postgres "$bin/initdb" -D "$PG_DIR/data" -U "$DBOP_PG_USER" --pwfile="$PG_DIR/pwfile" \
      --auth-local=scram-sha-256 --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 \
      || { cat "$PG_DIR/initdb.log" >&2; die "postgresql: initdb failed"; }
    rm -f "$PG_DIR/pwfile"
  fi
  [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$PG_DIR"
  as_user postgres "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -c port=$DBOP_PG_PORT -c unix_socket_directories=$PG_DIR/run -c max_connections=200 -c fsync=off" \
    >/dev/null || { tail -n 30 "$PG_DIR/server.log" >&2; die "postgresql: failed to start"; }
  log "postgresql: ready on 127.0.0.1:$DBOP_PG_PORT"
}

stop_postgres() {
  local bin; bin="$(pg_bindir)" || return 0
  if pg_running; then
    as_user postgres "$bin/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 60 stop >/dev/null
    log "postgresql: stopped"
  fi
}

# --- MariaDB -----------------------------------------------------------------

my_pid() { [ -f "$MY_DIR/run/mariadbd.pid" ] && cat "$MY_DIR/run/mariadbd.pid"; }
my_running() { local pid; pid="$(my_pid 2>/dev/null)" && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }
my_ping() { mariadb-admin --no-defaults --socket="$MY_DIR/run/mariadbd.sock" -uroot ping; }

start_mariadb() {
  command -v mariadbd >/dev/null || die "mariadbd not found (run ci/install.sh)"
  if my_running; then log "mariadb: already running on port $DBOP_MYSQL_PORT"; return; fi
  mkdir -p "$MY_DIR/run"
  local fresh=0
  if [ ! -d "$MY_DIR/data/mysql" ]; then
    rm -rf "$MY_DIR/data"; mkdir -p "$MY_DIR/data"
    [ "$(id -u)" = 0 ] && chown -R mysql:mysql "$MY_DIR"
    log "mariadb: initialising a data directory in $MY_DIR/data"
    local user_opt=(); [ "$(id -u)" = 0 ] && user_opt=(--user=mysql)
    mariadb-install-db --no-defaults "${user_opt[@]}" --datadir="$MY_DIR/data" \
      --auth-root-authentication-method=normal --skip-test-db >"$MY_DIR/install.log" 2>&1 \
      || { cat "$MY_DIR/install.log" >&2; die "mariadb: mariadb-install-db failed"; }
    fresh=1
  fi
  [ "$(id -u)" = 0 ] && chown -R mysql:mysql "$MY_DIR"
  local user_opt=(); [ "$(id -u)" = 0 ] && user_opt=(--user=mysql)
  setsid mariadbd --no-defaults "${user_opt[@]}" --datadir="$MY_DIR/data" \
    --bind-address=127.0.0.1 --port="$DBOP_MYSQL_PORT" --socket="$MY_DIR/run/mariadbd.sock" \
    --pid-file="$MY_DIR/run/mariadbd.pid" --log-error="$MY_DIR/server.log" \
    --max-connections=300 --innodb-flush-log-at-trx-commit=2 --skip-name-resolve \
    </dev/null >/dev/null 2>&1 &
  wait_until 60 my_ping || { tail -n 30 "$MY_DIR/server.log" >&2; die "mariadb: did not become ready"; }
  if [ "$fresh" = 1 ]; then
    # The admin login of the tests: all privileges, reachable over TCP.
    mariadb --no-defaults --socket="$MY_DIR/run/mariadbd.sock" -uroot <<SQL
CREATE USER IF NOT EXISTS '$DBOP_MYSQL_USER'@'%' IDENTIFIED BY '$DBOP_MYSQL_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO '$DBOP_MYSQL_USER'@'%' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
  fi
  log "mariadb: ready on 127.0.0.1:$DBOP_MYSQL_PORT"
}

stop_mariadb() {
  local pid
  if my_running; then
    pid="$(my_pid)"
    kill -TERM "$pid" 2>/dev/null || true
    wait_until 60 bash -c "! kill -0 $pid" || { kill -KILL "$pid" 2>/dev/null || true; }
    log "mariadb: stopped"
  fi
}

# --- SeaweedFS ---------------------------------------------------------------

s3_pid() { [ -f "$S3_DIR/weed.pid" ] && cat "$S3_DIR/weed.pid"; }
s3_running() { local pid; pid="$(s3_pid 2>/dev/null)" && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }

# Creates the test bucket; succeeds once S3 answers and the bucket exists.
s3_bucket_ready() {
  local code
  code="$(curl -s -o /dev/null -w '%{http_code}' -X PUT \
    --aws-sigv4 "aws:amz:$DBOP_S3_REGION:s3" --user "$DBOP_S3_ACCESS_KEY_ID:$DBOP_S3_SECRET_ACCESS_KEY" \
    "http://127.0.0.1:$DBOP_S3_PORT/$DBOP_S3_BUCKET")"
  [ "$code" = 200 ] || [ "$code" = 409 ]
}

# A CA of our own and a server certificate for 127.0.0.1, localhost, the virtual-host
# domain and its subdomains: HTTPS tests trust the CA explicitly, never the system.
make_s3_certificates() {
  local tls="$S3_DIR/tls"
  [ -f "$tls/server.pem" ] && [ -f "$tls/ca.pem" ] && return
  command -v openssl >/dev/null || die "openssl not found (run ci/install.sh)"
  mkdir -p "$tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=db-operator test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$tls/ca-key.pem" -out "$tls/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$DBOP_S3_VHOST_DOMAIN" -keyout "$tls/server-key.pem" -out "$tls/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:%s,DNS:*.%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' \
    "$DBOP_S3_VHOST_DOMAIN" "$DBOP_S3_VHOST_DOMAIN" > "$tls/server.ext"
  openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca-key.pem" -CAcreateserial -days 3650 \
    -extfile "$tls/server.ext" -out "$tls/server.pem" 2>/dev/null
  chmod 600 "$tls/ca-key.pem" "$tls/server-key.pem"
  log "seaweedfs: made a test CA and server certificate in $tls"
}

start_seaweedfs() {
  command -v weed >/dev/null || die "weed not found (run ci/install.sh)"
  if s3_running; then
    if port_open "$DBOP_S3_PORT" && port_open "$DBOP_S3_TLS_PORT"; then log "seaweedfs: already running, S3 on ports $DBOP_S3_PORT and $DBOP_S3_TLS_PORT (https)"; return; fi
    # Alive but not serving (half shut down by a SIGTERM it ignored): replace it.
    log "seaweedfs: process alive but an S3 port ($DBOP_S3_PORT, $DBOP_S3_TLS_PORT) closed; restarting it"
    stop_seaweedfs
  fi
  mkdir -p "$S3_DIR/data"
  cat > "$S3_DIR/s3.json" <<JSON
{"identities": [{"name": "dbop", "credentials": [{"accessKey": "$DBOP_S3_ACCESS_KEY_ID", "secretKey": "$DBOP_S3_SECRET_ACCESS_KEY"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
JSON
  chmod 600 "$S3_DIR/s3.json"
  make_s3_certificates
  # Many small volumes: overwritten and deleted data stays as garbage until a vacuum,
  # and big tests need room.
  setsid weed server -dir="$S3_DIR/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.port="$DBOP_WEED_MASTER_PORT" -master.port.grpc=$((DBOP_WEED_MASTER_PORT + 10000)) \
    -master.volumeSizeLimitMB=256 -master.telemetry=false \
    -volume.port="$DBOP_WEED_VOLUME_PORT" -volume.port.grpc=$((DBOP_WEED_VOLUME_PORT + 10000)) -volume.max=400 \
    -filer -filer.port="$DBOP_WEED_FILER_PORT" -filer.port.grpc=$((DBOP_WEED_FILER_PORT + 10000)) \
    -s3 -s3.port="$DBOP_S3_PORT" -s3.port.grpc=$((DBOP_S3_PORT + 10000)) -s3.config="$S3_DIR/s3.json" \
    -s3.port.https="$DBOP_S3_TLS_PORT" -s3.cert.file="$S3_DIR/tls/server.pem" -s3.key.file="$S3_DIR/tls/server-key.pem" \
    -s3.domainName="$DBOP_S3_VHOST_DOMAIN" \
    </dev/null >"$S3_DIR/server.log" 2>&1 &
  echo $! > "$S3_DIR/weed.pid"
  wait_until 90 s3_bucket_ready || { tail -n 30 "$S3_DIR/server.log" >&2; die "seaweedfs: S3 did not become ready"; }
  wait_until 30 port_open "$DBOP_S3_TLS_PORT" || { tail -n 30 "$S3_DIR/server.log" >&2; die "seaweedfs: S3 over HTTPS did not start on $DBOP_S3_TLS_PORT"; }
  log "seaweedfs: S3 ready on 127.0.0.1:$DBOP_S3_PORT and https://127.0.0.1:$DBOP_S3_TLS_PORT, bucket $DBOP_S3_BUCKET"
}

stop_seaweedfs() {
  local pid
  if s3_running; then
    pid="$(s3_pid)"
    # weed may ignore SIGTERM: give it a few seconds, then KILL its process group.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    wait_until 5 bash -c "! kill -0 $pid" || { kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; }
    wait_until 10 bash -c "! kill -0 $pid" || die "seaweedfs: process $pid survived SIGKILL"
    log "seaweedfs: stopped"
  fi
  rm -f "$S3_DIR/weed.pid"
}

# --- admins with a managed service's rights ---------------------------------

# Made on every start, so data directories from before get them too.
ensure_limited_admins() {
  local bin; bin="$(pg_bindir)"
  PGPASSWORD="$DBOP_PG_PASSWORD" "$bin/psql" -h 127.0.0.1 -p "$DBOP_PG_PORT" -U "$DBOP_PG_USER" -d postgres -q -v ON_ERROR_STOP=1 \
    -v user="$DBOP_PG_LIMITED_USER" -v password="$DBOP_PG_LIMITED_PASSWORD" >/dev/null <<'SQL' || die "postgresql: cannot create the limited admin"
SELECT format('CREATE ROLE %I LOGIN CREATEDB CREATEROLE PASSWORD %L', :'user', :'password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \gexec
SELECT format('ALTER ROLE %I LOGIN NOSUPERUSER CREATEDB CREATEROLE PASSWORD %L', :'user', :'password') \gexec
SQL
  mariadb --no-defaults --socket="$MY_DIR/run/mariadbd.sock" -uroot <<SQL || die "mariadb: cannot create the limited admin"
CREATE USER IF NOT EXISTS '$DBOP_MYSQL_LIMITED_USER'@'%' IDENTIFIED BY '$DBOP_MYSQL_LIMITED_PASSWORD';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, RELOAD, PROCESS, REFERENCES, INDEX, ALTER, SHOW DATABASES,
  CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, REPLICATION SLAVE, REPLICATION CLIENT, CREATE VIEW, SHOW VIEW,
  CREATE ROUTINE, ALTER ROUTINE, CREATE USER, EVENT, TRIGGER ON *.* TO '$DBOP_MYSQL_LIMITED_USER'@'%' WITH GRANT OPTION;
SQL
}

# --- env file ----------------------------------------------------------------

write_env() {
  local tmp="$DBOP_ENV_FILE.tmp"
  cat > "$tmp" <<ENV
# Written by ci/services.sh: the services the tests and db-operator dev use.
DBOP_PG_HOST=127.0.0.1
DBOP_PG_PORT=$DBOP_PG_PORT
DBOP_PG_USER=$DBOP_PG_USER
DBOP_PG_PASSWORD=$DBOP_PG_PASSWORD
DBOP_PG_LIMITED_USER=$DBOP_PG_LIMITED_USER
DBOP_PG_LIMITED_PASSWORD=$DBOP_PG_LIMITED_PASSWORD
DBOP_MYSQL_HOST=127.0.0.1
DBOP_MYSQL_PORT=$DBOP_MYSQL_PORT
DBOP_MYSQL_USER=$DBOP_MYSQL_USER
DBOP_MYSQL_PASSWORD=$DBOP_MYSQL_PASSWORD
DBOP_MYSQL_LIMITED_USER=$DBOP_MYSQL_LIMITED_USER
DBOP_MYSQL_LIMITED_PASSWORD=$DBOP_MYSQL_LIMITED_PASSWORD
DBOP_S3_ENDPOINT=http://127.0.0.1:$DBOP_S3_PORT
DBOP_S3_REGION=$DBOP_S3_REGION
DBOP_S3_BUCKET=$DBOP_S3_BUCKET
DBOP_S3_ACCESS_KEY_ID=$DBOP_S3_ACCESS_KEY_ID
DBOP_S3_SECRET_ACCESS_KEY=$DBOP_S3_SECRET_ACCESS_KEY
DBOP_S3_TLS_ENDPOINT=https://127.0.0.1:$DBOP_S3_TLS_PORT
DBOP_S3_CA_FILE=$S3_DIR/tls/ca.pem
DBOP_S3_VHOST_DOMAIN=$DBOP_S3_VHOST_DOMAIN
DBOP_KUBECTL=$(command -v kubectl)
DBOP_AWS=$(command -v aws || true)
DBOP_PYTHON=$(python3 -c 'import kubernetes, sys; print(sys.executable)' 2>/dev/null || true)
ENV
  chmod 644 "$tmp"
  mv "$tmp" "$DBOP_ENV_FILE"
}

status() {
  pg_running && echo "postgresql: running on 127.0.0.1:$DBOP_PG_PORT" || echo "postgresql: stopped"
  my_running && echo "mariadb: running on 127.0.0.1:$DBOP_MYSQL_PORT" || echo "mariadb: stopped"
  s3_running && echo "seaweedfs: running, S3 on 127.0.0.1:$DBOP_S3_PORT" || echo "seaweedfs: stopped"
}

case "${1:-}" in
  start)
    prepare_state_dir
    start_postgres
    start_mariadb
    start_seaweedfs
    ensure_limited_admins
    write_env
    log "env file: $DBOP_ENV_FILE"
    ;;
  stop) stop_seaweedfs; stop_mariadb; stop_postgres ;;
  restart) "$0" stop; "$0" start ;;
  # Tests of crash convergence restart one server under a running backup.
  restart-postgresql) stop_postgres; start_postgres ;;
  reset) "$0" stop; rm -rf "$DBOP_STATE_DIR"; log "removed $DBOP_STATE_DIR" ;;
  status) status ;;
  env) cat "$DBOP_ENV_FILE" ;;
  *) echo "usage: $0 start|stop|restart|restart-postgresql|reset|status|env" >&2; exit 2 ;;
esac
