// Package sysinfo reads the host figures `docker info` reports: kernel,
// operating system, CPUs, memory, the cgroup version and which resource
// controls it offers, IP forwarding, and the filesystem under a directory.
package sysinfo
