// Package buildkit holds the end-to-end tests of the BuildKit embedded in
// berthd (issue #22), driven by the clients users run: the docker CLI with
// the buildx and compose plugins (built from the Go module proxy by
// hack/buildkit-clients.sh and installed into a DOCKER_CONFIG/cli-plugins
// directory of the package's own), against a berthd started for the
// package with the busybox test images loaded. Each test asserts what the
// build produced — image configs, files in the image through `docker
// run`, exported files, exit codes and error texts — and where Debian's
// dockerd supports the same build, compares with it.
package buildkit
