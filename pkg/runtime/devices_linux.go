package runtime

import (
	"fmt"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/errdefs"
)

// DeviceFromPath describes the host's device node hostPath as a device of
// the container at containerPath, with the cgroup rule that lets it use
// the node with perms ("rwm"); dockerd's --device and a plugin's devices
// both come here. Anything but a character or block device is refused
// with dockerd's words.
func DeviceFromPath(hostPath, containerPath, perms string) (specs.LinuxDevice, specs.LinuxDeviceCgroup, error) {
	var st unix.Stat_t
	if err := unix.Stat(hostPath, &st); err != nil {
		return specs.LinuxDevice{}, specs.LinuxDeviceCgroup{}, errdefs.InvalidParameterf("error gathering device information while adding custom device %q: %v", hostPath, err)
	}
	dev, ok := DeviceNode(containerPath, &st)
	if !ok {
		return specs.LinuxDevice{}, specs.LinuxDeviceCgroup{}, errdefs.InvalidParameterf("error gathering device information while adding custom device %q: not a device node", hostPath)
	}
	return dev, specs.LinuxDeviceCgroup{Allow: true, Type: dev.Type, Major: &dev.Major, Minor: &dev.Minor, Access: perms}, nil
}

// DeviceNode describes the node whose stat is st as the container's
// device at path: its type, numbers, mode and owner. It reports false for
// anything but a character or block device.
func DeviceNode(path string, st *unix.Stat_t) (specs.LinuxDevice, bool) {
	var typ string
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		typ = "c"
	case unix.S_IFBLK:
		typ = "b"
	default:
		return specs.LinuxDevice{}, false
	}
	mode := os.FileMode(st.Mode & 0o777)
	uid, gid := st.Uid, st.Gid
	return specs.LinuxDevice{Path: path, Type: typ, Major: int64(unix.Major(st.Rdev)), Minor: int64(unix.Minor(st.Rdev)), FileMode: &mode, UID: &uid, GID: &gid}, true
}

// withDeviceAllows appends to the spec's device rules the nodes the
// runtime itself always creates (and the spec's own devices), as runc
// does: a spec that denies everything must still get a working /dev/null
// and pty.
func withDeviceAllows(spec *specs.Spec) *specs.LinuxResources {
	r := spec.Linux.Resources
	if r == nil || len(r.Devices) == 0 {
		return r
	}
	out := *r
	all := append([]specs.LinuxDeviceCgroup(nil), r.Devices...)
	all = append(all, DefaultDeviceRules()[1:]...)
	for _, d := range spec.Linux.Devices {
		major, minor := d.Major, d.Minor
		all = append(all, specs.LinuxDeviceCgroup{Allow: true, Type: d.Type, Major: &major, Minor: &minor, Access: "rwm"})
	}
	out.Devices = dedupeAllows(all)
	return &out
}

// dedupeAllows drops an allow rule that repeats one made since the last
// deny: a daemon's spec (dockerd's) already lists the default devices
// that a runtime adds again, and on cgroup v1 each rule is a write.
func dedupeAllows(rules []specs.LinuxDeviceCgroup) []specs.LinuxDeviceCgroup {
	key := func(d specs.LinuxDeviceCgroup) string {
		k := fmt.Sprintf("%s:%s", d.Type, d.Access)
		for _, n := range []*int64{d.Major, d.Minor} {
			if n == nil {
				k += ":*"
			} else {
				k += ":" + strconv.FormatInt(*n, 10)
			}
		}
		return k
	}
	seen := map[string]bool{}
	out := rules[:0:0]
	for _, d := range rules {
		if !d.Allow {
			// A deny may revoke what an earlier allow gave.
			clear(seen)
			out = append(out, d)
			continue
		}
		if k := key(d); !seen[k] {
			seen[k] = true
			out = append(out, d)
		}
	}
	return out
}
