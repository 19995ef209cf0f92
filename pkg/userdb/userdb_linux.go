package userdb

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/moby/sys/user"
	"golang.org/x/sys/unix"
)

// MaxFileSize bounds what is read of one file: github.com/moby/sys/user's
// own cap for the files it opens. Real passwd and group files are a few
// KiB; the bound keeps a hostile one from costing the daemon memory or
// time.
const MaxFileSize = 10 << 20

const (
	passwdPath = "/etc/passwd"
	groupPath  = "/etc/group"
)

// ErrNotRegular is returned for a file that exists but is not a regular
// file (a FIFO, a device, a socket or a directory, also at the end of a
// symlink), or is reached through a symlink loop or a magic link.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is returned for a file larger than MaxFileSize.
var ErrTooLarge = fmt.Errorf("file exceeds %d bytes", MaxFileSize)

// ReadFile returns the content of name, a path inside the container whose
// root directory is root. A missing file (or a missing directory on the
// way) gives an error matching fs.ErrNotExist.
//
// Symlinks are followed, the last one included, but only inside the root
// (an image's /etc/passwd may link into /nix/store, and runc and dockerd
// read it there): RESOLVE_IN_ROOT makes an absolute or climbing link
// resolve beneath root, never on the host, and magic links are refused.
// What is opened is an O_PATH handle, checked to be a regular file before
// it is read.
func ReadFile(root *os.File, name string) ([]byte, error) {
	h, err := unix.Openat2(int(root.Fd()), name, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			// A symlink loop, or a magic link, on the way.
			return nil, &fs.PathError{Op: "open", Path: name, Err: ErrNotRegular}
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	handle := os.NewFile(uintptr(h), name)
	defer handle.Close()
	var st unix.Stat_t
	if err := unix.Fstat(h, &st); err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, &fs.PathError{Op: "open", Path: name, Err: ErrNotRegular}
	}
	if st.Size > MaxFileSize {
		return nil, &fs.PathError{Op: "read", Path: name, Err: ErrTooLarge}
	}
	// The handle pins the inode that was checked: reopening it cannot land
	// on a FIFO or device swapped in at the path meanwhile.
	f, err := pathrs.Reopen(handle, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC)
	if err != nil {
		return nil, &fs.PathError{Op: "reopen", Path: name, Err: err}
	}
	defer f.Close()
	// The file may grow after the fstat: read one byte past the bound to
	// tell.
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	if len(b) > MaxFileSize {
		return nil, &fs.PathError{Op: "read", Path: name, Err: ErrTooLarge}
	}
	return b, nil
}

// OpenRoot opens a container's root directory (a path on the host, owned
// by the engine) for the lookups below.
func OpenRoot(rootfs string) (*os.File, error) {
	fd, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: rootfs, Err: err}
	}
	return os.NewFile(uintptr(fd), rootfs), nil
}

// DB is a container's passwd and group files, read once.
type DB struct {
	passwd, group       []byte
	passwdErr, groupErr error
}

// Read reads root's /etc/passwd and /etc/group. It does not fail: an
// unusable file is remembered and reported by the lookups that need it.
func Read(root *os.File) *DB {
	db := &DB{}
	db.passwd, db.passwdErr = ReadFile(root, passwdPath)
	db.group, db.groupErr = ReadFile(root, groupPath)
	return db
}

// ReadPath is Read for a root given by its host path.
func ReadPath(rootfs string) (*DB, error) {
	root, err := OpenRoot(rootfs)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return Read(root), nil
}

// reader gives GetExecUser and friends what they expect: nil for a file
// that could not be opened as a regular file (no entries: numeric IDs
// still resolve, names fail with "no matching entries"), which is how
// dockerd, through moby/sys/user, treats one; a reader that fails for a
// file that was opened but could not be read whole, so the lookup fails
// with the reason rather than use a part.
func reader(b []byte, err error) io.Reader {
	var pe *fs.PathError
	switch {
	case err == nil:
		return bytes.NewReader(b)
	case errors.As(err, &pe) && pe.Op == "open":
		return nil
	default:
		return errReader{err}
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// ExecUser resolves a user spec ("", "name", "uid", "name:group",
// "uid:gid", …) as runc does, with dockerd's messages ("unable to find user
// x: no matching entries in passwd file").
func (db *DB) ExecUser(spec string) (*user.ExecUser, error) {
	return user.GetExecUser(spec, nil, reader(db.passwd, db.passwdErr), reader(db.group, db.groupErr))
}

// AdditionalGroups resolves --group-add entries (names or numeric IDs).
func (db *DB) AdditionalGroups(groups []string) ([]int, error) {
	return user.GetAdditionalGroups(groups, reader(db.group, db.groupErr))
}

// LookupUser finds the first passwd entry named name (names only: the
// caller decides what a number means). The error is
// user.ErrNoPasswdEntries when there is none, or why the file could not
// be read.
func (db *DB) LookupUser(name string) (user.User, error) {
	users, err := parseOrNone(reader(db.passwd, db.passwdErr), func(r io.Reader) ([]user.User, error) {
		return user.ParsePasswdFilter(r, func(u user.User) bool { return u.Name == name })
	})
	if err != nil {
		return user.User{}, err
	}
	if len(users) == 0 {
		return user.User{}, user.ErrNoPasswdEntries
	}
	return users[0], nil
}

// LookupGroup finds the first group entry named name, as LookupUser.
func (db *DB) LookupGroup(name string) (user.Group, error) {
	groups, err := parseOrNone(reader(db.group, db.groupErr), func(r io.Reader) ([]user.Group, error) {
		return user.ParseGroupFilter(r, func(g user.Group) bool { return g.Name == name })
	})
	if err != nil {
		return user.Group{}, err
	}
	if len(groups) == 0 {
		return user.Group{}, user.ErrNoGroupEntries
	}
	return groups[0], nil
}

// parseOrNone parses r, or finds nothing in a file that is not there.
func parseOrNone[T any](r io.Reader, parse func(io.Reader) ([]T, error)) ([]T, error) {
	if r == nil {
		return nil, nil
	}
	return parse(r)
}
