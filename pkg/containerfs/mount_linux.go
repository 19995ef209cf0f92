package containerfs

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// resolveHow keeps every lookup under the root fd: ".." and absolute
// symlinks stop at it, and /proc magic links are refused.
var resolveHow = unix.OpenHow{
	Flags:   unix.O_PATH | unix.O_CLOEXEC,
	Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
}

// OpenIn opens path (a container path) under root as an O_PATH
// descriptor, creating what is missing the way a runtime creates mount
// points: directories along the way, and the last element as a directory
// or, when file is set, an empty file.
func OpenIn(root *os.File, path string, file bool) (*os.File, error) {
	cur, err := unix.Openat2(int(root.Fd()), ".", &resolveHow)
	if err != nil {
		return nil, err
	}
	parts := strings.FieldsFunc(path, func(r rune) bool { return r == '/' })
	for i, name := range parts {
		last := i == len(parts)-1
		next, err := unix.Openat2(int(root.Fd()), strings.Join(parts[:i+1], "/"), &resolveHow)
		if errors.Is(err, unix.ENOENT) {
			// Create in the directory resolved so far, by name, so a
			// symlink planted meanwhile is not followed out.
			if last && file {
				fd, cerr := unix.Openat(cur, name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
				if cerr == nil {
					unix.Close(fd)
				}
			} else {
				unix.Mkdirat(cur, name, 0o755)
			}
			next, err = unix.Openat2(int(root.Fd()), strings.Join(parts[:i+1], "/"), &resolveHow)
		}
		unix.Close(cur)
		if err != nil {
			return nil, fmt.Errorf("resolve %s in container: %w", path, err)
		}
		cur = next
	}
	return os.NewFile(uintptr(cur), path), nil
}

// fdPath names an open descriptor for mount(2): the kernel mounts on the
// inode the descriptor holds, not on whatever the path string now means.
func fdPath(f *os.File) string { return fmt.Sprintf("/proc/thread-self/fd/%d", f.Fd()) }

// Bind mounts src onto target (from OpenIn), recursively unless
// nonRecursive, read-only when readonly. The tree is cloned detached, made
// private and read-only there, and only then attached, so there is no
// moment where a writable mount sits at target. It must run in a View's
// Setup: the mount stays in the view.
func Bind(src string, target *os.File, nonRecursive, readonly bool) error {
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	if !nonRecursive {
		flags |= unix.AT_RECURSIVE
	}
	tree, err := unix.OpenTree(unix.AT_FDCWD, src, flags)
	if err != nil {
		return fmt.Errorf("clone mount %s: %w", src, err)
	}
	defer unix.Close(tree)
	attr := &unix.MountAttr{Propagation: unix.MS_PRIVATE}
	if readonly {
		attr.Attr_set = unix.MOUNT_ATTR_RDONLY
	}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
		return fmt.Errorf("set mount attributes of %s: %w", src, err)
	}
	if err := unix.MoveMount(tree, "", int(target.Fd()), "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("bind %s onto %s: %w", src, target.Name(), err)
	}
	return nil
}

// Tmpfs mounts an empty tmpfs with data (mount options) onto target.
func Tmpfs(target *os.File, flags uintptr, data string) error {
	if err := unix.Mount("tmpfs", fdPath(target), "tmpfs", flags, data); err != nil {
		return fmt.Errorf("tmpfs onto %s: %w", target.Name(), err)
	}
	return nil
}
