package archive

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// UntarOptions say how Untar extracts.
type UntarOptions struct {
	// NoOverwriteDirNonDir refuses to replace a directory with a
	// non-directory or the reverse (docker cp's default).
	NoOverwriteDirNonDir bool
	// Chown, when set, owns every entry by these IDs instead of the
	// archive's (copyUIDGID with a container user).
	Chown *[2]int
}

// BreakoutError is an entry that would land outside the destination.
type BreakoutError struct{ error }

// InvalidParameter marks it as the client's fault.
func (BreakoutError) InvalidParameter() {}

// Untar extracts a tar stream (plain, gzip or bzip2) into the directory
// dest, as dockerd's archive.Untar does for docker cp: existing entries
// are replaced except directory onto directory, which merges; missing
// parents are created 0755; links must point inside dest.
func Untar(r io.Reader, dest string, o UntarOptions) error {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(3)
	var in io.Reader = br
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		gz, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		defer gz.Close()
		in = gz
	case bytes.HasPrefix(head, []byte("BZh")):
		in = bzip2.NewReader(br)
	}
	dest = filepath.Clean(dest)
	tr := tar.NewReader(in)
	buf := make([]byte, 128<<10)
	var dirs []*tar.Header
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		hdr.Name = filepath.Clean(hdr.Name)
		if !strings.HasSuffix(hdr.Name, "/") {
			parent := filepath.Join(dest, filepath.Dir(hdr.Name))
			if _, err := os.Lstat(parent); errors.Is(err, os.ErrNotExist) {
				if err := mkdirAll(parent, o.Chown); err != nil {
					return err
				}
			}
		}
		path := filepath.Join(dest, hdr.Name)
		rel, err := filepath.Rel(dest, path)
		if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			return BreakoutError{fmt.Errorf("%q is outside of %q", hdr.Name, dest)}
		}
		if fi, err := os.Lstat(path); err == nil {
			if o.NoOverwriteDirNonDir && fi.IsDir() && hdr.Typeflag != tar.TypeDir {
				return fmt.Errorf("cannot overwrite directory %q with non-directory %q", path, dest)
			}
			if o.NoOverwriteDirNonDir && !fi.IsDir() && hdr.Typeflag == tar.TypeDir {
				return fmt.Errorf("cannot overwrite non-directory %q with directory %q", path, dest)
			}
			if fi.IsDir() && hdr.Name == "." {
				continue
			}
			if !fi.IsDir() || hdr.Typeflag != tar.TypeDir {
				if err := os.RemoveAll(path); err != nil {
					return err
				}
			}
		}
		if err := createEntry(path, dest, hdr, tr, o, buf); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeDir {
			dirs = append(dirs, hdr)
		}
	}
	// Directory times last: creating entries in them changed them.
	for _, hdr := range dirs {
		path := filepath.Join(dest, hdr.Name)
		ts := []unix.Timespec{timespec(latest(hdr.AccessTime, hdr.ModTime)), timespec(hdr.ModTime)}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, path, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
	}
	return nil
}

func mkdirAll(p string, chown *[2]int) error {
	if fi, err := os.Lstat(p); err == nil {
		if !fi.IsDir() {
			return &os.PathError{Op: "mkdir", Path: p, Err: unix.ENOTDIR}
		}
		return nil
	}
	if err := mkdirAll(filepath.Dir(p), chown); err != nil {
		return err
	}
	if err := os.Mkdir(p, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	if chown != nil {
		return os.Lchown(p, chown[0], chown[1])
	}
	return nil
}

func createEntry(path, dest string, hdr *tar.Header, r io.Reader, o UntarOptions, buf []byte) error {
	perm := os.FileMode(hdr.Mode & 0o777)
	switch hdr.Typeflag {
	case tar.TypeDir:
		if fi, err := os.Lstat(path); err != nil || !fi.IsDir() {
			if err := os.Mkdir(path, perm); err != nil {
				return err
			}
		}
	case tar.TypeReg, tar.TypeRegA:
		// O_EXCL|O_NOFOLLOW: the old entry was removed above; whatever
		// appears in between is not ours to follow or truncate.
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|unix.O_NOFOLLOW, perm)
		if err != nil {
			return err
		}
		_, err = io.CopyBuffer(f, r, buf)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	case tar.TypeBlock, tar.TypeChar, tar.TypeFifo:
		mode := uint32(hdr.Mode & 0o7777)
		switch hdr.Typeflag {
		case tar.TypeBlock:
			mode |= unix.S_IFBLK
		case tar.TypeChar:
			mode |= unix.S_IFCHR
		default:
			mode |= unix.S_IFIFO
		}
		if err := unix.Mknod(path, mode, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))); err != nil {
			return &os.PathError{Op: "mknod", Path: path, Err: err}
		}
	case tar.TypeLink:
		target := filepath.Join(dest, hdr.Linkname)
		if !strings.HasPrefix(target, dest) {
			return BreakoutError{fmt.Errorf("invalid hardlink %q -> %q", target, hdr.Linkname)}
		}
		if err := os.Link(target, path); err != nil {
			return err
		}
	case tar.TypeSymlink:
		target := filepath.Join(filepath.Dir(path), hdr.Linkname)
		if !strings.HasPrefix(target, dest) {
			return BreakoutError{fmt.Errorf("invalid symlink %q -> %q", path, hdr.Linkname)}
		}
		if err := os.Symlink(hdr.Linkname, path); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unhandled tar header type %d", hdr.Typeflag)
	}
	uid, gid := hdr.Uid, hdr.Gid
	if o.Chown != nil {
		uid, gid = o.Chown[0], o.Chown[1]
	}
	if err := os.Lchown(path, uid, gid); err != nil {
		return err
	}
	for k, v := range hdr.PAXRecords {
		attr, ok := strings.CutPrefix(k, paxXattr)
		if !ok {
			continue
		}
		if err := unix.Lsetxattr(path, attr, []byte(v), 0); err != nil && !errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.EPERM) {
			return &os.PathError{Op: "lsetxattr", Path: path, Err: err}
		}
	}
	// After chown, which clears set-id bits.
	if hdr.Typeflag != tar.TypeSymlink && hdr.Typeflag != tar.TypeLink {
		if err := unix.Fchmodat(unix.AT_FDCWD, path, uint32(hdr.Mode&0o7777), 0); err != nil {
			return &os.PathError{Op: "chmod", Path: path, Err: err}
		}
	}
	if hdr.Typeflag == tar.TypeLink {
		return nil
	}
	ts := []unix.Timespec{timespec(latest(hdr.AccessTime, hdr.ModTime)), timespec(hdr.ModTime)}
	return unix.UtimesNanoAt(unix.AT_FDCWD, path, ts, unix.AT_SYMLINK_NOFOLLOW)
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// timespec bounds times the way dockerd does: anything outside what the
// syscall takes becomes the epoch.
func timespec(t time.Time) unix.Timespec {
	if t.Before(time.Unix(0, 0)) || t.After(time.Unix(0, 1<<63-1)) {
		t = time.Unix(0, 0)
	}
	return unix.NsecToTimespec(t.UnixNano())
}
