package topdir

import (
	"errors"
	"os"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// fsTopdirFl is FS_TOPDIR_FL of linux/fs.h ("top of directory
// hierarchies"); x/sys/unix does not name it.
const fsTopdirFl = 0x00020000

// Mark creates dir (and its parents, mode perm) if needed and sets its
// top-directory attribute. Only the creation can fail: the mark is a
// placement hint, so a filesystem without it is ignored and any other
// failure to set it is logged.
func Mark(dir string, perm os.FileMode) error {
	if err := os.MkdirAll(dir, perm); err != nil {
		return err
	}
	if err := ignoreUnsupported(setFlag(dir)); err != nil {
		logrus.WithError(err).WithField("dir", dir).Warn("could not mark the directory as the top of its subdirectories")
	}
	return nil
}

func setFlag(dir string) error {
	return withFlags(dir, func(fd, flags int) error {
		if flags&fsTopdirFl != 0 {
			return nil
		}
		return unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, flags|fsTopdirFl)
	})
}

// isMarked reports whether dir has the attribute.
func isMarked(dir string) (marked bool, err error) {
	err = withFlags(dir, func(_, flags int) error {
		marked = flags&fsTopdirFl != 0
		return nil
	})
	return marked, err
}

// withFlags calls fn with dir open and its inode attributes.
func withFlags(dir string, fn func(fd, flags int) error) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	flags, err := unix.IoctlGetInt(fd, unix.FS_IOC_GETFLAGS)
	if err != nil {
		return err
	}
	return fn(fd, flags)
}

func ignoreUnsupported(err error) error {
	if errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		return nil
	}
	return err
}
