#!/usr/bin/env bash
# A/B of sequential `docker run -d` between two berthd binaries, alternating
# fresh daemons round by round so that both see the same machine: on a noisy
# machine a change of a few milliseconds per start only shows this way.
# Usage: hack/ab-run-d.sh OLD_BERTHD NEW_BERTHD [ROUNDS] [N]
set -uo pipefail
old=${1:?old berthd binary}; new=${2:?new berthd binary}
rounds=${3:-3}; n=${4:-40}
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/berth-ab.XXXXXX)
bridge="btab$(( $$ % 100000 ))"
pid=
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  grep -o " $work[^ ]*" /proc/self/mountinfo 2>/dev/null | sort -r | xargs -r -n1 umount -l 2>/dev/null
  ip link del "$bridge" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
python3 "$top/../shared/acceptance/mkimage.py" "$work/bb.tar" abbox:latest >/dev/null
for round in $(seq "$rounds"); do
  for which in old new; do
    bin=$old; [ "$which" = new ] && bin=$new
    root=$work/$which; rm -rf "$root"; mkdir -p "$root"; echo '{}' > "$root/daemon.json"
    "$bin" -H "unix://$root/d.sock" --data-root "$root/data" --exec-root "$root/exec" \
      --pidfile "$root/d.pid" --config-file "$root/daemon.json" --bridge "$bridge" >"$root/log" 2>&1 &
    pid=$!
    for _ in $(seq 200); do curl -sf --unix-socket "$root/d.sock" http://x/_ping >/dev/null && break; sleep 0.05; done
    export DOCKER_HOST="unix://$root/d.sock" DOCKER_CONFIG="$root/cli"
    docker load -i "$work/bb.tar" >/dev/null
    docker run -d --pull=never --name warmup abbox true >/dev/null
    s=$(date +%s.%N)
    for i in $(seq "$n"); do docker run -d --pull=never --name "b$i" abbox sleep 3600 >/dev/null; done
    e=$(date +%s.%N)
    printf '%s round %d: %s /s\n' "$which" "$round" "$(echo "$n / ($e - $s)" | bc -l | cut -c1-6)"
    docker rm -f $(docker ps -aq) >/dev/null
    kill -TERM "$pid"; wait "$pid" 2>/dev/null; pid=
  done
done
