#!/usr/bin/env bash
# Runs moby's own integration suite (../shared/compat/moby-integration.sh)
# against a freshly started berthd on private roots, socket and bridge, and
# stops it afterwards by its PID.
# Usage: MOBY_SRC=/path/to/moby [COMPAT_RUN=regexp] hack/compat.sh [COMPONENTS...]
# COMPAT_RUN runs only the tests whose names match (go test's -run), for
# work on a few tests; the tally then counts those alone.
# MOBY_SRC is a checkout of github.com/moby/moby with its vendor/ tree, kept
# outside this repository. COMPAT_OUT (default /tmp/berth-compat) keeps the
# built test binaries between runs and the per-component logs. The tally is
# printed per component, then the failures not listed in
# integration/compat/moby-known.txt.
# Many of the suite's tests start daemons of their own with the `dockerd`
# found on PATH and a dockerd command line; berthd is put there under that
# name (COMPAT_DOCKERD=system keeps the host's dockerd instead), so those
# tests run against berthd too.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
suite=${COMPAT_SUITE:-$top/../shared/compat/moby-integration.sh}
src=${MOBY_SRC:?set MOBY_SRC to a moby checkout}
out=${COMPAT_OUT:-/tmp/berth-compat}
comps=${*:-container image network networking volume system build}
if [ ! -f "$suite" ]; then echo "no compat suite at $suite" >&2; exit 2; fi
if [ ! -d "$src/integration" ] || [ ! -d "$src/vendor" ]; then
	echo "MOBY_SRC=$src is not a moby checkout with its vendor tree" >&2; exit 2
fi
mkdir -p "$out"
# One run at a time on this machine: the suite's own daemons all use the
# default bridge docker0 and its pool, and this script's bridge and address
# are fixed, so two runs side by side would fight over them.
exec 9>/run/berth-compat.lock
if ! flock -n 9; then echo "waiting for another compat run (/run/berth-compat.lock)" >&2; flock 9; fi
root=$(mktemp -d /tmp/berth-compat.XXXXXX)
echo '{}' > "$root/daemon.json"
mkdir -p "$root/bin"
if [ "${COMPAT_DOCKERD:-berthd}" = berthd ]; then
	ln -s "$top/bin/berthd" "$root/bin/dockerd"
fi
# The suite's own daemons use the default bridge, docker0: removed at the
# end unless it was there before.
had_docker0=false
ip link show docker0 >/dev/null 2>&1 && had_docker0=true
# No registry off this machine is ever reached: non-loopback requests go to
# a proxy address where nothing listens.
HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY=localhost,127.0.0.1,::1 \
"$top/bin/berthd" -H "unix://$root/d.sock" --data-root "$root/data" --exec-root "$root/exec" \
	--pidfile "$root/d.pid" --config-file "$root/daemon.json" --bridge btcompat0 --bip 10.213.0.1/24 >"$root/berthd.log" 2>&1 9>&- &
