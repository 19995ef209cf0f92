package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

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
	// After a recursive slave or private (the default), nothing in this
	// namespace is shared, and the mount table, which holds every other
	// container's mounts, need not be read.
	if prop != unix.MS_SLAVE|unix.MS_REC && prop != unix.MS_PRIVATE|unix.MS_REC {
		if err := parentMountPrivate(rootfs); err != nil {
			return err
		}
	}
	// pivot_root needs the new root to be a mount point.
	if err := unix.Mount(rootfs, rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind rootfs: %w", err)
	}
	root, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open rootfs: %w", err)
	}
	defer unix.Close(root)
	for _, m := range spec.Mounts {
		if err := mountEntry(cfg, root, m); err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.Source, m.Destination, err)
		}
	}
	if err := createDevices(cfg, root); err != nil {
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

// cleanPath is a container path cleaned lexically, as runc cleans a mount
// destination before resolving it.
func cleanPath(p string) string { return filepath.Clean("/" + p) }

func mountEntry(cfg *stageConfig, root int, m specs.Mount) error {
	dest := cleanPath(m.Destination)
	o := parseMountOptions(m.Options)
	if m.Type == "bind" {
		o.bind = true
		o.flags |= unix.MS_BIND
	}
	if o.bind {
		return bindEntry(root, dest, m, o)
	}
	if err := checkProcMount(dest, false, m.Type, -1); err != nil {
		return err
	}
	target, err := mkdirInRoot(root, dest)
	if err != nil {
		return err
	}
	defer unix.Close(target)
	if err := checkProcTarget(root, target, false, m.Type, -1); err != nil {
		return err
	}
	mnt := -1
	if m.Type == "cgroup" {
		mnt, err = mountCgroup(cfg, target, o)
	} else {
		err = unix.Mount(m.Source, fdPath(target), m.Type, o.flags, strings.Join(o.data, ","))
	}
	if err != nil {
		return err
	}
	if len(o.propagate) == 0 && o.recAttr == 0 {
		if mnt >= 0 {
			unix.Close(mnt)
		}
		return nil
	}
	if mnt < 0 {
		if mnt, err = mountedAt(root, dest, target); err != nil {
			return err
		}
	}
	defer unix.Close(mnt)
	return setPropagation(mnt, o)
}

// bindEntry bind-mounts a host path: the source is opened once, so what
// was looked at is what is mounted, and the copy gets its flags before it
// is attached.
func bindEntry(root int, dest string, m specs.Mount, o mountOpts) error {
	src, err := unix.Open(m.Source, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "stat", Path: m.Source, Err: err}
	}
	defer unix.Close(src)
	var st unix.Stat_t
	if err := unix.Fstat(src, &st); err != nil {
		return err
	}
	if err := checkProcMount(dest, true, m.Type, src); err != nil {
		return err
	}
	var target int
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		target, err = mkdirInRoot(root, dest)
	} else {
		target, err = fileInRoot(root, dest)
	}
	if err != nil {
		return err
	}
	defer unix.Close(target)
	if err := checkProcTarget(root, target, true, m.Type, src); err != nil {
		return err
	}
	// A bind mount takes no flags of its own: what the options add is set
	// on the detached copy (never cleared: flags locked on the source stay).
	set, clr := mountAttrs(o.flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT))
	mnt, err := bindTree(src, target, o.flags&unix.MS_REC != 0, set, clr, o.recAttr)
	if err != nil {
		return err
	}
	defer unix.Close(mnt)
	o.recAttr = 0
	return setPropagation(mnt, o)
}

// setPropagation applies the propagation options, then the recursive
// attributes (rro, …), to the mount that mnt is the root of.
func setPropagation(mnt int, o mountOpts) error {
	for _, p := range o.propagate {
		if err := unix.Mount("", fdPath(mnt), "", p, ""); err != nil {
			return err
		}
	}
	if o.recAttr != 0 {
		attr := &unix.MountAttr{Attr_set: o.recAttr}
		if err := unix.MountSetattr(mnt, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
			return fmt.Errorf("mount_setattr: %w", err)
		}
	}
	return nil
}

// procMountable are the files of /proc that a mount may cover, the ones
// lxcfs emulates (and /proc/net/dev, /proc/sys/kernel/ns_last_pid), as
// runc allows.
var procMountable = []string{
	"/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat", "/proc/swaps",
	"/proc/uptime", "/proc/loadavg", "/proc/slabinfo", "/proc/net/dev", "/proc/sys/kernel/ns_last_pid",
}

// checkProcMount refuses a mount over a part of /proc, where it could hide
// what the masks hide or redirect what the runtime writes there, as runc's
// checkProcMount does: /proc itself takes only a procfs (a fresh one, or a
// bind of one), below it only the procMountable files.
func checkProcMount(dest string, bind bool, typ string, src int) error {
	if dest == "/proc" {
		if bind {
			var st unix.Statfs_t
			if err := unix.Fstatfs(src, &st); err != nil {
				return err
			}
			if st.Type == unix.PROC_SUPER_MAGIC {
				return nil
			}
		} else if typ == "proc" {
			return nil
		}
		return fmt.Errorf("%q cannot be mounted because it is not of type proc", dest)
	}
	if !strings.HasPrefix(dest, "/proc/") || slices.Contains(procMountable, dest) {
		return nil
	}
	return fmt.Errorf("%q cannot be mounted because it is inside /proc", dest)
}

