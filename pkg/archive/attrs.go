package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// dirTime is a directory whose times are set last, by setDirTimes.
type dirTime struct {
	rel  string
	ts   []unix.Timespec
	root bool
}

// owner is the uid and gid an entry gets: its header's, or
// ExtractOptions.Chown.
func (e *extractor) owner(hdr *tar.Header) (int, int) {
	if e.o.Chown != nil {
		return e.o.Chown[0], e.o.Chown[1]
	}
	return hdr.Uid, hdr.Gid
}

// applyFd sets owner, mode and xattrs on an open file or directory.
func (e *extractor) applyFd(hdr *tar.Header, fd, uid, gid int, mode uint32) error {
	// chown before chmod: chown clears set-id bits.
	if err := unix.Fchown(fd, uid, gid); err != nil {
		return fmt.Errorf("chown %s: %w", hdr.Name, err)
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		return fmt.Errorf("chmod %s: %w", hdr.Name, err)
	}
	return e.xattrs(hdr, func(name string, v []byte) error { return unix.Fsetxattr(fd, name, v, 0) })
}

// applyAt sets owner, mode (when chmod), xattrs and times on base in pfd,
// a symlink or a node that cannot be opened without side effects, never
// following a symlink.
func (e *extractor) applyAt(hdr *tar.Header, pfd int, rel, base string, uid, gid int, mode uint32, chmod bool) error {
	if err := unix.Fchownat(pfd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown %s: %w", rel, err)
	}
	if chmod {
		if err := chmodNoFollow(pfd, base, mode); err != nil {
			return fmt.Errorf("chmod %s: %w", rel, err)
		}
	}
	p := fdPath(pfd) + "/" + base
	if err := e.xattrs(hdr, func(name string, v []byte) error { return unix.Lsetxattr(p, name, v, 0) }); err != nil {
		return err
	}
	if err := unix.UtimesNanoAt(pfd, base, timespecs(hdr), unix.AT_SYMLINK_NOFOLLOW); err != nil && !errors.Is(err, unix.ENOTSUP) {
		return fmt.Errorf("set times on %s: %w", rel, err)
	}
	return nil
}

// fdPath names a descriptor for the calls that have no *at form
// (lsetxattr on an O_PATH descriptor's entries).
func fdPath(fd int) string { return "/proc/thread-self/fd/" + strconv.Itoa(fd) }

var noFchmodat2 atomic.Bool

// chmodNoFollow changes the mode of base in pfd without following a
// symlink there: fchmodat2(AT_SYMLINK_NOFOLLOW) where the kernel has it
// (6.6), else through an O_PATH descriptor of the entry that is checked
// not to be a symlink.
func chmodNoFollow(pfd int, base string, mode uint32) error {
	if !noFchmodat2.Load() {
		err := fchmodat2(pfd, base, mode, unix.AT_SYMLINK_NOFOLLOW)
		if !errors.Is(err, unix.ENOSYS) {
			return err
		}
		noFchmodat2.Store(true)
	}
	fd, err := unix.Openat(pfd, base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return unix.ELOOP
	}
	return unix.Chmod(fdPath(fd), mode)
}

// fchmodat2 is the raw system call: x/sys's Fchmodat reports a missing
// fchmodat2 as EOPNOTSUPP, which is also the kernel's answer for a
// symlink.
func fchmodat2(dirfd int, path string, mode uint32, flags int) error {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return err
	}
	_, _, errno := unix.Syscall6(unix.SYS_FCHMODAT2, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(mode), uintptr(flags), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func (e *extractor) xattrs(hdr *tar.Header, set func(name string, v []byte) error) error {
	if !e.o.Xattrs {
		return nil
	}
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, paxXattr)
		if !ok || name == "" || strings.HasPrefix(name, overlayXattrPrefix) {
			continue
		}
		if err := set(name, []byte(v)); err != nil {
			// Like dockerd: not every filesystem takes every namespace.
			if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EPERM) {
				continue
			}
			return fmt.Errorf("set xattr %s on %s: %w", name, hdr.Name, err)
		}
	}
	return nil
}

// setDirTimes runs last, deepest first, because creating entries in a
// directory changes its mtime. Each path is resolved again as the
// entries were and the last element is not followed, so a symlink that a
// later entry put in a directory's place is dated itself, never its
// target.
func (e *extractor) setDirTimes() error {
	for i := len(e.dirs) - 1; i >= 0; i-- {
		d := e.dirs[i]
		hdr := &tar.Header{Name: "/" + d.rel}
		if len(e.cache) >= parentCacheMax {
			e.closeCache()
		}
		if d.root {
			pfd, err := e.parent(hdr, d.rel, false)
			if err != nil {
				continue
			}
			if err := unix.UtimesNanoAt(pfd, "", d.ts, unix.AT_EMPTY_PATH); err != nil && !errors.Is(err, unix.ENOTSUP) {
				return fmt.Errorf("set times on %s: %w", hdr.Name, err)
			}
			continue
		}
		pfd, err := e.parent(hdr, parentOf(d.rel), false)
		if err != nil {
			// Removed by a later entry: nothing to date.
			continue
		}
		err = unix.UtimesNanoAt(pfd, path.Base(d.rel), d.ts, unix.AT_SYMLINK_NOFOLLOW)
		if err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENOTSUP) {
			return fmt.Errorf("set times on %s: %w", hdr.Name, err)
		}
	}
	return nil
}

var (
	unixEpoch = time.Unix(0, 0)
	unixMax   = time.Unix(0, 1<<63-1)
)

// boundTime is dockerd's: a time the syscall cannot take becomes the
// epoch.
func boundTime(t time.Time) time.Time {
	if t.Before(unixEpoch) || t.After(unixMax) {
		return unixEpoch
	}
	return t
}

// timespecs are an entry's access and modification times as dockerd
// sets them: the access time is never before the modification time.
func timespecs(hdr *tar.Header) []unix.Timespec {
	atime, mtime := hdr.AccessTime, hdr.ModTime
	if atime.Before(mtime) {
		atime = mtime
	}
	return []unix.Timespec{
		unix.NsecToTimespec(boundTime(atime).UnixNano()),
		unix.NsecToTimespec(boundTime(mtime).UnixNano()),
	}
}
