package runtime

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The container's filesystem is only ever reached through a descriptor of
// its root, never by a path string: a container sharing a volume with this
// one can swap a directory of that volume for a symlink at any moment, and
// a mkdir, mknod or mount by path would then follow it out onto the host
// (CVE-2021-30465). Each path is resolved by the kernel beneath the root
// (symlinks and ".." stop at it, /proc magic links are refused), missing
// parts are created relative to the directory already resolved, and mounts
// go onto the resulting descriptor, so that what was checked is what is
// mounted on.

const resolveInRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// relPath cleans a container path lexically (as runc does with a mount
// destination) and makes it relative to the root.
func relPath(p string) string {
	p = strings.TrimPrefix(filepath.Clean("/"+p), "/")
	if p == "" {
		return "."
	}
	return p
}

// openat2 retries the EAGAIN that the kernel returns when a rename or a
// mount raced with a RESOLVE_IN_ROOT lookup.
func openat2(dir int, p string, flags int, resolve uint64) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: resolve}
	for i := 0; ; i++ {
		fd, err := unix.Openat2(dir, p, &how)
		if (err == unix.EAGAIN && i < 64) || err == unix.EINTR {
			continue
		}
		return fd, err
	}
}

// openInRoot opens the container path p beneath root.
func openInRoot(root int, p string, flags int) (int, error) {
	return openat2(root, relPath(p), flags, resolveInRoot)
}

// mkdirInRoot returns an O_PATH descriptor of the directory p beneath root,
// creating what is missing of it. A dangling symlink on the way is followed
// (inside the root) to create its target, as SecureJoin plus MkdirAll did.
func mkdirInRoot(root int, p string) (int, error) {
	rel := relPath(p)
	for links := 0; ; links++ {
		fd, redirect, err := mkdirInRootOnce(root, rel)
		if redirect == "" {
			return fd, err
		}
		if links == 40 {
			return -1, unix.ELOOP
		}
		rel = redirect
	}
}

// mkdirInRootOnce does the work of mkdirInRoot, or returns the path to try
// instead when a dangling symlink is in the way.
func mkdirInRootOnce(root int, rel string) (int, string, error) {
	fd, err := openInRoot(root, rel, unix.O_PATH|unix.O_DIRECTORY)
	if !errors.Is(err, unix.ENOENT) {
		return fd, "", err
	}
	parts := strings.Split(rel, "/")
	// The deepest part that exists...
	n := len(parts) - 1
	cur := -1
	for ; n > 0; n-- {
		cur, err = openInRoot(root, strings.Join(parts[:n], "/"), unix.O_PATH|unix.O_DIRECTORY)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.ENOENT) {
			return -1, "", err
		}
	}
	if n == 0 {
		if cur, err = openInRoot(root, ".", unix.O_PATH|unix.O_DIRECTORY); err != nil {
			return -1, "", err
		}
	}
	// ...then one directory at a time, made in the directory already
	// resolved and resolved again beneath root: whatever was swapped in
	// meanwhile is followed inside the container only.
	for ; n < len(parts); n++ {
		if err := unix.Mkdirat(cur, parts[n], 0o755); err != nil && err != unix.EEXIST {
			unix.Close(cur)
			return -1, "", err
		}
		next, err := openInRoot(root, strings.Join(parts[:n+1], "/"), unix.O_PATH|unix.O_DIRECTORY)
		if errors.Is(err, unix.ENOENT) {
			if target, lerr := readlinkat(cur, parts[n]); lerr == nil {
				unix.Close(cur)
				rest := strings.Join(parts[n+1:], "/")
				if !filepath.IsAbs(target) {
					target = filepath.Join(strings.Join(parts[:n], "/"), target)
				}
				return -1, relPath(target + "/" + rest), nil
			}
		}
		unix.Close(cur)
		if err != nil {
			return -1, "", err
		}
		cur = next
	}
	return cur, "", nil
}

