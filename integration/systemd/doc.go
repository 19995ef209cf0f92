// Package systemd tests the systemd cgroup driver end to end: a berthd
// with exec-opts native.cgroupdriver=systemd, talking over D-Bus to a
// real systemd that each test run starts privately (privsystemd), puts
// containers and CRI pod containers in scopes, passes their limits as
// unit properties, and finds its scopes again after a restart.
package systemd
