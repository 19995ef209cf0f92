// Package build serves the classic builder's endpoints: POST /build (the
// build context in, a JSON progress stream out) and POST /build/prune. It
// parses the query into a Request and leaves the build to the daemon.
package build
