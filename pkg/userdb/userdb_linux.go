package userdb

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"slices"

	"github.com/moby/sys/user"

	"github.com/berthd/berth/pkg/containerfs"
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
var ErrNotRegular = containerfs.ErrNotRegular

// ErrTooLarge is returned for a file larger than MaxFileSize.
var ErrTooLarge = containerfs.ErrTooLarge

// ReadFile returns the content of name, a path inside the container whose
// root directory is root, read by containerfs.ReadFileInRoot (inside the
// root only, a regular file, non-blocking, at most MaxFileSize). Symlinks
// are followed inside the root, the last one included: an image's
// /etc/passwd may link into /nix/store, and runc and dockerd read it
// there. A missing file gives an error matching fs.ErrNotExist.
func ReadFile(root *os.File, name string) ([]byte, error) {
	return containerfs.ReadFileInRoot(root, name, MaxFileSize)
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
	root, err := containerfs.OpenRoot(rootfs)
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
	gids, err := user.GetAdditionalGroups(groups, reader(db.group, db.groupErr))
	// The library collects them in a map: sorted, the same request gives
	// the same list every time.
	slices.Sort(gids)
	return gids, err
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
