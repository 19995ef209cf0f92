// Package security holds the end-to-end regression tests of SECURITY.md:
// one test (or more) per escape class a container, an image, a build
// context or a remote context could use to reach the host or to stall the
// daemon. Each drives a real berthd through the docker CLI or the API and
// asserts what the host looks like afterwards, so it fails on an engine
// that has the hole, not only on one that crashes.
package security
