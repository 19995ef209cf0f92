// Package build serves the builders' endpoints: the classic builder's
// POST /build (the build context in, a JSON progress stream out), BuildKit's
// control API behind POST /grpc (an h2c upgrade) and the client's session
// behind POST /session, and POST /build/prune for the build cache. It
// parses requests and leaves the builds to the daemon.
package build
