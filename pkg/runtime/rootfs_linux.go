package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

type mountOpts struct {
	flags     uintptr // mount(2) flags
	clear     uintptr // flags the options turned off (rw, suid, …)
	propagate []uintptr
	recAttr   uint64 // mount_setattr attributes for rro, rnosuid, …
	data      []string
	bind      bool
}

var mountFlags = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro": {false, unix.MS_RDONLY}, "rw": {true, unix.MS_RDONLY},
	"nosuid": {false, unix.MS_NOSUID}, "suid": {true, unix.MS_NOSUID},
	"nodev": {false, unix.MS_NODEV}, "dev": {true, unix.MS_NODEV},
	"noexec": {false, unix.MS_NOEXEC}, "exec": {true, unix.MS_NOEXEC},
	"sync": {false, unix.MS_SYNCHRONOUS}, "async": {true, unix.MS_SYNCHRONOUS},
	"dirsync": {false, unix.MS_DIRSYNC}, "remount": {false, unix.MS_REMOUNT},
	"mand": {false, unix.MS_MANDLOCK}, "nomand": {true, unix.MS_MANDLOCK},
	"noatime": {false, unix.MS_NOATIME}, "atime": {true, unix.MS_NOATIME},
	"nodiratime": {false, unix.MS_NODIRATIME}, "diratime": {true, unix.MS_NODIRATIME},
	"relatime": {false, unix.MS_RELATIME}, "norelatime": {true, unix.MS_RELATIME},
	"strictatime": {false, unix.MS_STRICTATIME}, "nostrictatime": {true, unix.MS_STRICTATIME},
	"bind": {false, unix.MS_BIND}, "rbind": {false, unix.MS_BIND | unix.MS_REC},
}

var propagationFlags = map[string]uintptr{
	"private": unix.MS_PRIVATE, "rprivate": unix.MS_PRIVATE | unix.MS_REC,
	"shared": unix.MS_SHARED, "rshared": unix.MS_SHARED | unix.MS_REC,
	"slave": unix.MS_SLAVE, "rslave": unix.MS_SLAVE | unix.MS_REC,
	"unbindable": unix.MS_UNBINDABLE, "runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

var recursiveAttrs = map[string]uint64{
	"rro": unix.MOUNT_ATTR_RDONLY, "rnosuid": unix.MOUNT_ATTR_NOSUID,
	"rnodev": unix.MOUNT_ATTR_NODEV, "rnoexec": unix.MOUNT_ATTR_NOEXEC,
}

func parseMountOptions(options []string) mountOpts {
	var o mountOpts
	for _, opt := range options {
		if f, ok := mountFlags[opt]; ok {
			if f.clear {
				o.flags &^= f.flag
				o.clear |= f.flag
			} else {
				o.flags |= f.flag
			}
			if f.flag&unix.MS_BIND != 0 {
				o.bind = true
			}
			continue
		}
		if p, ok := propagationFlags[opt]; ok {
			o.propagate = append(o.propagate, p)
			continue
		}
		if a, ok := recursiveAttrs[opt]; ok {
			o.recAttr |= a
			continue
		}
		o.data = append(o.data, opt)
	}
	return o
}

func prepareRootfs(cfg *stageConfig) error {
	spec := cfg.Spec
	// Nothing mounted in the container may propagate back to the host:
	// rslave by default (host mounts still appear inside), as runc does.
	prop := uintptr(unix.MS_SLAVE | unix.MS_REC)
	if p, ok := propagationFlags[spec.Linux.RootfsPropagation]; ok {
		prop = p
	}
	if err := unix.Mount("", "/", "", prop, ""); err != nil {
		return fmt.Errorf("make / %s: %w", spec.Linux.RootfsPropagation, err)
	}
	rootfs := cfg.Rootfs
	// pivot_root refuses a new root whose mount (or its parent) is shared,
	// which it is when the spec asks for rshared propagation. Making the
	// mount that holds rootfs private first (in our own mount namespace,
	// so nothing changes on the host) keeps the bind below private, as
	// runc does.
	if err := parentMountPrivate(rootfs); err != nil {
		return err
	}
	// pivot_root needs the new root to be a mount point.
	if err := unix.Mount(rootfs, rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind rootfs: %w", err)
	}
	for _, m := range spec.Mounts {
		if err := mountEntry(cfg, m); err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.Source, m.Destination, err)
		}
	}
	if err := createDevices(cfg); err != nil {
		return err
	}
	if cfg.NoPivot {
		return moveRoot(rootfs)
	}
	if err := pivotRoot(rootfs); err != nil {
		if errors.Is(err, unix.EINVAL) {
			// rootfs on ramfs/initramfs cannot be pivoted away from.
			return moveRoot(rootfs)
		}
		return err
	}
	return nil
}

// join resolves a container path inside rootfs without letting symlinks
// in the image escape it.
func join(rootfs, p string) (string, error) {
	return securejoin.SecureJoin(rootfs, p)
}

