#!/usr/bin/env bash
# Installs what berth's tests, benchmark and acceptance run need on a Debian
# machine, as root. Idempotent and quick when everything is present.
# Debian packages are named here, in one place; the Go toolchain is the one
# at /usr/local/go (see README).
set -euo pipefail

need_pkgs=()
have() { command -v "$1" >/dev/null 2>&1; }
want() { # want COMMAND_OR_PATH PACKAGE
  case "$1" in
    /*) [ -e "$1" ] || need_pkgs+=("$2") ;;
    *) have "$1" || need_pkgs+=("$2") ;;
  esac
}

want /bin/busybox busybox-static      # the test image's only binary
want docker-registry docker-registry  # local registry for push/pull tests
want curl curl                        # acceptance suite, socket tests
# moby compat suite: pings from a simulated remote host with GNU long options
# (--numeric --count --timeout), which Debian's iputils ping lacks
dpkg -s inetutils-ping >/dev/null 2>&1 || need_pkgs+=(inetutils-ping)
want nc netcat-openbsd                # moby compat suite: UDP probes from a simulated remote host
want python3 python3                  # acceptance suite's image writer
want ip iproute2                      # bridge and veth clean-up
want nft nftables                     # netfilter inspection in tests
want script bsdutils                  # pty for `docker run -t` tests
want mkfs.ext4 e2fsprogs              # full-disk tests: a small ext4 data-root (integration/disk)
want losetup mount                    # full-disk tests: its loop device
want pstree psmisc                    # benchmark memory figures
want bc bc                            # benchmark arithmetic
want openssl openssl
want tini tini                        # `docker run --init`
want runc runc                        # runtime comparison tests
# CRI pod networks: bridge, host-local, portmap and loopback in /usr/lib/cni;
# portmap programs its hostPort rules through the iptables command
# (iptables-nft on Debian, so they land in nftables beside berth's own).
want /usr/lib/cni/bridge containernetworking-plugins
want iptables iptables
want apparmor_parser apparmor          # compiles the docker-default profile in its test
[ -e /usr/include/seccomp.h ] || need_pkgs+=(libseccomp-dev)
# the systemd cgroup driver's tests run a private systemd (PID 1 of their
# own PID namespace) with a D-Bus system bus of its own
want /lib/systemd/systemd systemd
want dbus-daemon dbus
want busctl systemd
want unshare util-linux
want gcc gcc                          # cgo: namespace entry before the Go runtime starts
want pkg-config pkg-config
# The docker CLI, and dockerd for the compatibility tests and the bench's
# comparison figures: Debian ships both in docker.io (with containerd).
# Installed when either is missing (a docker CLI from elsewhere does not
# bring dockerd). Its dockerd must never take /var/run/docker.sock from
# berth, so its units are disabled right after the install below; the
# tests start their own dockerd on a private socket and roots.
# A docker CLI already on PATH (e.g. a newer one in /usr/local/bin) stays
# first on PATH; docker.io's own CLI lands in /usr/bin.
installed_docker_io=0
if ! have docker || { ! have dockerd && [ ! -x /usr/sbin/dockerd ]; }; then
  need_pkgs+=(docker.io); installed_docker_io=1
fi

if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # While docker.io installs, a policy-rc.d that refuses every start keeps
  # its postinst from starting dockerd, even for a moment, on the host's
  # /var/run/docker.sock (where berth may be serving). An existing
  # policy-rc.d is the administrator's and is left alone.
  policy_added=0
  if [ "$installed_docker_io" = 1 ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    policy_added=1
  fi
  status=0
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null || status=$?
  [ "$policy_added" = 1 ] && rm -f /usr/sbin/policy-rc.d
  [ "$status" = 0 ] || exit "$status"
fi
if [ "$installed_docker_io" = 1 ] && [ -d /run/systemd/system ]; then
  # The package's postinst enables (and, without the policy above, starts)
  # docker.socket and docker.service; stop and disable both (the socket
  # first, or it would start the service again) so that neither ever holds
  # /var/run/docker.sock.
  systemctl disable --now docker.socket >/dev/null 2>&1 || true
  systemctl disable --now docker.service >/dev/null 2>&1 || true
fi

# Go tools the test runner uses, kept inside the checkout.
GOBIN_DIR="$(cd "$(dirname "$0")/.." && pwd)/.cache/bin"
if [ ! -x "$GOBIN_DIR/gotestsum" ]; then
  GOBIN="$GOBIN_DIR" go install gotest.tools/gotestsum@v1.13.0
fi

# The docker CLI plugins that BuildKit builds go through (buildx, compose),
# built from the Go module proxy into a cache outside the checkout; minutes
# the first time, instant after. A failed build fails the run.
BUILDKIT_BIN=$("$(dirname "$0")/buildkit-clients.sh")

# Under CI a missing prerequisite fails the run here, with its name.
missing=()
for c in busybox docker docker-registry curl python3 ip script mkfs.ext4 losetup; do have "$c" || missing+=("$c"); done
[ -e /bin/busybox ] || missing+=(/bin/busybox)
for p in bridge host-local portmap loopback; do [ -x "/usr/lib/cni/$p" ] || missing+=("/usr/lib/cni/$p"); done
have dockerd || [ -x /usr/sbin/dockerd ] || missing+=(dockerd)
for p in docker-buildx docker-compose dockerfile-frontend; do [ -x "$BUILDKIT_BIN/$p" ] || missing+=("$BUILDKIT_BIN/$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "missing after install: ${missing[*]}" >&2
  exit 1
fi
