// Package containerfs tests the container filesystem end to end through
// the docker CLI against a real berthd: docker cp in both directions
// (running and stopped containers, volumes and binds, the hard path cases,
// a container racing symlink swaps against the copy), docker export |
// docker import, docker commit and its image in a fresh daemon, and the
// mounts containers get (named volumes across restarts, copy-up,
// --volumes-from, tmpfs, read-only binds, propagation, --mount options,
// bad input).
package containerfs
