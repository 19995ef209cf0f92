package runtime

import (
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
			MaskedPaths: []string{
				"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
				"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
				"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
			},
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
