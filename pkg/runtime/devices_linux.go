package runtime

import (
	"os"

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
	var typ string
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		typ = "c"
	case unix.S_IFBLK:
		typ = "b"
	default:
		return specs.LinuxDevice{}, specs.LinuxDeviceCgroup{}, errdefs.InvalidParameterf("error gathering device information while adding custom device %q: not a device node", hostPath)
	}
	major, minor := int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	mode := os.FileMode(st.Mode & 0o777)
	uid, gid := st.Uid, st.Gid
	return specs.LinuxDevice{Path: containerPath, Type: typ, Major: major, Minor: minor, FileMode: &mode, UID: &uid, GID: &gid},
		specs.LinuxDeviceCgroup{Allow: true, Type: typ, Major: &major, Minor: &minor, Access: perms}, nil
}
