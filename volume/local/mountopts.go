package local

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// flagOpts are the `o=` words the kernel takes as mount flags rather than
// as filesystem data; the rest (size=, uid=, mode=, …) go to the
// filesystem. The table matches util-linux and moby/sys/mount, so an `o`
// string that works with `mount -o` works here.
var flagOpts = map[string]struct {
	clear bool
	flag  uintptr
}{
	"defaults":      {false, 0},
	"ro":            {false, unix.MS_RDONLY},
	"rw":            {true, unix.MS_RDONLY},
	"suid":          {true, unix.MS_NOSUID},
	"nosuid":        {false, unix.MS_NOSUID},
	"dev":           {true, unix.MS_NODEV},
	"nodev":         {false, unix.MS_NODEV},
	"exec":          {true, unix.MS_NOEXEC},
	"noexec":        {false, unix.MS_NOEXEC},
	"sync":          {false, unix.MS_SYNCHRONOUS},
	"async":         {true, unix.MS_SYNCHRONOUS},
	"dirsync":       {false, unix.MS_DIRSYNC},
	"remount":       {false, unix.MS_REMOUNT},
	"mand":          {false, unix.MS_MANDLOCK},
	"nomand":        {true, unix.MS_MANDLOCK},
	"atime":         {true, unix.MS_NOATIME},
	"noatime":       {false, unix.MS_NOATIME},
	"diratime":      {true, unix.MS_NODIRATIME},
	"nodiratime":    {false, unix.MS_NODIRATIME},
	"bind":          {false, unix.MS_BIND},
	"rbind":         {false, unix.MS_BIND | unix.MS_REC},
	"relatime":      {false, unix.MS_RELATIME},
	"norelatime":    {true, unix.MS_RELATIME},
	"strictatime":   {false, unix.MS_STRICTATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME},
}

// propagationOpts are applied with a separate mount(2) call after the
// mount exists, as the kernel requires.
var propagationOpts = map[string]uintptr{
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// parseMountOptions splits an `o=` string into mount flags, propagation
// flags and filesystem data.
func parseMountOptions(o string) (flags, propagation uintptr, data string) {
	var rest []string
	for _, w := range strings.Split(o, ",") {
		if w == "" {
			continue
		}
		if f, ok := flagOpts[w]; ok {
			if f.clear {
				flags &^= f.flag
			} else {
				flags |= f.flag
			}
			continue
		}
		if p, ok := propagationOpts[w]; ok {
			propagation |= p
			continue
		}
		rest = append(rest, w)
	}
	return flags, propagation, strings.Join(rest, ",")
}

// mountDevice mounts device on target. A bind mount ignores every flag but
// MS_BIND|MS_REC on the first call, so read-only, nosuid and the like need
// a remount of the bind, which is what `mount -o bind,ro` does too.
func mountDevice(device, target, fstype, o string) error {
	flags, propagation, data := parseMountOptions(o)
	if fstype == "" {
		fstype = "none"
	}
	first := flags
	if flags&unix.MS_BIND != 0 {
		first = flags & (unix.MS_BIND | unix.MS_REC)
	}
	if err := unix.Mount(device, target, fstype, first, data); err != nil {
		return fmt.Errorf("mount %s:%s, flags: %#x, data: %s: %w", device, target, first, data, err)
	}
	if flags&unix.MS_BIND != 0 && flags&^(unix.MS_BIND|unix.MS_REC) != 0 {
		re := unix.MS_REMOUNT | unix.MS_BIND | (flags &^ unix.MS_REC)
		if err := unix.Mount("", target, "", re, ""); err != nil {
			unix.Unmount(target, unix.MNT_DETACH)
			return fmt.Errorf("remount %s, flags: %#x: %w", target, re, err)
		}
	}
	if propagation != 0 {
		if err := unix.Mount("", target, "", propagation, ""); err != nil {
			unix.Unmount(target, unix.MNT_DETACH)
			return fmt.Errorf("set propagation of %s: %w", target, err)
		}
	}
	return nil
}
