#!/usr/bin/env bash
# #15's dev-stack benchmark: on `db-operator dev` against the local PostgreSQL
# (RDS-like admin), (1) one Database at a time, M times: the time from its create
# request to phase Created (median, p90); (2) N Databases created at once: the time
# until all are Created, and the rate. Then deletes them (each is dropped).
#
#   ci/bench-create-burst.sh [N] [M]          (default 200 at once, 20 one at a time)
#   DBOP_BENCH_CONFIGURATION=debug ci/bench-create-burst.sh    (default: release)
#   DBOP_BENCH_BINARY=/path/to/db-operator ci/bench-create-burst.sh   (no build)
#   DBOP_BENCH_PG_MAJOR=18 ci/bench-create-burst.sh   (another local server: 15-18; default 15)
#
# The timing is the official Python client's: one at a time, by a watch opened
# before the first create; at once, by a list and a watch after the creates. No
# kubectl process start is counted.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$DBOP_ROOT"
count="${1:-200}" single="${2:-20}"
configuration="${DBOP_BENCH_CONFIGURATION:-release}"

bash ci/services.sh start >/dev/null
use_pip_scripts
set -a
# shellcheck disable=SC1090
source "$DBOP_ENV_FILE"
set +a
if [ -n "${DBOP_BENCH_BINARY:-}" ]; then
  bin="$DBOP_BENCH_BINARY" configuration="$DBOP_BENCH_BINARY"
else
  build_log="${TMPDIR:-/tmp}/db-operator-create-burst-build.log"
  swift build -c "$configuration" --product db-operator >"$build_log" 2>&1 || die "swift build failed: see $build_log"
  bin="$(swift build -c "$configuration" --show-bin-path)/db-operator"
fi
major="${DBOP_BENCH_PG_MAJOR:-}" pg_port="$DBOP_PG_PORT"
if [ -n "$major" ]; then
  pg_port=""
  for server in $DBOP_PG_SERVERS; do [ "${server%%:*}" = "$major" ] && pg_port="${server#*:}"; done
  [ -n "$pg_port" ] || die "DBOP_BENCH_PG_MAJOR=$major: no such local server (there are: $DBOP_PG_SERVERS)"
fi
export DBOP_BENCH_PG_PORT="$pg_port"
python="$(python3 -c 'import kubernetes, sys; print(sys.executable)' 2>/dev/null)" || die "the kubernetes Python client is missing: run ci/install.sh"
ns="create-$RANDOM"
start_dev_bench_stack "$bin" "${DBOP_BURST_PORT:-46544}" "$ns"
log "$configuration build; PostgreSQL on port $pg_port (${major:-the default server}); $single Databases one at a time, then $count at once"
NS="$ns" COUNT="$count" SINGLE="$single" "$python" - <<'PY'
import os, statistics, threading, time
from kubernetes import client, config, watch

config.load_kube_config()
api = client.CustomObjectsApi()
ns, count, single = os.environ["NS"], int(os.environ["COUNT"]), int(os.environ["SINGLE"])
group, version, plural = "dboperator.io", "v1alpha1", "databases"

def body(name, label):
    return {
        "apiVersion": f"{group}/{version}", "kind": "Database",
        "metadata": {"name": name, "labels": {"bench": label}},
        "spec": {
            "driver": "postgresql", "deletionPolicy": "Delete",
            "connect": {"host": os.environ["DBOP_PG_HOST"], "port": int(os.environ["DBOP_BENCH_PG_PORT"]), "sslMode": "disable"},
            "credentials": {
                "username": {"value": os.environ["DBOP_PG_LIMITED_USER"]},
                "password": {"valueFrom": {"secretKeyRef": {"name": "pg-admin", "key": "password"}}},
            },
        },
    }

def wait_created(names, since, label):
    """Seconds from `since` until each of `names` is Created, by a watch from the list."""
    pending, done = set(names), {}
    listed = api.list_namespaced_custom_object(group, version, ns, plural, label_selector=f"bench={label}")
    for item in listed["items"]:
        if item.get("status", {}).get("phase") == "Created" and item["metadata"]["name"] in pending:
            done[item["metadata"]["name"]] = time.monotonic() - since
            pending.discard(item["metadata"]["name"])
    rv = listed["metadata"]["resourceVersion"]
    while pending:
        stream = watch.Watch().stream(
            api.list_namespaced_custom_object, group, version, ns, plural, label_selector=f"bench={label}",
            resource_version=rv, timeout_seconds=600)
        for event in stream:
            item = event["object"]
            rv = item["metadata"]["resourceVersion"]
            name = item["metadata"]["name"]
            if name in pending and item.get("status", {}).get("phase") == "Created":
                done[name] = time.monotonic() - since
                pending.discard(name)
                if not pending:
                    break
    return done

# One at a time: a watch that is already open timestamps each Created as it arrives
# (no list or new watch per Database inside the timed window).
created_at, arrived = {}, threading.Condition()
def watch_singles(rv):
    while True:
        stream = watch.Watch().stream(
            api.list_namespaced_custom_object, group, version, ns, plural, label_selector="bench=one",
            resource_version=rv, timeout_seconds=600)
        for event in stream:
            item = event["object"]
            rv = item["metadata"]["resourceVersion"]
            if item.get("status", {}).get("phase") == "Created":
                with arrived:
                    created_at.setdefault(item["metadata"]["name"], time.monotonic())
                    arrived.notify_all()
start_rv = api.list_namespaced_custom_object(group, version, ns, plural, label_selector="bench=one")["metadata"]["resourceVersion"]
threading.Thread(target=watch_singles, args=(start_rv,), daemon=True).start()
latencies = []
for i in range(single):
    name = f"one-{i}"
    time.sleep(0.2)  # pacing between Databases (not timed): the previous Job's process is gone
    start = time.monotonic()
    api.create_namespaced_custom_object(group, version, ns, plural, body(name, "one"))
    with arrived:
        if not arrived.wait_for(lambda: name in created_at, timeout=600):
            raise SystemExit(f"{name} was not Created within 600 s")
        latencies.append(created_at[name] - start)
latencies.sort()
print(f"one at a time ({single}): median {statistics.median(latencies) * 1000:.0f} ms, "
      f"p90 {latencies[int(len(latencies) * 0.9) - 1] * 1000:.0f} ms, min {latencies[0] * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms")

names = [f"burst-{i}" for i in range(count)]
start = time.monotonic()
threads = []
def create(chunk):
    for name in chunk:
        api.create_namespaced_custom_object(group, version, ns, plural, body(name, "burst"))
for k in range(8):
    thread = threading.Thread(target=create, args=(names[k::8],))
    thread.start()
    threads.append(thread)
created_requests = None
for thread in threads:
    thread.join()
created_requests = time.monotonic() - start
done = wait_created(names, start, "burst")
total = max(done.values())
print(f"{count} at once: all Created in {total:.1f} s ({count / total:.1f} per second; the create requests took {created_requests:.1f} s; "
      f"median Database {statistics.median(done.values()):.1f} s)")
PY
"$kubectl" -n "$ns" delete databases --all --wait=false >/dev/null
"$kubectl" -n "$ns" wait --for=delete database --all --timeout=900s >/dev/null
log "deleted and dropped"
