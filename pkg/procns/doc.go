// Package procns starts a process in the PID namespace of another one:
// what a private systemd's clients need (systemd takes the PIDs handed to
// it as PIDs of its own namespace), for tests and benchmarks that run a
// daemon beside such a systemd.
package procns
