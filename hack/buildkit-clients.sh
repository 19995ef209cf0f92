#!/usr/bin/env bash
# Builds, from the Go module proxy, what BuildKit builds need on the client
# side: the docker CLI plugins docker-buildx and docker-compose (Debian's
# docker.io ships neither), and BuildKit's Dockerfile frontend, the binary of
# the docker/dockerfile image, which integration/buildkit wraps into an image
# on a loopback registry to test `# syntax=` offline. They go into a cache
# outside the checkout (BERTH_BUILDKIT_BIN, default /var/tmp/berth-buildkit/bin);
# the tests link the plugins into a DOCKER_CONFIG/cli-plugins of their own.
#
# Quick when the pinned versions are already there: each binary has a
# version stamp beside it, and a binary is rebuilt only when its stamp does
# not name the pinned version. Prints the directory on success.
#
# The versions: buildx is the newest release whose go.mod `go` line the
# toolchain here (Go 1.26.8) can build; compose is the v5 release the issue
# names. Raise them only together with a toolchain that builds them.
set -euo pipefail

BUILDX_VERSION=v0.39.1
COMPOSE_VERSION=v5.6.0
# The frontend of the BuildKit berthd embeds (go.mod's moby/buildkit).
BUILDKIT_VERSION=v0.34.2
BIN_DIR="${BERTH_BUILDKIT_BIN:-/var/tmp/berth-buildkit/bin}"

export PATH="/usr/local/go/bin:$PATH"
# Never fetch another toolchain: the pinned versions build with this one.
export GOTOOLCHAIN=local
export GOFLAGS="-trimpath -buildvcs=false"
export CGO_ENABLED=0

mkdir -p "$BIN_DIR"

current() { # current NAME VERSION: the binary is there and was built at VERSION
  [ -x "$BIN_DIR/$1" ] && [ "$(cat "$BIN_DIR/$1.version" 2>/dev/null)" = "$2" ]
}

# build NAME MODULE PACKAGE VERSION LDFLAGS [TAGS]: builds PACKAGE (a path inside
# MODULE) at VERSION from a throw-away copy of the module's source taken from
# the module proxy, with the module's own go.mod and go.sum as the main
# module (so its replace and exclude directives apply, which
# `go install pkg@version` refuses), outside any checkout. The binary is
# moved in place atomically and its stamp written last, so an interrupted
# build is retried next time.
build() {
  local name=$1 module=$2 pkg=$3 version=$4 ldflags=$5 tags=${6:-}
  if current "$name" "$version"; then
    return 0
  fi
  echo "building $name $version ($module/$pkg)" >&2
  local tmp src
  tmp=$(mktemp -d "$BIN_DIR/.build.XXXXXX")
  trap 'rm -rf "$tmp"' RETURN
  src=$(cd "$tmp" && go mod download -json "$module@$version" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  cp -r "$src" "$tmp/src"
  chmod -R u+w "$tmp/src"
  if ! (cd "$tmp/src" && nice -n 10 go build -tags "$tags" -ldflags "-s -w $ldflags" -o "$tmp/$name" "./$pkg"); then
    echo "buildkit-clients: building $name $version failed" >&2
    return 1
  fi
  mv -f "$tmp/$name" "$BIN_DIR/$name"
  echo "$version" >"$BIN_DIR/$name.version.tmp"
  mv -f "$BIN_DIR/$name.version.tmp" "$BIN_DIR/$name.version"
}

build docker-buildx github.com/docker/buildx cmd/buildx "$BUILDX_VERSION" \
  "-X github.com/docker/buildx/version.Version=$BUILDX_VERSION -X github.com/docker/buildx/version.Package=github.com/docker/buildx"
build docker-compose github.com/docker/compose/v5 cmd "$COMPOSE_VERSION" \
  "-X github.com/docker/compose/v5/internal.Version=$COMPOSE_VERSION"
# Static (CGO off, netgo, osusergo), as the docker/dockerfile image's: it
# runs alone in a scratch image.
build dockerfile-frontend github.com/moby/buildkit frontend/dockerfile/cmd/dockerfile-frontend "$BUILDKIT_VERSION" \
  "-X main.Version=$BUILDKIT_VERSION" "netgo static_build osusergo"

echo "$BIN_DIR"
