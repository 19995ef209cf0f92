#!/usr/bin/env bash
# Container figures of DESIGN.md's budget table, through the real docker
# CLI: runs ../shared/acceptance/engine-bench.sh against a fresh berthd and,
# when /usr/sbin/dockerd exists, a fresh dockerd, each on private roots and
# sockets, in the same run, and prints them side by side.
# Usage: hack/bench-engine.sh [N]   (N containers for the run -d / rm -f figures, default 50)
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bench=${ENGINE_BENCH:-$top/../shared/acceptance/engine-bench.sh}
N=${1:-50}
[ -f "$bench" ] || { echo "no engine benchmark at $bench" >&2; exit 2; }
work=$(mktemp -d /tmp/berth-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  grep -o " $work[^ ]*" /proc/self/mountinfo 2>/dev/null | sort -r | xargs -r -n1 umount -l 2>/dev/null
  ip link del btbench1 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
python3 "$top/../shared/acceptance/mkimage.py" "$work/bb.tar" benchbox:latest >/dev/null

run_engine() { # name binary args...
  local name=$1; shift
  local root=$work/$name; mkdir -p "$root"; echo '{}' > "$root/daemon.json"
  "$@" -H "unix://$root/d.sock" --data-root "$root/data" --exec-root "$root/exec" \
    --pidfile "$root/d.pid" --config-file "$root/daemon.json" >"$root/log" 2>&1 &
  local pid=$!; pids+=("$pid")
  for _ in $(seq 600); do curl -sf --unix-socket "$root/d.sock" http://x/_ping >/dev/null && break; sleep 0.05; done
  export DOCKER_HOST="unix://$root/d.sock" DOCKER_CONFIG="$root/cli"
  docker load -i "$work/bb.tar" >/dev/null
  DAEMON_PID=$pid bash "$bench" benchbox "$N" > "$root/figures" 2>"$root/bench.err"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null
}
run_engine berthd "$top/bin/berthd" --bridge btbench1
if [ -x /usr/sbin/dockerd ]; then
  run_engine dockerd /usr/sbin/dockerd --bridge=none --iptables=false --ip6tables=false
fi
printf '%-28s %14s %14s\n' figure berthd dockerd
while read -r k v; do
  dv=$(awk -v k="$k" '$1==k{print $2}' "$work/dockerd/figures" 2>/dev/null)
  printf '%-28s %14s %14s\n' "$k" "$v" "${dv:--}"
done < "$work/berthd/figures"
