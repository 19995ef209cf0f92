#!/usr/bin/env bash
# Runs critest (cri-tools v1.37.0, the shared offline kit in ../shared/cri) against a berthd of this
# tree that the script starts on private roots, and prints critest's tally last.
#
#   hack/critest.sh [extra critest / --ginkgo.* args]
#
# What it sets up, as ../shared/cri/README.md asks of an engine under test:
#   - mirrors: hosts.toml files mapping registry.k8s.io, k8s.gcr.io and gcr.io to the kit's registry
#     (http://$REGISTRY_ADDR, started by prepare-images.sh unless one answers there), image names kept;
#   - CNI: bridge ($CNI_BRIDGE, $CNI_SUBNET, no masquerade) + host-local + portmap from $CNI_BIN_DIR;
#   - the sandbox image registry.k8s.io/pause:3.9 (the kit's stand-in).
# Everything it starts it stops by PID, and it removes the bridge, the roots and the portmap chains
# it made, also when critest fails.
#
# Env (defaults): CRI_KIT (../shared/cri beside the repo), CRI_KIT_WORK (/var/tmp/berth-cri),
#   BERTHD (bin/berthd), CNI_BIN_DIR (/usr/lib/cni, else /opt/cni/bin), CNI_BRIDGE (brcrit0),
#   CNI_SUBNET (10.88.78.0/24), REGISTRY_ADDR (127.0.0.1:5000), KNOWN (integration/cri/known.txt:
#   specs expected to fail here, one regex-free spec name per line, # comments); CGROUP_DRIVER
#   (cgroupfs; systemd runs berthd with exec-opt native.cgroupdriver=systemd, and critest then
#   asks for the slice test.slice), SYSTEMD_PID (none: a private systemd from
#   hack/private-systemd.sh start, whose PID and mount namespaces berthd runs in, where the
#   host's PID 1 is not systemd); and what run-critest.sh reads (CRITEST_FOCUS,
#   CRITEST_EXTRA_SKIP, ...).
# Exit status: 0 when every failed spec is listed in KNOWN, 1 otherwise.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CRI_KIT=${CRI_KIT:-$repo/../shared/cri}
export CRI_KIT_WORK=${CRI_KIT_WORK:-/var/tmp/berth-cri}
BERTHD=${BERTHD:-$repo/bin/berthd}
if [ -z "${CNI_BIN_DIR:-}" ]; then
	for d in /usr/lib/cni /opt/cni/bin; do [ -x "$d/bridge" ] && { CNI_BIN_DIR=$d; break; }; done
fi
[ -n "${CNI_BIN_DIR:-}" ] || { echo "critest: no CNI plugins (apt-get install containernetworking-plugins)" >&2; exit 1; }
CNI_BRIDGE=${CNI_BRIDGE:-brcrit0}
CNI_SUBNET=${CNI_SUBNET:-10.88.78.0/24}
export REGISTRY_ADDR=${REGISTRY_ADDR:-127.0.0.1:5000}
KNOWN=${KNOWN:-$repo/integration/cri/known.txt}
CGROUP_DRIVER=${CGROUP_DRIVER:-cgroupfs}

log() { echo "[critest] $*" >&2; }

mkdir -p "$CRI_KIT_WORK"
"$CRI_KIT/build-tools.sh" "$CRI_KIT_WORK" >/dev/null
# A registry that already answers is someone else's: leave it running after.
own_registry=1
curl -sf -o /dev/null "http://$REGISTRY_ADDR/v2/" && own_registry=0
"$CRI_KIT/prepare-images.sh" up "$CRI_KIT_WORK" >&2

