package caps

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// names is indexed by capability number (linux/capability.h).
var names = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
	"CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
	"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
	"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// DefaultDocker is the set dockerd grants a container that asks for nothing
// else (moby's oci/caps defaults).
var DefaultDocker = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

var lastCap = sync.OnceValue(func() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			return n
		}
	}
	return len(names) - 1
})

// Last is the highest capability number the running kernel knows.
func Last() int { return lastCap() }

// Names lists every capability name the running kernel supports.
func Names() []string {
	n := min(Last()+1, len(names))
	return append([]string(nil), names[:n]...)
}

// Parse turns a capability name (with or without the CAP_ prefix, any case)
// into its number.
func Parse(name string) (int, error) {
	n := strings.ToUpper(name)
	if !strings.HasPrefix(n, "CAP_") {
		n = "CAP_" + n
	}
	for i, c := range names {
		if c == n {
			return i, nil
		}
	}
	return -1, fmt.Errorf("unknown capability %q", name)
}

// Set is a capability bitmask.
type Set uint64

// Has reports whether cap is in the set.
func (s Set) Has(c int) bool { return s&(1<<uint(c)) != 0 }

// FromNames builds a set, ignoring capabilities the running kernel does
// not know (as runc does, so one spec works on older kernels).
func FromNames(list []string) (Set, error) {
	var s Set
	for _, n := range list {
		c, err := Parse(n)
		if err != nil {
			return 0, err
		}
		if c <= Last() {
			s |= 1 << uint(c)
		}
	}
	return s, nil
}

// ParseHex reads a set as /proc/PID/status prints it (CapEff: 00000000a80425fb).
func ParseHex(s string) (Set, error) {
	v, err := strconv.ParseUint(strings.TrimSpace(s), 16, 64)
	return Set(v), err
}

// Sets are the five sets of a process, each as a bitmask.
type Sets struct {
	Bounding, Effective, Permitted, Inheritable, Ambient Set
}

// FromSpec converts the spec's capability lists. A nil spec means no
// capabilities at all, which is what the OCI spec prescribes.
func FromSpec(c *specs.LinuxCapabilities) (Sets, error) {
	var s Sets
	if c == nil {
		return s, nil
	}
	var err error
	for _, x := range []struct {
		dst  *Set
		list []string
	}{{&s.Bounding, c.Bounding}, {&s.Effective, c.Effective}, {&s.Permitted, c.Permitted}, {&s.Inheritable, c.Inheritable}, {&s.Ambient, c.Ambient}} {
		if *x.dst, err = FromNames(x.list); err != nil {
			return s, err
		}
	}
	return s, nil
}

// DropBounding removes from the calling thread's bounding set every
// capability not in keep. It needs CAP_SETPCAP, so it runs before the
// thread changes uid or drops its effective set.
func DropBounding(keep Set) error {
	for c := 0; c <= Last(); c++ {
		if keep.Has(c) {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("drop %s from bounding set: %w", names[c], err)
		}
	}
	return nil
}

// SetThread sets the effective, permitted and inheritable sets of the
// calling thread and then raises the ambient set, which the kernel only
// accepts for capabilities already permitted and inheritable.
func SetThread(s Sets) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(s.Effective), Permitted: uint32(s.Permitted), Inheritable: uint32(s.Inheritable)},
		{Effective: uint32(s.Effective >> 32), Permitted: uint32(s.Permitted >> 32), Inheritable: uint32(s.Inheritable >> 32)},
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && err != unix.EINVAL {
		return fmt.Errorf("clear ambient set: %w", err)
	}
	for c := 0; c <= Last(); c++ {
		if s.Ambient.Has(c) {
			// The kernel refuses a capability that is not also permitted
			// and inheritable; runc skips those too, and specs (runc's
			// own default) rely on it.
			if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c), 0, 0); err != nil && err != unix.EPERM {
				return fmt.Errorf("raise ambient %s: %w", names[c], err)
			}
		}
	}
	return nil
}
