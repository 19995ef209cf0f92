// Package cgroupv2 runs berthd as on a cgroup v2 host, on this v1 one: the
// harness starts it in a private mount namespace with the unified
// hierarchy on /sys/fs/cgroup (harness.Options.CgroupV2). The unified
// hierarchy of a v1 host has no resource controllers, so these tests
// cover what does not need them: detection, starting and exec'ing
// containers in their cgroups, the device filter, pause, stats that
// exist without controllers, and removal.
package cgroupv2
