// Package buildkit owns berth's embedded BuildKit: the controller that
// serves BuildKit's control API (what buildx talks to over /grpc), the
// session manager behind /session, and the one worker that solves builds.
//
// The worker keeps BuildKit's stock storage under DATA-ROOT/buildkit
// (containerd's overlay snapshotter library, a local content store, bbolt
// metadata); RUN steps go to the executor the daemon hands in (berth's own
// runtime), and the daemon may replace the docker-image source and the moby
// exporter with ones that read and write berth's image store.
//
// The controller starts on first use, so a daemon that never builds pays
// nothing for it at start and little in idle memory.
package buildkit