func mountEntry(cfg *stageConfig, m specs.Mount) error {
	dest, err := join(cfg.Rootfs, m.Destination)
	if err != nil {
		return err
	}
	o := parseMountOptions(m.Options)
	if m.Type == "bind" {
		o.bind = true
		o.flags |= unix.MS_BIND
	}
	switch {
	case o.bind:
		st, err := os.Stat(m.Source)
		if err != nil {
			return err
		}
		if err := ensureTarget(dest, st.IsDir()); err != nil {
			return err
		}
		if err := unix.Mount(m.Source, dest, "", o.flags&(unix.MS_BIND|unix.MS_REC), ""); err != nil {
			return err
		}
		// A bind mount ignores the other flags until it is remounted.
		if extra := o.flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT); extra != 0 {
			if err := remount(dest, extra); err != nil {
				return err
			}
		}
	case m.Type == "cgroup":
		if err := os.MkdirAll(dest, 0o755); err != nil {
			return err
		}
		if err := mountCgroup(cfg, dest, o); err != nil {
			return err
		}
	default:
		if err := os.MkdirAll(dest, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m.Source, dest, m.Type, o.flags, strings.Join(o.data, ",")); err != nil {
			return err
		}
	}
	for _, p := range o.propagate {
		if err := unix.Mount("", dest, "", p, ""); err != nil {
			return err
		}
	}
	if o.recAttr != 0 {
		attr := &unix.MountAttr{Attr_set: o.recAttr}
		if err := unix.MountSetattr(-1, dest, unix.AT_RECURSIVE, attr); err != nil {
			return fmt.Errorf("mount_setattr: %w", err)
		}
	}
	return nil
}

// remount applies flags to an existing (bind) mount, keeping the flags the
// kernel locks on mounts inherited from a more privileged namespace.
func remount(dest string, flags uintptr) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dest, &st); err != nil {
		return err
	}
	locked := uintptr(st.Flags) & (unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RDONLY |
		unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME)
	err := unix.Mount("", dest, "", unix.MS_BIND|unix.MS_REMOUNT|flags|locked, "")
	if err != nil && locked&unix.MS_RDONLY != 0 && flags&unix.MS_RDONLY == 0 {
		return fmt.Errorf("%w (the source is read-only)", err)
	}
	return err
}

