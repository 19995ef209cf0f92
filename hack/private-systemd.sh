#!/usr/bin/env bash
# A private systemd for tests and benchmarks of the systemd cgroup driver on a machine whose
# PID 1 is not systemd (or must not be touched): systemd as PID 1 of a new PID, mount and UTS
# namespace, with a /run of its own holding a D-Bus system bus (dbus-daemon), booting a target
# that wants nothing but that bus. Its cgroup tree lives in one new cgroup on every hierarchy,
# which it takes for its root; nothing of the host's cgroups outside that subtree is touched.
#
#   hack/private-systemd.sh start      prints "PID CGROUP" once the bus answers
#   hack/private-systemd.sh stop PID CGROUP
#   hack/private-systemd.sh sweep CGROUP    removes CGROUP wherever it is left (after a run)
#   hack/private-systemd.sh run CGROUP [v2]
#       execs the namespaces' launcher in the foreground, for a caller that waits for the bus,
#       kills systemd by PID, reaps this process and removes CGROUP itself (privsystemd); v2 mounts
#       the unified hierarchy on /sys/fs/cgroup in its namespaces first (a v1 host seen as v2)
#
# systemd takes the PIDs a client hands it (a scope's first process) as PIDs of its own
# namespace: a berthd using it runs in its PID and mount namespaces (harness.Options.EnterPid,
# hack/bench -systemd-pid PID). Its bus, from outside: unix:path=/proc/PID/root/run/dbus/system_bus_socket.
# stop SIGKILLs systemd, which ends every process of its namespace, and removes the cgroups.
set -euo pipefail

for p in /lib/systemd/systemd /usr/bin/dbus-daemon /usr/bin/busctl /usr/bin/unshare; do
	[ -e "$p" ] || { echo "private-systemd: $p is missing (hack/install-deps.sh installs it)" >&2; exit 1; }
done

inner='set -e
cg=$1 units=$2 mode=$3
# v2 on a v1 host: the unified hierarchy on /sys/fs/cgroup in these namespaces, so that
# systemd, and a daemon that joins them, take the host for a v2 one (without controllers).
hierarchies=$(findmnt -rn -t cgroup,cgroup2 -o TARGET)
if [ "$mode" = v2 ]; then
	mount -t cgroup2 none /sys/fs/cgroup
	hierarchies=/sys/fs/cgroup
fi
for h in $hierarchies; do
	h=$h/
	[ -e "$h/cgroup.procs" ] || continue
	mkdir -p "$h$cg"
	# A v1 cpuset takes no task until it has cpus and mems.
	if [ -e "$h/cpuset.cpus" ] && [ ! -e "$h/cgroup.controllers" ]; then
		cat "$h/cpuset.cpus" >"$h$cg/cpuset.cpus"; cat "$h/cpuset.mems" >"$h$cg/cpuset.mems"
	fi
	echo $$ >"$h$cg/cgroup.procs"
