#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing, starts the local services,
# builds, runs the unit tests, then the integration tests against real servers.
#
#   ci/test.sh                      everything, with the native services of ci/services.sh
#   DBOP_SERVICES=external DBOP_ENV_FILE=ci/compose.env ci/test.sh
#                                   against services you started yourself (docker compose)
#
# With CI=true a missing service fails its tests instead of skipping them, and the
# services this script started are stopped at the end.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$DBOP_ROOT"

services="${DBOP_SERVICES:-local}"
case "$services" in
  local)
    bash ci/install.sh
    bash ci/services.sh start
    if [ "${CI:-}" = true ]; then trap 'bash ci/services.sh stop' EXIT; fi
    ;;
  external)
    [ -f "$DBOP_ENV_FILE" ] || die "DBOP_SERVICES=external needs DBOP_ENV_FILE pointing at an env file (see README.md)"
    ;;
  *) die "DBOP_SERVICES must be local or external, not '$services'" ;;
esac
use_pip_scripts
set -a
# shellcheck disable=SC1090
source "$DBOP_ENV_FILE"
set +a
export DBOP_ENV_FILE
export DBOP_KUBECTL="${DBOP_KUBECTL:-$(command -v kubectl || true)}"
export DBOP_AWS="${DBOP_AWS:-$(command -v aws || true)}"
export DBOP_AGE="${DBOP_AGE:-$(command -v age || true)}"
export DBOP_PYTHON="${DBOP_PYTHON:-$(python3 -c 'import kubernetes, sys; print(sys.executable)' 2>/dev/null || true)}"

log "building"
swift build --build-tests
# The image, from the debug build just made (a release build would double the time):
# the container-mode tests run the Jobs in it with runc. It needs root.
if [ "$(id -u)" = 0 ]; then
  log "the image (ci/image.sh build, debug binary)"
  DBOP_IMAGE_CONFIGURATION=debug bash ci/image.sh build
  export DBOP_IMAGE_ARCHIVE="$DBOP_ROOT/.build/image/db-operator.oci.tar"
else
  log "not root: no image, the container-mode tests are skipped (or fail with CI=true)"
fi
export DBOP_RUNC="${DBOP_RUNC:-$(command -v runc || true)}"
log "unit tests"
env -u DBOP_RBAC_USAGE_DIR swift test --skip-build --filter UnitTests
log "fake API server: spec tests, kubectl and the Python client"
swift test --skip-build --filter FakeAPIServerTests
# The runs with RBAC on leave what deploy/rbac.yaml allowed them here; checked at the end.
export DBOP_RBAC_USAGE_DIR="$(mktemp -d "${TMPDIR:-/tmp}/db-operator-rbac-usage.XXXXXX")"
log "integration tests"
swift test --skip-build --filter IntegrationTests --skip ServerRestartTests
# Alone, because they restart a database server under the other tests' feet.
log "integration tests that restart a database server"
swift test --skip-build --filter ServerRestartTests
log "least privilege: every permission deploy/rbac.yaml grants was used above"
swift test --skip-build --filter RBACCoverageTests
rm -rf "$DBOP_RBAC_USAGE_DIR"