pid=$!
cleanup() {
	kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	# A daemon the suite started and a failed test left running (its
	# pidfile is under dest/): stopped by its PID if it is this run's
	# berthd, then given a moment to end.
	find "$out/dest" -maxdepth 4 -name docker.pid 2>/dev/null | while read -r f; do
		p=$(cat "$f" 2>/dev/null)
		[ -n "$p" ] && tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q "^$root/bin/dockerd " && kill -TERM "$p" 2>/dev/null
	done
	sleep 1
	cp "$root/berthd.log" "$out/berthd.log" 2>/dev/null
	grep -oE " ($root|$out/dest|/tmp/dxr)/[^ ]*" /proc/self/mountinfo 2>/dev/null | sort -r | xargs -r -n1 umount -l 2>/dev/null
	ip link del btcompat0 2>/dev/null
	$had_docker0 || ip link del docker0 2>/dev/null
	# The suite's own daemons stopped with live-restore leave their
	# nftables table (berth-<hash of the data root>) and bridges behind,
	# and so does this script's daemon for the networks tests left on it
	# (a daemon keeps its networks' bridges when it stops, as dockerd
	# does): on the default pools, a few runs' worth would exhaust them.
	{ echo "$root/data"; find "$out/dest" -maxdepth 5 -type d -name root 2>/dev/null; } | while read -r r; do
		t="berth-$(printf '%s' "$r" | sha256sum | cut -c1-8)"
		nft delete table inet "$t" 2>/dev/null
		nft delete table inet "$t-user" 2>/dev/null
		cat "$r"/network/networks/*.json 2>/dev/null | grep -o '"bridge":"br-[0-9a-f]*"' | cut -d'"' -f4 |
			while read -r b; do ip link del "$b" 2>/dev/null; done
	done
	rm -rf "$root"
}
trap cleanup EXIT
for _ in $(seq 200); do curl -sf --unix-socket "$root/d.sock" http://x/_ping >/dev/null && break; sleep 0.05; done
# The suite's own clean-up between tests only spares what existed when it
# started, so each component sees the daemon as the previous one left it.
# berth's firewall is nftables, always: DOCKER_FIREWALL_BACKEND is the
# suite's way of saying which backend the daemon under test uses (its
# default is iptables).
export PATH="$root/bin:$PATH" DOCKER_HOST="unix://$root/d.sock" DOCKER_CONFIG="$root/cli" DOCKER_FIREWALL_BACKEND=nftables
# berth's image store is the graphdriver kind (overlay2 layers, an image's
# ID is its config digest, one platform per image), so the suite is told
# so, as moby's own CI tells it for its graphdriver runs; its default is the
# containerd image store. COMPAT_STORE=snapshotter runs it the default way.
if [ "${COMPAT_STORE:-graphdriver}" = graphdriver ]; then export TEST_INTEGRATION_USE_GRAPHDRIVER=1; fi
if [ -n "${COMPAT_RUN:-}" ]; then
	# The shared script's steps, with -test.run: load the frozen image
	# names, build each component's binary once, run the matching tests.
	export DOCKER_REMOTE_DAEMON=1 DOCKER_INTEGRATION_DAEMON_DEST="$out/dest"
	mkdir -p "$out/dest"
	python3 "$(dirname "$suite")/../acceptance/mkimage.py" "$out/bb.tar" busybox:latest >/dev/null
	docker load -i "$out/bb.tar" >/dev/null
	for t in busybox:glibc debian:trixie-slim hello-world:frozen hello-world:amd64 hello-world:arm64 hello-world:latest; do
		docker tag busybox:latest "$t"
	done
	for c in $comps; do
		mkdir -p "$(dirname "$out/$c.test")"
		[ -x "$out/$c.test" ] || (cd "$src" && GOFLAGS=-mod=vendor go test -c -o "$out/$c.test" "./integration/$c/") ||
			{ echo "$c: build failed"; continue; }
		(cd "$src/integration/$c" && timeout 1500 "$out/$c.test" -test.v -test.timeout 1450s -test.run "$COMPAT_RUN" >"$out/$c.log" 2>&1 9>&-)
		p=$(grep -c -- '^--- PASS' "$out/$c.log"); f=$(grep -c -- '^--- FAIL' "$out/$c.log"); s=$(grep -c -- '^--- SKIP' "$out/$c.log")
		echo "$c: $p passed, $f failed, $s skipped (log $out/$c.log)"
	done
else
	bash "$suite" "$src" "$out" $comps 9>&-
fi
known="$top/integration/compat/moby-known.txt"
echo "---- failures not in ${known#$top/}:"
unknown=$(for c in $comps; do
	{ grep -o -- '^--- FAIL: [^ ]*' "$out/$c.log" 2>/dev/null || true; } | sed "s/^--- FAIL: //;s|^|$c |"
done | while read -r c t; do
	grep -qE "^$c $t( |\$)" "$known" 2>/dev/null || echo "$c $t"
done)
# A clean run exits 0 and one with a failure nobody explained exits 1.
[ -z "$unknown" ] || { echo "$unknown"; exit 1; }
