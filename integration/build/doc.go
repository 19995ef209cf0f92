// Package build tests `docker build` (the classic builder behind POST
// /build) end to end through the real docker CLI with DOCKER_BUILDKIT=0,
// and compares the images it makes with a real dockerd's.
package build