// checkProcTarget runs checkProcMount on where the target really is when
// it is on procfs: a symlink may have led a destination there.
func checkProcTarget(root, target int, bind bool, typ string, src int) error {
	var st unix.Statfs_t
	if err := unix.Fstatfs(target, &st); err != nil {
		return err
	}
	if st.Type != unix.PROC_SUPER_MAGIC {
		return nil
	}
	rootPath, err := fdRealPath(root)
	if err != nil {
		return err
	}
	targetPath, err := fdRealPath(target)
	if err != nil {
		return err
	}
	rel, ok := strings.CutPrefix(targetPath, strings.TrimSuffix(rootPath, "/")+"/")
	if !ok {
		return fmt.Errorf("mount target %s is outside the container", targetPath)
	}
	return checkProcMount(cleanPath(rel), bind, typ, src)
}

// mountCgroup mounts the cgroup filesystem onto target and returns the
// descriptor of the mount when it made one itself (v1), -1 otherwise.
func mountCgroup(cfg *stageConfig, target int, o mountOpts) (int, error) {
	flags := o.flags | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if cfg.CgroupV2 {
		return -1, unix.Mount("cgroup2", fdPath(target), "cgroup2", flags, "")
	}
	ownCgroupNS := false
	for _, ns := range cfg.Spec.Linux.Namespaces {
		if ns.Type == specs.CgroupNamespace {
			ownCgroupNS = true
		}
	}
	// The tmpfs is ours alone from its creation: everything inside it is
	// made relative to its descriptor.
	tmp, err := newMount("tmpfs", "tmpfs", []string{"mode=755"}, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC, target)
	if err != nil {
		return -1, err
	}
	if err := populateCgroupV1(cfg, tmp, flags, ownCgroupNS); err != nil {
		unix.Close(tmp)
		return -1, err
	}
	if flags&unix.MS_RDONLY != 0 {
		attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
		if err := unix.MountSetattr(tmp, "", unix.AT_EMPTY_PATH, attr); err != nil {
			unix.Close(tmp)
			return -1, fmt.Errorf("read-only cgroup tmpfs: %w", err)
		}
	}
	return tmp, nil
}

func populateCgroupV1(cfg *stageConfig, tmp int, flags uintptr, ownCgroupNS bool) error {
	for _, c := range cfg.Cgroups {
		if err := unix.Mkdirat(tmp, c.Name, 0o755); err != nil && err != unix.EEXIST {
			return fmt.Errorf("cgroup %s: %w", c.Name, err)
		}
		sub, err := openat2(tmp, c.Name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW,
			unix.RESOLVE_BENEATH|unix.RESOLVE_NO_SYMLINKS|unix.RESOLVE_NO_XDEV)
		if err != nil {
			return fmt.Errorf("cgroup %s: %w", c.Name, err)
		}
		// A user namespace may not mount cgroup v1 hierarchies: show the
		// container's own directories by bind mount instead, as runc does.
		if ownCgroupNS && !cfg.UserNS {
			// Inside its own cgroup namespace a fresh mount shows the
			// container's cgroup as the root.
			err = unix.Mount("cgroup", fdPath(sub), "cgroup", flags, c.Options)
		} else if c.HostPath != "" {
			// Without one, show only the container's own directory.
			err = bindHostDir(c.HostPath, sub, flags)
		}
		unix.Close(sub)
		if err != nil {
			return fmt.Errorf("cgroup %s: %w", c.Name, err)
		}
		// cpu,cpuacct is also reachable as cpu and cpuacct.
		if strings.Contains(c.Name, ",") {
			for _, alias := range strings.Split(c.Name, ",") {
				_ = unix.Symlinkat(c.Name, tmp, alias)
			}
		}
	}
	return nil
}