func ensureTarget(dest string, dir bool) error {
	if dir {
		return os.MkdirAll(dest, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(dest, os.O_CREATE|os.O_RDONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

func mountCgroup(cfg *stageConfig, dest string, o mountOpts) error {
	flags := o.flags | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if cfg.CgroupV2 {
		return unix.Mount("cgroup2", dest, "cgroup2", flags, "")
	}
	ownCgroupNS := false
	for _, ns := range cfg.Spec.Linux.Namespaces {
		if ns.Type == specs.CgroupNamespace {
			ownCgroupNS = true
		}
	}
	if err := unix.Mount("tmpfs", dest, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=755"); err != nil {
		return err
	}
	for _, c := range cfg.Cgroups {
		sub := filepath.Join(dest, c.Name)
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		var err error
		// A user namespace may not mount cgroup v1 hierarchies: show the
		// container's own directories by bind mount instead, as runc does.
		if ownCgroupNS && !cfg.UserNS {
			// Inside its own cgroup namespace a fresh mount shows the
			// container's cgroup as the root.
			err = unix.Mount("cgroup", sub, "cgroup", flags, c.Options)
		} else if c.HostPath != "" {
			// Without one, show only the container's own directory.
			if err = unix.Mount(c.HostPath, sub, "", unix.MS_BIND|unix.MS_REC, ""); err == nil {
				err = remount(sub, flags)
			}
		}
		if err != nil {
			return fmt.Errorf("cgroup %s: %w", c.Name, err)
		}
		// cpu,cpuacct is also reachable as cpu and cpuacct.
		if strings.Contains(c.Name, ",") {
			for _, alias := range strings.Split(c.Name, ",") {
				_ = os.Symlink(c.Name, filepath.Join(dest, alias))
			}
		}
	}
	if flags&unix.MS_RDONLY != 0 {
		return remount(dest, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC)
	}
	return nil
}

type device struct {
	path         string
	typ          uint32
	major, minor uint32
	mode         uint32
	uid, gid     uint32
}

var defaultDevices = []device{
	{"/dev/null", unix.S_IFCHR, 1, 3, 0o666, 0, 0},
	{"/dev/zero", unix.S_IFCHR, 1, 5, 0o666, 0, 0},
	{"/dev/full", unix.S_IFCHR, 1, 7, 0o666, 0, 0},
	{"/dev/random", unix.S_IFCHR, 1, 8, 0o666, 0, 0},
	{"/dev/urandom", unix.S_IFCHR, 1, 9, 0o666, 0, 0},
	{"/dev/tty", unix.S_IFCHR, 5, 0, 0o666, 0, 0},
}

func createDevices(cfg *stageConfig) error {
	devs := append([]device(nil), defaultDevices...)
	for _, d := range cfg.Spec.Linux.Devices {
		typ := map[string]uint32{"c": unix.S_IFCHR, "u": unix.S_IFCHR, "b": unix.S_IFBLK, "p": unix.S_IFIFO}[d.Type]
		if typ == 0 {
			return fmt.Errorf("device %s: unknown type %q", d.Path, d.Type)
		}
		dev := device{path: d.Path, typ: typ, major: uint32(d.Major), minor: uint32(d.Minor), mode: 0o666}
		if d.FileMode != nil {
			dev.mode = uint32(*d.FileMode) & 0o7777
		}
		if d.UID != nil {
			dev.uid = *d.UID
		}
		if d.GID != nil {
			dev.gid = *d.GID
		}
		devs = append(devs, dev)
	}
	old := unix.Umask(0)
	defer unix.Umask(old)
	for _, d := range devs {
		dest, err := join(cfg.Rootfs, d.path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
			return err
		}
		if cfg.UserNS {
			// mknod is refused in a user namespace: bind the host's node.
			if err := ensureTarget(dest, false); err != nil {
				return err
			}
			if err := unix.Mount(d.path, dest, "", unix.MS_BIND, ""); err != nil {
				return fmt.Errorf("bind device %s: %w", d.path, err)
			}
			continue
		}
		_ = unix.Unlink(dest)
		if err := unix.Mknod(dest, d.typ|d.mode, int(unix.Mkdev(d.major, d.minor))); err != nil {
			return fmt.Errorf("mknod %s: %w", d.path, err)
		}
		if err := unix.Lchown(dest, int(d.uid), int(d.gid)); err != nil {
			return fmt.Errorf("chown %s: %w", d.path, err)
		}
	}
	devDir, err := join(cfg.Rootfs, "/dev")
	if err != nil {
		return err
	}
	for _, l := range [][2]string{
		{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
		{"/proc/self/fd/2", "stderr"}, {"pts/ptmx", "ptmx"},
	} {
		dst := filepath.Join(devDir, l[1])
		if l[1] == "ptmx" {
			_ = os.Remove(dst)
		}
		if err := os.Symlink(l[0], dst); err != nil && !os.IsExist(err) {
			return fmt.Errorf("symlink /dev/%s: %w", l[1], err)
		}
	}
	if _, err := os.Stat("/proc/kcore"); err == nil {
		_ = os.Symlink("/proc/kcore", filepath.Join(devDir, "core"))
	}
	return nil
}

func pivotRoot(rootfs string) error {
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(oldroot)
	newroot, err := unix.Open(rootfs, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(newroot)
	if err := unix.Fchdir(newroot); err != nil {
		return err
	}
	// pivot_root(".", ".") stacks the old root on top of the new one,
	// which avoids needing a directory for it inside the image.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Fchdir(oldroot); err != nil {
		return err
	}
	// Unmounting must not propagate to the host's mounts.
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return err
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount old root: %w", err)
	}
	return unix.Chdir("/")
}

func moveRoot(rootfs string) error {
	if err := unix.Chdir(rootfs); err != nil {
		return err
	}
	if err := unix.Mount(rootfs, "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move root: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return err
	}
	return unix.Chdir("/")
}

// finalizeRootfs runs after pivot_root, with paths relative to the new /.
func finalizeRootfs(cfg *stageConfig) error {
	spec := cfg.Spec
	for _, p := range spec.Linux.ReadonlyPaths {
		if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return fmt.Errorf("readonly path %s: %w", p, err)
		}
		if err := remount(p, unix.MS_RDONLY|unix.MS_REC); err != nil {
			return fmt.Errorf("readonly path %s: %w", p, err)
		}
	}
	for _, p := range spec.Linux.MaskedPaths {
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		if st.IsDir() {
			err = unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY, "")
		} else {
			err = unix.Mount("/dev/null", p, "", unix.MS_BIND, "")
		}
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("mask %s: %w", p, err)
		}
	}
	if spec.Root.Readonly {
		if err := remount("/", unix.MS_RDONLY); err != nil {
			return fmt.Errorf("read-only root: %w", err)
		}
	}
	return nil
}

// parentMountPrivate makes the mount that holds dir (dir itself when it is
// a mount point) private if it is shared.
func parentMountPrivate(dir string) error {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	parent := filepath.Clean(dir)
	best, shared := "", false
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 7 {
			continue
		}
		mp := f[4]
		if mp != "/" && parent != mp && !strings.HasPrefix(parent, mp+"/") {
			continue
		}
		if len(mp) >= len(best) {
			best = mp
			shared = false
			for _, opt := range f[6:] {
				if opt == "-" {
					break
				}
				if strings.HasPrefix(opt, "shared:") {
					shared = true
				}
			}
		}
	}
	if best == "" || !shared {
		return nil
	}
	if err := unix.Mount("", best, "", unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make %s private: %w", best, err)
	}
	return nil
}
