package mounts

import (
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/moby/api/types/mount"

	"github.com/berthd/berth/pkg/errdefs"
)

// Inherited is what `--volumes-from ID[:mode]` brings: the source
// container's mount points and the mode from ParseVolumesFrom.
type Inherited struct {
	Mode        string
	MountPoints []*MountPoint
}

// Config is every mount request of one container.
type Config struct {
	// Binds is HostConfig.Binds (`-v` with a source, and API clients'
	// `-v /path`).
	Binds []string
	// Mounts is HostConfig.Mounts (`--mount`).
	Mounts []mount.Mount
	// Tmpfs is HostConfig.Tmpfs (`--tmpfs /dst:opts`).
	Tmpfs map[string]string
	// Volumes is Config.Volumes: the image's VOLUMEs merged with the
	// CLI's anonymous `-v /path`. Each becomes an anonymous volume unless
	// something else is mounted there.
	Volumes map[string]struct{}
	// VolumeDriver is HostConfig.VolumeDriver, the driver for volumes the
	// specs do not name one for.
	VolumeDriver string
	// VolumesFrom are the resolved `--volumes-from` entries, in order.
	VolumesFrom []Inherited
}

func duplicateMountPointError(dest string) error {
	return errdefs.InvalidParameterf("Duplicate mount point: %s", dest)
}

// Collect turns a container's mount requests into one list, in the order
// a runtime must mount them (parents before children). Precedence is
// dockerd's: `--volumes-from` first, replaced silently by a `-v` or
// `--mount` at the same destination; `-v`, `--mount` and `--tmpfs` must
// not collide with each other; an image VOLUME is skipped where anything
// else is mounted.
func Collect(c Config) ([]*MountPoint, error) {
	points := map[string]*MountPoint{}

	for _, from := range c.VolumesFrom {
		rw := ReadWrite(from.Mode)
		for _, m := range from.MountPoints {
			cp := *m
			cp.RW = m.RW && rw
			// The data is already there: the source container copied it.
			cp.CopyData = false
			points[cp.Destination] = &cp
		}
	}

	tmpfs := map[string]*MountPoint{}
	for dest, opts := range c.Tmpfs {
		mp, err := ParseTmpfs(dest, opts)
		if err != nil {
			return nil, err
		}
		tmpfs[mp.Destination] = mp
	}

	user := map[string]bool{}
	for _, b := range c.Binds {
		mp, err := ParseMountRaw(b, c.VolumeDriver)
		if err != nil {
			return nil, err
		}
		if user[mp.Destination] || tmpfs[mp.Destination] != nil {
			return nil, duplicateMountPointError(mp.Destination)
		}
		user[mp.Destination] = true
		points[mp.Destination] = mp
	}
	for _, m := range c.Mounts {
		mp, err := ParseMountSpec(m)
		if err != nil {
			return nil, err
		}
		if user[mp.Destination] || tmpfs[mp.Destination] != nil {
			return nil, duplicateMountPointError(m.Target)
		}
		if mp.Type == mount.TypeVolume && mp.Driver == "" {
			mp.Driver = c.VolumeDriver
		}
		user[mp.Destination] = true
		points[mp.Destination] = mp
	}
	for dest, mp := range tmpfs {
		points[dest] = mp
	}

	for spec := range c.Volumes {
		// The same rules as an anonymous `-v /path`, so a bad image VOLUME
		// gets the same message.
		mp, err := ParseMountRaw(spec, c.VolumeDriver)
		if err != nil {
			return nil, err
		}
		if _, taken := points[mp.Destination]; taken {
			continue
		}
		if mp.Type != mount.TypeVolume || mp.Name != "" {
			return nil, errdefs.InvalidParameter(errInvalidSpec(spec))
		}
		points[mp.Destination] = mp
	}

	out := make([]*MountPoint, 0, len(points))
	for _, mp := range points {
		out = append(out, mp)
	}
	SortByDepth(out)
	return out, nil
}