// bindHostDir binds a host directory recursively onto target with flags.
func bindHostDir(host string, target int, flags uintptr) error {
	src, err := unix.Open(host, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(src)
	set, clr := mountAttrs(flags)
	mnt, err := bindTree(src, target, true, set, clr, 0)
	if err == nil {
		unix.Close(mnt)
	}
	return err
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

func createDevices(cfg *stageConfig, root int) error {
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
	// Nodes are made by name in their directory's descriptor, so that a
	// directory swapped for a symlink (a /dev shared through a volume)
	// cannot send a mknod, chown or unlink anywhere else.
	dirs := map[string]int{}
	defer func() {
		for _, fd := range dirs {
			unix.Close(fd)
		}
	}()
	dirFd := func(dir string) (int, error) {
		if fd, ok := dirs[dir]; ok {
			return fd, nil
		}
		fd, err := mkdirInRoot(root, dir)
		if err == nil {
			dirs[dir] = fd
		}
		return fd, err
	}
	for _, d := range devs {
		rel := relPath(d.path)
		name := filepath.Base(rel)
		dir, err := dirFd(filepath.Dir(rel))
		if err != nil {
			return fmt.Errorf("device %s: %w", d.path, err)
		}
		if cfg.UserNS {
			// mknod is refused in a user namespace: bind the host's node.
			if err := bindHostDevice(root, d.path); err != nil {
				return fmt.Errorf("bind device %s: %w", d.path, err)
			}
			continue
		}
		_ = unix.Unlinkat(dir, name, 0)
		if err := unix.Mknodat(dir, name, d.typ|d.mode, int(unix.Mkdev(d.major, d.minor))); err != nil {
			return fmt.Errorf("mknod %s: %w", d.path, err)
		}
		if err := unix.Fchownat(dir, name, int(d.uid), int(d.gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown %s: %w", d.path, err)
		}
	}
	devDir, err := dirFd("dev")
	if err != nil {
		return fmt.Errorf("/dev: %w", err)
	}
	for _, l := range [][2]string{
		{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
		{"/proc/self/fd/2", "stderr"}, {"pts/ptmx", "ptmx"},
	} {
		if l[1] == "ptmx" {
			_ = unix.Unlinkat(devDir, "ptmx", 0)
		}
		if err := unix.Symlinkat(l[0], devDir, l[1]); err != nil && err != unix.EEXIST {
			return fmt.Errorf("symlink /dev/%s: %w", l[1], err)
		}
	}
	if _, err := os.Stat("/proc/kcore"); err == nil {
		_ = unix.Symlinkat("/proc/kcore", devDir, "core")
	}
	return nil
}

// bindHostDevice binds the host's device node at p onto the same path in
// the container.
func bindHostDevice(root int, p string) error {
	src, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(src)
	target, err := fileInRoot(root, p)
	if err != nil {
		return err
	}
	defer unix.Close(target)
	mnt, err := bindTree(src, target, false, 0, 0, 0)
	if err == nil {
		unix.Close(mnt)
	}
	return err
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
	root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(root)
	for _, p := range spec.Linux.ReadonlyPaths {
		if err := readonlyPath(root, p); err != nil {
			return fmt.Errorf("readonly path %s: %w", p, err)
		}
	}
	if err := maskPaths(root, spec.Linux.MaskedPaths); err != nil {
		return err
	}
	if spec.Root.Readonly {
		if err := remount("/", unix.MS_RDONLY); err != nil {
			return fmt.Errorf("read-only root: %w", err)
		}
	}
	return nil
}

// readonlyPath covers p with a read-only bind of itself. A path that this
// kernel does not have needs nothing.
func readonlyPath(root int, p string) error {
	fd, err := openInRoot(root, p, unix.O_PATH)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	mnt, err := bindTree(fd, fd, true, unix.MOUNT_ATTR_RDONLY, 0, 0)
	if err == nil {
		unix.Close(mnt)
	}
	return err
}

// maskPaths covers each path with the null device (files) or an empty
// read-only tmpfs (directories), as runc does. Only a path that does not
// exist is skipped: a mask that cannot be applied fails the start, since a
// start without it would show what it hides (CVE-2025-31133).
func maskPaths(root int, paths []string) error {
	null := -1
	defer func() {
		if null >= 0 {
			unix.Close(null)
		}
	}()
	for _, p := range paths {
		fd, err := openInRoot(root, p, unix.O_PATH)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err == nil {
			err = maskOne(root, fd, &null)
			unix.Close(fd)
		}
		if err != nil {
			return fmt.Errorf("mask %s: %w", p, err)
		}
	}
	return nil
}

func maskOne(root, target int, null *int) error {
	var st unix.Stat_t
	if err := unix.Fstat(target, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		mnt, err := newMount("tmpfs", "tmpfs", nil, unix.MOUNT_ATTR_RDONLY, target)
		if err == nil {
			unix.Close(mnt)
		}
		return err
	}
	if *null < 0 {
		fd, err := openDevNull(root)
		if err != nil {
			return err
		}
		*null = fd
	}
	mnt, err := bindTree(*null, target, false, 0, 0, 0)
	if err != nil {
		// ENOENT: it was unlinked since it was opened.
		return fmt.Errorf("bind /dev/null: %w", err)
	}
	unix.Close(mnt)
	return nil
}

// openDevNull opens the container's /dev/null and makes sure it is the
// null device (character device 1:3) and no symlink: /dev may be a volume
// that another container changes, and whatever it put there would be bound
// over the masked files (CVE-2025-31133).
func openDevNull(root int) (int, error) {
	fd, err := openat2(root, "dev/null", unix.O_PATH|unix.O_NOFOLLOW,
		unix.RESOLVE_IN_ROOT|unix.RESOLVE_NO_MAGICLINKS|unix.RESOLVE_NO_SYMLINKS)
	if err != nil {
		return -1, fmt.Errorf("open /dev/null: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := isNullDevice(&st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func isNullDevice(st *unix.Stat_t) error {
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 1 || unix.Minor(st.Rdev) != 3 {
		return fmt.Errorf("/dev/null is not the null device (mode %#o, device %d:%d)",
			st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev))
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
