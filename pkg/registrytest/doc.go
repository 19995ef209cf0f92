// Package registrytest runs Debian's docker-registry on 127.0.0.1 with
// throw-away storage, for the programs that need a registry of their
// own beside a daemon: the benchmark's push and pull figures and the
// torture campaign's soak (pulls under churn). No traffic leaves
// loopback.
package registrytest
