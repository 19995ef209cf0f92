package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/caps"
)

// DefaultSpec is the spec dockerd gives a container before applying the
// request (moby's oci.DefaultLinuxSpec): the same mounts, masked and
// read-only paths, namespaces, capabilities and device rules. Seccomp is
// left to the caller (profiles.GetDefaultProfile).
func DefaultSpec() *specs.Spec {
	defaultCaps := append([]string(nil), caps.DefaultDocker...)
	return &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Args: []string{"sh"},
			Env:  []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			Cwd:  "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding: defaultCaps, Effective: defaultCaps, Permitted: defaultCaps,
			},
		},
		Root: &specs.Root{Path: "rootfs"},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid", "noexec", "nodev"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		},
		Linux: &specs.Linux{
			MaskedPaths: DefaultMaskedPaths(),
			ReadonlyPaths: []string{
				"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
			},
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.UTSNamespace},
				{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.CgroupNamespace},
			},
			Resources: &specs.LinuxResources{
				Devices: DefaultDeviceRules(),
			},
		},
	}
}

// DefaultDeviceRules deny every device but the ones a container always
// gets, the list dockerd uses.
func DefaultDeviceRules() []specs.LinuxDeviceCgroup {
	i := func(n int64) *int64 { return &n }
	wild := int64(-1)
	return []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: &wild, Minor: &wild, Access: "m"},
		{Allow: true, Type: "b", Major: &wild, Minor: &wild, Access: "m"},
		{Allow: true, Type: "c", Major: i(1), Minor: i(3), Access: "rwm"},    // null
		{Allow: true, Type: "c", Major: i(1), Minor: i(5), Access: "rwm"},    // zero
		{Allow: true, Type: "c", Major: i(1), Minor: i(7), Access: "rwm"},    // full
		{Allow: true, Type: "c", Major: i(1), Minor: i(8), Access: "rwm"},    // random
		{Allow: true, Type: "c", Major: i(1), Minor: i(9), Access: "rwm"},    // urandom
		{Allow: true, Type: "c", Major: i(5), Minor: i(0), Access: "rwm"},    // tty
		{Allow: true, Type: "c", Major: i(5), Minor: i(1), Access: "rwm"},    // console
		{Allow: true, Type: "c", Major: i(5), Minor: i(2), Access: "rwm"},    // ptmx
		{Allow: true, Type: "c", Major: i(136), Minor: &wild, Access: "rwm"}, // pts
		{Allow: true, Type: "c", Major: i(10), Minor: i(200), Access: "rwm"}, // tun
	}
}

// DefaultMaskedPaths is dockerd's default list of masked paths (moby's
// oci.DefaultLinuxSpec), with the thermal_throttle directory of each
// possible CPU that this host has: dockerd expands that glob on the host
// too (GHSA-6fw5-f8r9-fgfm), since the container's sysfs shows the same
// devices. The host's CPUs do not change while the daemon runs.
func DefaultMaskedPaths() []string {
	return append([]string(nil), defaultMaskedPaths()...)
}

var defaultMaskedPaths = sync.OnceValue(func() []string { return maskedPathsFor("/sys") })

func maskedPathsFor(sys string) []string {
	paths := []string{
		"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list",
		"/proc/timer_stats", "/sys/devices/virtual/powercap", "/sys/firmware",
	}
	for _, cpu := range possibleCPUs(sys) {
		p := fmt.Sprintf("/sys/devices/system/cpu/cpu%d/thermal_throttle", cpu)
		if _, err := os.Stat(filepath.Join(sys, strings.TrimPrefix(p, "/sys"))); err == nil {
			paths = append(paths, p)
		}
	}
	return paths
}

// possibleCPUs parses sys/devices/system/cpu/possible ("0-3,5"); nothing
// when it cannot.
func possibleCPUs(sys string) []int {
	b, err := os.ReadFile(filepath.Join(sys, "devices/system/cpu/possible"))
	if err != nil {
		return nil
	}
	var cpus []int
	for _, r := range strings.Split(strings.TrimSpace(string(b)), ",") {
		lo, hi, isRange := strings.Cut(r, "-")
		first, err := strconv.Atoi(lo)
		if err != nil {
			return nil
		}
		last := first
		if isRange {
			if last, err = strconv.Atoi(hi); err != nil || last < first || last-first > 1<<16 {
				return nil
			}
		}
		for c := first; c <= last; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus
}

// WithoutSeccompProfile returns a shallow copy of spec without its seccomp
// profile, for a process that gets the compiled program instead: the
// profile is most of a spec's JSON, which it would decode for nothing.
func WithoutSeccompProfile(spec *specs.Spec) *specs.Spec {
	if spec.Linux == nil || spec.Linux.Seccomp == nil {
		return spec
	}
	s, l := *spec, *spec.Linux
	l.Seccomp = nil
	s.Linux = &l
	return &s
}
