// Package integration holds berth's end-to-end tests. Each test package
// starts its own berthd (package internal/harness) on private roots, socket
// and bridge name, and drives it with the real docker CLI, the Go client
// and plain HTTP. The tests need root; under CI a missing prerequisite
// fails the run instead of skipping.
package integration
