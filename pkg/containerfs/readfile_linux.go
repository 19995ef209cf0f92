package containerfs

import (
	"errors"
	"io"
	"io/fs"
	"os"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// ErrNotRegular is a file ReadFileInRoot refuses to read: a FIFO (whose
// open blocks for good), a device (whose open runs a driver on the host),
// a socket or a directory, also at the end of a symlink; or a path that
// goes through a symlink loop or a magic link.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is a file longer than ReadFileInRoot's bound.
var ErrTooLarge = errors.New("file too large")

// ReadFileInRoot reads name, a path inside the tree whose root directory
// is root (a container's, an image's or a build context's), when it is a
// regular file of at most max bytes. A missing file, or a missing
// directory on the way, gives an error matching fs.ErrNotExist; every
// error is an *fs.PathError naming name.
//
// Symlinks are followed, the last one included, but only inside the root
// (RESOLVE_IN_ROOT: an absolute or climbing link resolves beneath root,
// never on the host; magic links are refused). What is opened first is an
// O_PATH handle, checked with fstat, and only that inode is reopened for
// reading, non-blocking, through a private procfs: a FIFO or a device
// swapped in at the path meanwhile is never opened.
func ReadFileInRoot(root *os.File, name string, max int64) ([]byte, error) {
	handle, err := OpenInRoot(root, name, unix.O_PATH, 0, "open")
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, &fs.PathError{Op: "open", Path: name, Err: ErrNotRegular}
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: errors.Unwrap(err)}
	}
	defer handle.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(handle.Fd()), &st); err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, &fs.PathError{Op: "open", Path: name, Err: ErrNotRegular}
	}
	if st.Size > max {
		return nil, &fs.PathError{Op: "read", Path: name, Err: ErrTooLarge}
	}
	f, err := pathrs.Reopen(handle, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC)
	if err != nil {
		return nil, &fs.PathError{Op: "reopen", Path: name, Err: err}
	}
	defer f.Close()
	// The file may grow after the fstat: read one byte past the bound to
	// tell.
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	if int64(len(b)) > max {
		return nil, &fs.PathError{Op: "read", Path: name, Err: ErrTooLarge}
	}
	return b, nil
}