func readlinkat(dir int, name string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dir, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// fileInRoot returns an O_PATH descriptor of p beneath root, creating it as
// an empty file (and its parents) when it does not exist: the mount point
// of a bind-mounted file. A dangling symlink (an image's /etc/resolv.conf)
// is followed inside the root to create its target.
func fileInRoot(root int, p string) (int, error) {
	rel := relPath(p)
	for links := 0; ; links++ {
		fd, err := openInRoot(root, rel, unix.O_PATH)
		if !errors.Is(err, unix.ENOENT) {
			return fd, err
		}
		dir, base := filepath.Dir(rel), filepath.Base(rel)
		parent, err := mkdirInRoot(root, dir)
		if err != nil {
			return -1, err
		}
		// O_EXCL: never open (and block on) a FIFO that appeared meanwhile.
		f, err := unix.Openat(parent, base, unix.O_CREAT|unix.O_EXCL|unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
		if err == nil {
			unix.Close(f)
		} else if err != unix.EEXIST {
			unix.Close(parent)
			return -1, err
		}
		fd, err = openInRoot(root, rel, unix.O_PATH)
		if !errors.Is(err, unix.ENOENT) || links == 40 {
			unix.Close(parent)
			return fd, err
		}
		target, lerr := readlinkat(parent, base)
		unix.Close(parent)
		if lerr != nil {
			return -1, err
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(dir, target)
		}
		rel = relPath(target)
	}
}

// fdPath names an open descriptor for mount(2), which then mounts on the
// inode the descriptor holds and not on whatever the path means by then.
func fdPath(fd int) string { return "/proc/thread-self/fd/" + strconv.Itoa(fd) }

// bindTree clones the mount tree at src (the single mount without
// recursive), gives the copy the mount attributes set while it is still
// detached, so that no writable moment is visible at target, and attaches
// it onto target. It returns the descriptor of the attached mount, on
// which propagation can still be changed.
func bindTree(src, target int, recursive bool, set, clr, recSet uint64) (int, error) {
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC | unix.AT_EMPTY_PATH)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	tree, err := unix.OpenTree(src, "", flags)
	if err != nil {
		return -1, fmt.Errorf("clone mount: %w", err)
	}
	if set != 0 || clr != 0 {
		if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH, &unix.MountAttr{Attr_set: set, Attr_clr: clr}); err != nil {
			unix.Close(tree)
			return -1, fmt.Errorf("mount_setattr: %w", err)
		}
	}
	if recSet != 0 {
		if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &unix.MountAttr{Attr_set: recSet}); err != nil {
			unix.Close(tree)
			return -1, fmt.Errorf("mount_setattr: %w", err)
		}
	}
	if err := unix.MoveMount(tree, "", target, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		unix.Close(tree)
		return -1, fmt.Errorf("move_mount: %w", err)
	}
	return tree, nil
}

// newMount creates a filesystem with the new mount API and attaches it
// onto target, returning the mount's descriptor. Options are key=value
// strings or flags.
func newMount(fstype, source string, options []string, attr uint64, target int) (int, error) {
	fsfd, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen %s: %w", fstype, err)
	}
	defer unix.Close(fsfd)
	if source != "" {
		if err := unix.FsconfigSetString(fsfd, "source", source); err != nil {
			return -1, fmt.Errorf("fsconfig %s source: %w", fstype, err)
		}
	}
	for _, o := range options {
		if k, v, ok := strings.Cut(o, "="); ok {
			err = unix.FsconfigSetString(fsfd, k, v)
		} else {
			err = unix.FsconfigSetFlag(fsfd, o)
		}
		if err != nil {
			return -1, fmt.Errorf("fsconfig %s %s: %w", fstype, o, err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("fsconfig %s create: %w", fstype, err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, int(attr))
	if err != nil {
		return -1, fmt.Errorf("fsmount %s: %w", fstype, err)
	}
	if err := unix.MoveMount(mfd, "", target, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		unix.Close(mfd)
		return -1, fmt.Errorf("move_mount %s: %w", fstype, err)
	}
	return mfd, nil
}

// mountedAt returns a descriptor of the mount that was just made onto
// under (a descriptor of the mount point, which still names the covered
// directory): p is resolved again beneath root and must now lead to the
// root of another mount, or a swap redirected it and the error says so.
func mountedAt(root int, p string, under int) (int, error) {
	fd, err := openInRoot(root, p, unix.O_PATH)
	if err != nil {
		return -1, err
	}
	var was, now unix.Statx_t
	if err := unix.Statx(under, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &was); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &now); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if now.Mnt_id == was.Mnt_id || now.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 && now.Attributes&unix.STATX_ATTR_MOUNT_ROOT == 0 {
		unix.Close(fd)
		return -1, fmt.Errorf("%s changed while it was mounted on: refusing to change another mount", p)
	}
	return fd, nil
}

// mountAttrs translates mount(2) flags into mount_setattr attributes: what
// to set, and the atime bits to clear first when an atime mode is set.
func mountAttrs(flags uintptr) (set, clr uint64) {
	for _, f := range []struct {
		flag uintptr
		attr uint64
	}{
		{unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY}, {unix.MS_NOSUID, unix.MOUNT_ATTR_NOSUID},
		{unix.MS_NODEV, unix.MOUNT_ATTR_NODEV}, {unix.MS_NOEXEC, unix.MOUNT_ATTR_NOEXEC},
		{unix.MS_NODIRATIME, unix.MOUNT_ATTR_NODIRATIME},
	} {
		if flags&f.flag != 0 {
			set |= f.attr
		}
	}
	switch {
	case flags&unix.MS_NOATIME != 0:
		set, clr = set|unix.MOUNT_ATTR_NOATIME, unix.MOUNT_ATTR__ATIME
	case flags&unix.MS_STRICTATIME != 0:
		set, clr = set|unix.MOUNT_ATTR_STRICTATIME, unix.MOUNT_ATTR__ATIME
	case flags&unix.MS_RELATIME != 0:
		clr = unix.MOUNT_ATTR__ATIME // MOUNT_ATTR_RELATIME is 0
	}
	return set, clr
}

// fdRealPath is the path the kernel has for an open descriptor.
func fdRealPath(fd int) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlink(fdPath(fd), buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}
