package containerfs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// InRoot is how every path of a container is resolved on its root
// descriptor: ".." and absolute symlinks stop at the root, and /proc magic
// links, which jump wherever the process they describe is (the host's
// root, for a host process), are refused with ELOOP.
const InRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// OpenRoot opens dir, a tree's root directory given by its host path (a
// path the engine owns: a container's rootfs, a build context), as the
// O_PATH descriptor OpenInRoot and ReadFileInRoot resolve beneath.
func OpenRoot(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return os.NewFile(uintptr(fd), dir), nil
}

// OpenInRoot opens path, a container path, on root with open(2) flags and
// resolve flags InRoot|extra. Symlinks on the way are followed inside the
// root; the last one too unless flags hold O_NOFOLLOW (with O_PATH that
// opens the link itself, a magic one included, without following it).
// Errors are *os.PathError with op and the container path.
func OpenInRoot(root *os.File, path string, flags int, extra uint64, op string) (*os.File, error) {
	rel := strings.TrimLeft(path, "/")
	if rel == "" {
		rel = "."
	}
	how := unix.OpenHow{Flags: uint64(flags) | unix.O_CLOEXEC, Resolve: InRoot | extra}
	var (
		fd  int
		err error
	)
	// EAGAIN: a rename elsewhere raced a ".." step; the kernel asks for
	// a retry rather than risk a wrong answer.
	for range 32 {
		if fd, err = unix.Openat2(int(root.Fd()), rel, &how); !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		return nil, &os.PathError{Op: op, Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), filepath.Join("/", rel)), nil
}

// IsMagicLinkRefusal reports an error of OpenInRoot that a magic link (or
// too many symlinks) caused.
func IsMagicLinkRefusal(err error) bool { return errors.Is(err, unix.ELOOP) }
