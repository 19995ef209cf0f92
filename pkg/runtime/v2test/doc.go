// Package v2test runs the runtime on cgroup v2 on a host that has v1: its
// test binary re-executes itself in a private mount namespace in which
// the unified hierarchy is mounted on /sys/fs/cgroup, so that pkg/cgroups
// sees a v2 host. The unified hierarchy of a v1 host carries no resource
// controllers, so what is tested is the v2 path without limits: creating
// the cgroup, clone3 into it, the device filter, freezing, removal.
package v2test
