// Package cgroups owns a container's control groups: creating them, moving
// processes in, applying an OCI specs.LinuxResources, reading statistics in
// the shape `docker stats` needs, freezing for pause, reporting OOM kills,
// and removing every directory again.
//
// Both hierarchies are supported and detected once at start: cgroup v1
// (one mount per controller under /sys/fs/cgroup) and v2 (the unified
// cgroup2 mount). The cgroupfs driver writes the files directly; the
// Manager interface is what a systemd driver would implement later.
package cgroups
