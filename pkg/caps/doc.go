// Package caps owns Linux capability sets: it translates the names an OCI
// spec uses (CAP_SYS_ADMIN, …) into numbers and applies the bounding,
// effective, permitted, inheritable and ambient sets to the calling thread.
//
// Capabilities are a per-thread attribute, and execve(2) keeps the sets of
// the thread that calls it. Callers therefore lock the OS thread, call Apply
// and then exec from that same thread; the other threads of the Go runtime
// are discarded by the exec and never matter.
package caps
