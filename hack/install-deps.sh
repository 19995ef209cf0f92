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
want python3 python3                  # acceptance suite's image writer
want ip iproute2                      # bridge and veth clean-up
want nft nftables                     # netfilter inspection in tests
want script bsdutils                  # pty for `docker run -t` tests
want pstree psmisc                    # benchmark memory figures
want bc bc                            # benchmark arithmetic
want openssl openssl
want tini tini                        # `docker run --init`
want runc runc                        # runtime comparison tests
[ -e /usr/include/seccomp.h ] || need_pkgs+=(libseccomp-dev)
want gcc gcc                          # cgo: namespace entry before the Go runtime starts
want pkg-config pkg-config
# The docker CLI: Debian ships it in docker.io. Its dockerd must not take
# /var/run/docker.sock from berth, so its units are disabled below.
installed_docker_io=0
if ! have docker; then need_pkgs+=(docker.io); installed_docker_io=1; fi

if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi
if [ "$installed_docker_io" = 1 ] && [ -d /run/systemd/system ]; then
  systemctl disable --now docker.socket docker.service >/dev/null 2>&1 || true
fi

# Go tools the test runner uses, kept inside the checkout.
GOBIN_DIR="$(cd "$(dirname "$0")/.." && pwd)/.cache/bin"
if [ ! -x "$GOBIN_DIR/gotestsum" ]; then
  GOBIN="$GOBIN_DIR" go install gotest.tools/gotestsum@v1.13.0
fi

# Under CI a missing prerequisite fails the run here, with its name.
missing=()
for c in busybox docker docker-registry curl python3 ip script; do have "$c" || missing+=("$c"); done
[ -e /bin/busybox ] || missing+=(/bin/busybox)
if [ ${#missing[@]} -gt 0 ]; then
  echo "missing after install: ${missing[*]}" >&2
  exit 1
fi
