// Package harness starts and stops a real berthd for end-to-end tests.
//
// Each daemon gets its own temporary root holding its data-root, exec-root,
// API socket, pidfile, daemon.json and log, plus a unique bridge name, so
// tests never touch a host daemon and can run beside one. The harness
// builds berthd once per test binary, waits for /_ping, gives tests the
// real docker CLI (DOCKER_HOST and a private DOCKER_CONFIG set) and a
// github.com/moby/moby/client client, and on Cleanup stops the daemon and
// removes every mount, interface and file it left under its root, also
// when a test failed.
package harness
