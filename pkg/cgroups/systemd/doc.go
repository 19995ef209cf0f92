// Package systemd is the systemd cgroup driver's side of a container's
// cgroup: a transient scope unit per container, started, updated and
// stopped through systemd's D-Bus API, in a slice ("system.slice",
// "kubepods-besteffort-pod<uid>.slice") that systemd creates and owns.
//
// systemd owns the scope's cgroup and writes the attributes it has
// properties for whenever it re-applies the unit; so the container's
// limits are passed as unit properties (Properties) and written to the
// cgroup files as well (package cgroups, at the same path), as runc's
// systemd driver does: the files carry what systemd has no property for
// (swap and kernel settings on v1, every v1 controller systemd does not
// manage), the properties keep systemd from resetting the rest.
//
// One Client per daemon holds the connection (two sockets, go-systemd's
// call and signal connections) and dials again when systemd restarts or
// re-executes and drops it.
package systemd
