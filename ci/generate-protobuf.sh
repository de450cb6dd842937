#!/usr/bin/env bash
# Regenerates FakeAPIServer/Sources/FakeAPIServer/k8s.pb.swift from
# FakeAPIServer/Protobuf/k8s.proto. The output is committed: builds never run protoc.
# Needs protoc (apt: protobuf-compiler) and builds swift-protobuf's protoc-gen-swift
# at the version Package.swift resolves to, in a scratch folder.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$DBOP_ROOT"

command -v protoc >/dev/null || die "protoc not found (apt-get install protobuf-compiler)"
version="$(swift package show-dependencies --format json | python3 -c 'import json,sys
def walk(d):
    for x in d.get("dependencies", []):
        if x["identity"] == "swift-protobuf": print(x["version"]); sys.exit()
        walk(x)
walk(json.load(sys.stdin))')"
scratch="${TMPDIR:-/tmp}/db-operator-protoc-gen-swift-$version"
if [ ! -x "$scratch/.build/release/protoc-gen-swift" ]; then
  rm -rf "$scratch"
  git clone -q --branch "$version" https://github.com/apple/swift-protobuf "$scratch"
  (cd "$scratch" && swift build -c release --product protoc-gen-swift)
fi
protoc --plugin=protoc-gen-swift="$scratch/.build/release/protoc-gen-swift" \
  --swift_out=FakeAPIServer/Sources/FakeAPIServer --swift_opt=Visibility=Internal \
  -I FakeAPIServer/Protobuf FakeAPIServer/Protobuf/k8s.proto
log "wrote FakeAPIServer/Sources/FakeAPIServer/k8s.pb.swift with protoc-gen-swift $version"
