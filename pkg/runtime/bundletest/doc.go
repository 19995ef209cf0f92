// Package bundletest owns the OCI bundles that the runtime and shim tests
// run: a root filesystem made from Debian's busybox-static (the same
// binary the project's test image is built from) and a dockerd-like spec.
// It is a test helper; nothing in the engine imports it.
package bundletest