done
mount -t proc proc /proc
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/systemd/system
cp "$units"/* /run/systemd/system/
rm -rf "$units"
export container=berth-test
exec /lib/systemd/systemd --system --unit=berth-test.target --log-level=warning'

# The host's /sys/fs/cgroup is one tmpfs superblock in every mount namespace: the private
# systemd's remount of it read-only and the entries it makes there (cpu,cpuacct, perf_event,
# net_cls…) reach the host. keep_host notes how it was before a start; restore_host puts it back
# after the stop: read-write again if it was, and without the empty directories and symlinks
# that were not there (never a mount point).
keep_host() {
	{ findmnt -no OPTIONS /sys/fs/cgroup | tr ',' '\n' | grep -qx ro && echo ro || echo rw
	  ls -A /sys/fs/cgroup; } >"/tmp/$1.host"
}

restore_host() {
	local state="/tmp$1.host" e
	[ -f "$state" ] || return 0
	if [ "$(head -1 "$state")" = rw ] && findmnt -no OPTIONS /sys/fs/cgroup | tr ',' '\n' | grep -qx ro; then
		mount -o remount,rw /sys/fs/cgroup
	fi
	for e in $(ls -A /sys/fs/cgroup); do
		tail -n +2 "$state" | grep -qxF "$e" && continue
		mountpoint -q "/sys/fs/cgroup/$e" && continue
		if [ -L "/sys/fs/cgroup/$e" ]; then rm -f "/sys/fs/cgroup/$e"; else rmdir "/sys/fs/cgroup/$e" 2>/dev/null || true; fi
	done
	rm -f "$state"
}

# units writes the private manager's units into a new directory and prints its path.
units() {
	local units
	units=$(mktemp -d /tmp/berth-systemd-units.XXXXXX)
	printf '[Unit]\nDescription=berth test system\nWants=dbus.socket\n' >"$units/berth-test.target"
	# Debian's bus units without default dependencies: there is no sysinit.target.
	printf '[Unit]\nDescription=D-Bus System Message Bus Socket\nDefaultDependencies=no\n[Socket]\nListenStream=/run/dbus/system_bus_socket\n' >"$units/dbus.socket"
	printf '[Unit]\nDescription=D-Bus System Message Bus\nDefaultDependencies=no\nRequires=dbus.socket\n[Service]\nType=notify\nNotifyAccess=main\nExecStart=/usr/bin/dbus-daemon --system --address=systemd: --nofork --nopidfile --systemd-activation --nosyslog\n' >"$units/dbus.service"
	echo "$units"
}

start() {
	local cg units pid=0 launcher
	cg=berth-systemd-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
	units=$(units)
	keep_host "$cg"
	setsid unshare --pid --fork --mount --uts --propagation slave sh -c "$inner" sh "$cg" "$units" "" \
		</dev/null >"/tmp/$cg.log" 2>&1 &
	launcher=$!
	for _ in $(seq 1 400); do
		if [ "$pid" = 0 ]; then
			pid=$(cat "/proc/$launcher/task/$launcher/children" 2>/dev/null | awk '{print $1}')
			[ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = systemd ] || pid=0
		fi
		if [ "$pid" != 0 ] && busctl --address="unix:path=/proc/$pid/root/run/dbus/system_bus_socket" \
			get-property org.freedesktop.systemd1 /org/freedesktop/systemd1 org.freedesktop.systemd1.Manager Version >/dev/null 2>&1; then
			echo "$pid /$cg"
			return 0
		fi
		sleep 0.05
	done
	echo "private-systemd: no answer on the bus (pid $pid); log /tmp/$cg.log:" >&2
	cat "/tmp/$cg.log" >&2
	[ "$pid" != 0 ] && kill -KILL "$pid"
	kill -KILL "$launcher" 2>/dev/null || true
	stop_cgroups "/$cg"
	return 1
}

# stop_cgroups removes the cgroup and those below it on every hierarchy, deepest first; the
# processes of a killed namespace take a moment to leave them.
stop_cgroups() {
	local cg=$1 d left
	for _ in $(seq 1 250); do
		left=$(find /sys/fs/cgroup/*"$cg" /sys/fs/cgroup"$cg" -depth -type d 2>/dev/null || true)
		[ -n "$left" ] || break
		for d in $left; do rmdir "$d" 2>/dev/null || true; done
		sleep 0.02
	done
	stop_unmounted "$cg"
	restore_host "$cg"
	rm -f "/tmp${cg}.log"
}

# stop_unmounted removes the cgroup from the v1 hierarchies systemd mounted that the host does
# not (perf_event, net_cls,net_prio): mounted for a moment in a directory of this run's, so that
# each such hierarchy, left with no cgroup and no mount, goes away as it came.
stop_unmounted() {
	local cg=$1 opts first dir d
	# One line per hierarchy: its controllers, comma-separated, as mount -o wants them.
	for opts in $(awk 'NR > 1 && $2 != 0 && $4 == 1 {h[$2] = h[$2] ? h[$2] "," $1 : $1} END {for (i in h) print h[i]}' /proc/cgroups); do
		first=${opts%%,*}
		findmnt -rn -t cgroup -o OPTIONS | tr ',' '\n' | grep -qx "$first" && continue
		dir=$(mktemp -d /tmp/berth-sdcg.XXXXXX)
		if mount -t cgroup -o "$opts" none "$dir" 2>/dev/null; then
			for d in $(find "$dir$cg" -depth -type d 2>/dev/null); do rmdir "$d" 2>/dev/null || true; done
			umount "$dir"
		fi
		rmdir "$dir"
	done
}

case "${1:-}" in
start) start ;;
run)
	[ $# -ge 2 ] || { echo "usage: $0 run CGROUP [v2]" >&2; exit 2; }
	keep_host "${2#/}"
	exec unshare --pid --fork --mount --uts --propagation slave sh -c "$inner" sh "${2#/}" "$(units)" "${3:-}"
	;;
sweep)
	# What a caller that stopped systemd itself (privsystemd) cannot see: the cgroup on the
	# hierarchies the host leaves unmounted, and its cgroups anywhere else.
	[ $# = 2 ] || { echo "usage: $0 sweep CGROUP" >&2; exit 2; }
	case "$2" in /berth-systemd-*) ;; *) echo "private-systemd: $2 is not one of its cgroups" >&2; exit 2 ;; esac
	stop_cgroups "$2"
	;;
stop)
	[ $# = 3 ] || { echo "usage: $0 stop PID CGROUP" >&2; exit 2; }
	case "$3" in /berth-systemd-*) ;; *) echo "private-systemd: $3 is not one of its cgroups" >&2; exit 2 ;; esac
	if [ "$(cat "/proc/$2/comm" 2>/dev/null)" = systemd ]; then kill -KILL "$2"; fi
	stop_cgroups "$3"
	;;
*) echo "usage: $0 start | stop PID CGROUP | sweep CGROUP | run CGROUP [v2]" >&2; exit 2 ;;
esac
