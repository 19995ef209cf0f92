package build

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// maxContextFile bounds what the daemon reads of a context's Dockerfile
// or .dockerignore into memory. The context is the client's (or a remote
// repository's): its files are read as untrusted input.
const maxContextFile = 16 << 20

// errNotRegular is a context file that is not a regular file: a FIFO
// would block the read for good, a device could be read without end.
var errNotRegular = errors.New("not a regular file")

// readContextFile reads the file name of the context in dir. Symlinks are
// followed as a chroot at dir would follow them (dockerd resolves the
// Dockerfile in the context's scope), so a link can never name a host
// file; /proc magic links are refused. The file must be regular and at
// most maxContextFile long.
func readContextFile(dir, name string) ([]byte, error) {
	root, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(root)
	fd, err := unix.Openat2(root, name, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	})
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &os.PathError{Op: "read", Path: name, Err: errNotRegular}
	}
	if fi.Size() > maxContextFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, maxContextFile)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxContextFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxContextFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, maxContextFile)
	}
	return b, nil
}
