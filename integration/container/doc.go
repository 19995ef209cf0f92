// Package container holds the end-to-end tests of the container and exec
// API (issue 6), run through the real docker CLI, the Engine API and a pty
// against a berthd started for this package; tests that restart the daemon
// or need their own configuration start their own. Behaviour berth does
// not have yet is asserted in known_gaps_test.go (build tag gaps).
package container
