// Package system tests the daemon itself end to end: the system endpoints
// through the docker CLI, the Go client and plain HTTP; listeners (unix,
// TCP with TLS, systemd socket activation); configuration; signals;
// restarts after a crash.
package system