root=$(mktemp -d /tmp/berth-critest.XXXXXX)
pid=
# portmap_chains_cleanup removes portmap's top-level nat chains, only when
# they hold nothing but portmap's own static rules (no pod uses them).
portmap_chains_cleanup() {
	iptables -t nat -S 2>/dev/null | grep -q -- '^-N CNI-DN-' && return
	local pair chain parent spec
	for pair in "CNI-HOSTPORT-DNAT:PREROUTING OUTPUT" "CNI-HOSTPORT-MASQ:POSTROUTING" "CNI-HOSTPORT-SETMARK:"; do
		chain=${pair%%:*}
		iptables -t nat -S "$chain" >/dev/null 2>&1 || continue
		if iptables -t nat -S "$chain" | grep -v -e "^-N $chain\$" -e 'CNI portfwd masquerade mark' \
			-e "^-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE" | grep -q .; then
			continue
		fi
		for parent in ${pair#*:}; do
			while spec=$(iptables -t nat -S "$parent" | grep -- "-j $chain\$" | head -1) && [ -n "$spec" ]; do
				eval "iptables -t nat -D ${spec#-A }" || break
			done
		done
		iptables -t nat -F "$chain" && iptables -t nat -X "$chain" 2>/dev/null || true
	done
}

cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		# Pods critest left go first, so that CNI DEL runs for them.
		"$CRI_KIT_WORK/bin/crictl" --runtime-endpoint "unix://$root/exec/cri.sock" --timeout 60s rmp -fa >/dev/null 2>&1 || true
		kill -TERM "$pid"
		for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
	fi
	ip link del "$CNI_BRIDGE" 2>/dev/null || true
	portmap_chains_cleanup
	# critest's cgroup parent; rmdir removes it only when empty.
	rmdir /sys/fs/cgroup/*/test.slice /sys/fs/cgroup/test.slice 2>/dev/null || true
	{ grep -o " $root[^ ]*" /proc/self/mountinfo || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
	rm -rf "$root"
	if [ "$own_registry" = 1 ]; then "$CRI_KIT/prepare-images.sh" stop "$CRI_KIT_WORK" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

mkdir -p "$root/certs.d" "$root/net.d"
for h in registry.k8s.io k8s.gcr.io gcr.io; do
	mkdir -p "$root/certs.d/$h"
	cat >"$root/certs.d/$h/hosts.toml" <<EOF
server = "https://$h"

[host."http://$REGISTRY_ADDR"]
  capabilities = ["pull", "resolve"]
EOF
done
cat >"$root/net.d/10-critest.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "berth-critest",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$CNI_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$CNI_SUBNET"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$root/cni-state"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF

launch=("$BERTHD")
# nsenter forks into the PID namespace and waits: berthd is its child.
[ -n "${SYSTEMD_PID:-}" ] && launch=(nsenter --target "$SYSTEMD_PID" --pid --mount --wd="$PWD" -- "$BERTHD")
"${launch[@]}" --data-root "$root/data" --exec-root "$root/exec" -H "unix://$root/docker.sock" \
	--pidfile "$root/berthd.pid" --bridge none --exec-opt "native.cgroupdriver=$CGROUP_DRIVER" \
	--cni-conf-dir "$root/net.d" --cni-bin-dir "$CNI_BIN_DIR" \
	--registry-config-dir "$root/certs.d" --pod-sandbox-image registry.k8s.io/pause:3.9 \
	>"$CRI_KIT_WORK/berthd-critest.log" 2>&1 &
pid=$!
if [ -n "${SYSTEMD_PID:-}" ]; then
	for _ in $(seq 1 100); do
		child=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null || true)
		[ -n "$child" ] && { pid=${child%% *}; break; }
		sleep 0.05
	done
fi
for _ in $(seq 1 100); do [ -S "$root/exec/cri.sock" ] && break; sleep 0.1; done
[ -S "$root/exec/cri.sock" ] || { log "berthd did not open its CRI socket; log: $CRI_KIT_WORK/berthd-critest.log"; exit 1; }

export CRITEST_LOG=$CRI_KIT_WORK/critest-berth.log REPORT_DIR=$CRI_KIT_WORK/report-berth
# critest makes mounts on "the host" for the propagation specs: beside a private systemd,
# the host is the mount namespace berthd shares with it.
critest_in=()
[ -n "${SYSTEMD_PID:-}" ] && critest_in=(nsenter --target "$SYSTEMD_PID" --mount --wd="$PWD" --)
set +e
"${critest_in[@]}" "$CRI_KIT/run-critest.sh" "unix://$root/exec/cri.sock" "$@"
set -e

# Judge: every failure must be a known one.
[ -s "$REPORT_DIR/junit.xml" ] || { log "no junit report: critest did not run"; exit 1; }
unexpected=$(python3 "$CRI_KIT/tally.py" "$REPORT_DIR/junit.xml" | sed -n 's/^FAIL  \(.*\) :: .*/\1/p' |
	while read -r spec; do grep -qxF -- "$spec" <(grep -v '^#' "$KNOWN" 2>/dev/null | sed 's/ *#.*//') || echo "$spec"; done)
if [ -n "$unexpected" ]; then
	log "failures not listed in $KNOWN:"
	echo "$unexpected" >&2
	exit 1
fi
log "every failure is known (integration/cri/known.txt)"
