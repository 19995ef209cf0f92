#!/usr/bin/env bash
# Runs the shared acceptance suite (../shared/acceptance/smoke.sh) against a
# freshly started berthd on private roots, socket and bridge, and stops it
# afterwards by its PID. Usage: hack/smoke.sh [PATTERN]. The suite's own
# summary line ("N passed, N failed") is the last thing printed; its
# per-scenario PASS/FAIL lines go to stdout for .ci/run to check.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
suite=${SMOKE_SUITE:-$top/../shared/acceptance/smoke.sh}
if [ ! -f "$suite" ]; then echo "no acceptance suite at $suite" >&2; exit 2; fi
root=$(mktemp -d /tmp/berth-smoke.XXXXXX)
echo '{}' > "$root/daemon.json"
# No registry off this machine is ever reached: non-loopback requests go to
# a proxy address where nothing listens (the suite's registry is loopback).
HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY=localhost,127.0.0.1,::1 \
"$top/bin/berthd" -H "unix://$root/d.sock" --data-root "$root/data" --exec-root "$root/exec" \
  --pidfile "$root/d.pid" --config-file "$root/daemon.json" --bridge btsmoke0 >"$root/berthd.log" 2>&1 &
pid=$!
cleanup() {
  kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  grep -o " $root[^ ]*" /proc/self/mountinfo 2>/dev/null | sort -r | xargs -r -n1 umount -l 2>/dev/null
  ip link del btsmoke0 2>/dev/null
  # A daemon keeps its networks' bridges when it stops (as dockerd does):
  # those a scenario left on the default pools would take them from every
  # later daemon on this host.
  cat "$root"/data/network/networks/*.json 2>/dev/null | grep -o '"bridge":"br-[0-9a-f]*"' | cut -d'"' -f4 |
    while read -r b; do ip link del "$b" 2>/dev/null; done
  rm -rf "$root"
}
trap cleanup EXIT
for _ in $(seq 200); do curl -sf --unix-socket "$root/d.sock" http://x/_ping >/dev/null && break; sleep 0.05; done
DOCKER_HOST="unix://$root/d.sock" DOCKER_CONFIG="$root/cli" bash "$suite" "${1:-.}"
rc=$?
[ $rc -eq 0 ] || { echo "---- berthd log tail"; tail -20 "$root/berthd.log"; } >&2
exit $rc
