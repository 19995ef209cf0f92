// Package nsenter owns joining existing namespaces (exec into a running
// container, `--network container:X`, `--pid container:X`). The kernel
// refuses setns(2) into a mount or user namespace from a multi-threaded
// process, and the Go runtime has started threads before any Go code runs,
// so the joining is done by a C constructor that runs before the Go
// runtime, the pattern runc's nsexec uses.
//
// A process started with the environment variable EnvNamespaces set (a
// comma-separated list of TYPE=PATH pairs) and EnvPipe (a file descriptor
// number) joins those namespaces, user first and mount last, then forks
// with CLONE_PARENT so that the child is in the joined PID namespace and is
// a direct child of the original parent. The intermediate process writes
// the child's PID to the pipe as a decimal line and exits 0; on failure it
// writes "error: <reason>" and exits 1. The child continues into the Go
// runtime with both variables removed from its environment.
//
// Before that, a process started with EnvCgroupTasks joins the listed
// cgroup v1 hierarchies by writing "0" to their tasks files while it is
// single-threaded: the kernel's cheap path for a thread that moves itself
// (see cgroups.SelfJoiner).
//
// Importing this package (even blank) links the constructor in; without the
// variables it does nothing.
package nsenter