// SortByDepth orders mount points so that a parent directory is mounted
// before anything below it; ties go by path for a stable order.
func SortByDepth(mps []*MountPoint) {
	depth := func(p string) int {
		if p == "/" {
			return 0
		}
		return strings.Count(path.Clean(p), "/")
	}
	sort.SliceStable(mps, func(i, j int) bool {
		di, dj := depth(mps[i].Destination), depth(mps[j].Destination)
		if di != dj {
			return di < dj
		}
		return mps[i].Destination < mps[j].Destination
	})
}

// tmpfsDataOptions are the filesystem options a tmpfs takes; flags (ro,
// noexec, …) are checked separately.
var tmpfsDataOptions = map[string]bool{
	"": true, "size": true, "mode": true, "uid": true, "gid": true,
	"nr_inodes": true, "nr_blocks": true, "mpol": true,
}

// tmpfsFlags are the `--tmpfs` option words that are mount flags.
var tmpfsFlags = map[string]bool{
	"defaults": true, "ro": true, "rw": true, "suid": true, "nosuid": true,
	"dev": true, "nodev": true, "exec": true, "noexec": true, "sync": true,
	"async": true, "dirsync": true, "remount": true, "mand": true,
	"nomand": true, "atime": true, "noatime": true, "diratime": true,
	"nodiratime": true, "bind": true, "rbind": true, "unbindable": true,
	"runbindable": true, "private": true, "rprivate": true, "shared": true,
	"rshared": true, "slave": true, "rslave": true, "relatime": true,
	"norelatime": true, "strictatime": true, "nostrictatime": true,
}

// ParseTmpfs validates one HostConfig.Tmpfs entry (`--tmpfs dest:opts`).
func ParseTmpfs(dest, opts string) (*MountPoint, error) {
	if err := ValidateTmpfsMountDestination(dest); err != nil {
		return nil, errdefs.InvalidParameter(err)
	}
	rw := true
	for _, o := range splitMode(opts) {
		if tmpfsFlags[o] {
			switch o {
			case "ro":
				rw = false
			case "rw":
				rw = true
			}
			continue
		}
		kv := strings.SplitN(o, "=", 2)
		if !tmpfsDataOptions[kv[0]] {
			return nil, errdefs.InvalidParameter(fmt.Errorf("invalid tmpfs option %q", kv))
		}
	}
	clean := path.Clean(filepath.ToSlash(dest))
	return &MountPoint{
		Type:         mount.TypeTmpfs,
		Destination:  clean,
		RW:           rw,
		TmpfsOptions: opts,
		Spec:         mount.Mount{Type: mount.TypeTmpfs, Target: dest, ReadOnly: !rw},
	}, nil
}

// TmpfsMountOptions is the full option list a runtime mounts a tmpfs with:
// dockerd's defaults (noexec, nosuid, nodev, rprivate and a 64 MiB size
// when nothing else is asked) overridden by the mount's own options.
func TmpfsMountOptions(mp *MountPoint) []string {
	opts := []string{"noexec", "nosuid", "nodev", string(DefaultPropagation)}
	if mp.TmpfsOptions == "" {
		opts = append(opts, "size=65536k")
	} else {
		opts = append(opts, strings.Split(mp.TmpfsOptions, ",")...)
	}
	return mergeOptions(opts)
}

// optionClass groups mount option words that override each other: later
// wins within a class.
func optionClass(o string) string {
	if k, _, ok := strings.Cut(o, "="); ok {
		return k + "="
	}
	switch o {
	case "ro", "rw":
		return "rw"
	case "suid", "nosuid":
		return "suid"
	case "dev", "nodev":
		return "dev"
	case "exec", "noexec":
		return "exec"
	case "sync", "async":
		return "sync"
	case "atime", "noatime":
		return "atime"
	case "diratime", "nodiratime":
		return "diratime"
	case "relatime", "norelatime":
		return "relatime"
	case "strictatime", "nostrictatime":
		return "strictatime"
	case "mand", "nomand":
		return "mand"
	case "private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable":
		return "propagation"
	}
	return o
}

func mergeOptions(opts []string) []string {
	last := map[string]int{}
	for i, o := range opts {
		if o != "" {
			last[optionClass(o)] = i
		}
	}
	var out []string
	for i, o := range opts {
		if o != "" && last[optionClass(o)] == i {
			out = append(out, o)
		}
	}
	return out
}
