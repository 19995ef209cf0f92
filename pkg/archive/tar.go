package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cyphar/filepath-securejoin/pathrs-lite/procfs"
	"golang.org/x/sys/unix"
)

// Whiteout names as image layers carry them (the AUFS convention).
const (
	WhiteoutPrefix    = ".wh."
	WhiteoutOpaqueDir = ".wh..wh..opq"
)

const (
	paxXattr       = "SCHILY.xattr."
	overlayOpaque  = "trusted.overlay.opaque"
	capabilityAttr = "security.capability"
)

// TarOptions say what Tar writes.
type TarOptions struct {
	// Include is the entry under the source directory to write: "." for
	// the directory itself, else one name in it.
	Include string
	// IncludeSourceDir writes an entry for the source directory itself
	// (docker cp of a directory); without it, the entries are relative to
	// the directory and it has none (export, layer diffs).
	IncludeSourceDir bool
	// Rebase renames Include in the entries' names ("" keeps it).
	Rebase string
	// Overlay converts overlayfs whiteouts (0/0 character devices and
	// opaque directories) into .wh. entries: the upper directory of a
	// container becomes a layer diff.
	Overlay bool
	// Skip, when set, omits an entry (and, for a directory, what is below
	// it) by its name relative to the source directory.
	Skip func(rel string, fi fs.FileInfo) bool
}

// Tar writes src's entries to w as an uncompressed PAX tar stream. src is
// opened once; the walk below it goes by directory descriptors (see TarAt).
func Tar(w io.Writer, src string, o TarOptions) error {
	fd, err := unix.Open(src, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: src, Err: err}
	}
	dir := os.NewFile(uintptr(fd), src)
	defer dir.Close()
	return TarAt(w, dir, o)
}

// TarAt writes the entries of o.Include in the directory dir (any open
// descriptor of it, O_PATH will do) to w as an uncompressed PAX tar
// stream. Every entry is reached from its parent's descriptor by its one
// name, without following a symlink (symlinks are archived as symlinks):
// a directory that a running container swaps for a symlink meanwhile
// cannot lead the walk, or a read, anywhere else, whatever the thread's
// root is. Only regular files are opened for reading, non-blocking, and
// what the open returned decides the entry, so a FIFO or a device swapped
// in after the stat is archived as what it is, never opened for reading.
func TarAt(w io.Writer, dir *os.File, o TarOptions) error {
	if o.Include == "" {
		o.Include = "."
	}
	t := &tarWalk{tw: tar.NewWriter(w), o: o, seen: map[[2]uint64]string{}, buf: make([]byte, 128<<10)}
	defer func() {
		if t.procFD != nil {
			t.procFD.Close()
		}
	}()
	if err := t.walk(int(dir.Fd()), o.Include, o.Include, true, 0); err != nil {
		return err
	}
	return t.tw.Close()
}

// testHookAfterStat runs between an entry's stat and its open: a test
// swaps the entry there, as a running container can.
var testHookAfterStat func(rel string)

type tarWalk struct {
	tw   *tar.Writer
	o    TarOptions
	seen map[[2]uint64]string // hard links: (dev, ino) to the first name
	buf  []byte

	procTried bool
	procFD    *os.File
}

// gone are the errors of an entry that vanished or changed type under a
// running container between the listing and the open: dockerd skips what
// it cannot stat too.
func gone(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ENXIO)
}

// walk writes the entry name of the directory dirfd ("." for the
// directory itself) and what is below it; rel is its name relative to
// the source directory.
func (t *tarWalk) walk(dirfd int, name, rel string, top bool, depth int) error {
	var st unix.Stat_t
	var err error
	if name == "." {
		err = unix.Fstat(dirfd, &st)
	} else {
		err = unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err != nil {
		if !top && gone(err) {
			return nil
		}
		return &os.PathError{Op: "lstat", Path: rel, Err: err}
	}
	if testHookAfterStat != nil {
		testHookAfterStat(rel)
	}
	var f *os.File // the entry, open, for a directory or a regular file
	openDir := func() error {
		if depth >= maxDepth {
			// rel is some 8 KiB long here: its start names the tree.
			return &os.PathError{Op: "open", Path: rel[:min(len(rel), 256)] + "...", Err: errTooDeep}
		}
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return &os.PathError{Op: "open", Path: rel, Err: err}
		}
		f = os.NewFile(uintptr(fd), rel)
		return nil
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFSOCK:
		return nil // dockerd skips sockets too
	case unix.S_IFDIR:
		if err := openDir(); err != nil {
			if !top && gone(err) {
				return nil
			}
			return err
		}
	case unix.S_IFREG:
		if f, err = t.openRegular(dirfd, name, rel); err != nil {
			if !top && gone(err) {
				return nil
			}
			return err
		}
	}
	if f != nil {
		defer func() { f.Close() }()
		if err := unix.Fstat(int(f.Fd()), &st); err != nil {
			return &os.PathError{Op: "fstat", Path: rel, Err: err}
		}
		if st.Mode&unix.S_IFMT == unix.S_IFSOCK {
			return nil
		}
		// A regular file swapped for a directory after the stat is
		// only an O_PATH handle here, which cannot be listed: open the
		// directory for real, and archive it as what it then is.
		if st.Mode&unix.S_IFMT == unix.S_IFDIR && isPathOnly(f) {
			f.Close()
			f = nil
			if err := openDir(); err != nil {
				if !top && gone(err) {
					return nil
				}
				return err
			}
			if err := unix.Fstat(int(f.Fd()), &st); err != nil {
				return &os.PathError{Op: "fstat", Path: rel, Err: err}
			}
		}
	}
	fi := statInfo{name: filepath.Base(rel), st: st}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	// The source directory has no entry of its own unless asked for.
	if !(rel == "." && !t.o.IncludeSourceDir && isDir) {
		if t.o.Skip != nil && t.o.Skip(rel, fi) {
			return nil
		}
		if err := t.writeEntry(dirfd, name, rel, f, &st); err != nil {
			return err
		}
	}
	if !isDir || f == nil {
		return nil
	}
	names, err := f.Readdirnames(-1)
	if err != nil {
		if gone(err) {
			return nil
		}
		return &os.PathError{Op: "readdirent", Path: rel, Err: err}
	}
	sort.Strings(names)
	for _, n := range names {
		if err := t.walk(int(f.Fd()), n, filepath.Join(rel, n), false, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// isPathOnly reports whether f was opened O_PATH.
func isPathOnly(f *os.File) bool {
	fl, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0)
	return err == nil && fl&unix.O_PATH != 0
}

// openRegular opens the entry name of dirfd for reading. It is first
// opened O_PATH, which opens nothing, and read only when that is still a
// regular file, through the trusted /proc/self/fd (a private procfs):
// a device or FIFO swapped in after the stat is never opened for real
// (opening some devices acts: a watchdog arms, a tape rewinds). Without
// such a procfs it opens by name, non-blocking.
func (t *tarWalk) openRegular(dirfd int, name, rel string) (*os.File, error) {
	pfd, err := unix.Openat(dirfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: rel, Err: err}
	}
	handle := os.NewFile(uintptr(pfd), rel)
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		handle.Close()
		return nil, &os.PathError{Op: "fstat", Path: rel, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return handle, nil // stat'ed as what it now is, and not read
	}
	if fds := t.selfFD(); fds != nil {
		fd, err := unix.Openat(int(fds.Fd()), strconv.Itoa(pfd), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		handle.Close()
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: rel, Err: err}
		}
		return os.NewFile(uintptr(fd), rel), nil
	}
	handle.Close()
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: rel, Err: err}
	}
	return os.NewFile(uintptr(fd), rel), nil
}

// selfFD is /proc/self/fd of a procfs that no container controls, opened
// once per walk; nil when there is none.
func (t *tarWalk) selfFD() *os.File {
	if !t.procTried {
		t.procTried = true
		if proc, err := procfs.OpenProcRoot(); err == nil {
			t.procFD, _ = proc.OpenSelf("fd")
			proc.Close()
		}
	}
	return t.procFD
}

// writeEntry writes the header of the entry (and a regular file's data,
// from f, the entry open).
func (t *tarWalk) writeEntry(dirfd int, name, rel string, f *os.File, st *unix.Stat_t) error {
	o := t.o
	hname := rel
	if o.IncludeSourceDir && o.Include == "." && rel != "." {
		hname = "./" + rel
	}
	if o.Rebase != "" {
		repl := o.Rebase
		if repl == "/" {
			repl = ""
		}
		hname = strings.Replace(hname, o.Include, repl, 1)
	}
	hdr := &tar.Header{
		Name:    hname,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Unix()).Truncate(time.Second),
		Format:  tar.FormatPAX,
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
		if !strings.HasSuffix(hdr.Name, "/") {
			hdr.Name += "/"
		}
	case unix.S_IFLNK:
		hdr.Typeflag = tar.TypeSymlink
		target, err := readlinkat(dirfd, name)
		if err != nil {
			return nil
		}
		hdr.Linkname = target
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	case unix.S_IFBLK, unix.S_IFCHR:
		hdr.Typeflag = tar.TypeBlock
		if st.Mode&unix.S_IFMT == unix.S_IFCHR {
			hdr.Typeflag = tar.TypeChar
		}
		hdr.Devmajor = int64(unix.Major(st.Rdev))
		hdr.Devminor = int64(unix.Minor(st.Rdev))
		if o.Overlay && hdr.Typeflag == tar.TypeChar && st.Rdev == 0 {
			dir, base := filepath.Split(hdr.Name)
			hdr.Name = dir + WhiteoutPrefix + base
			hdr.Typeflag, hdr.Mode, hdr.Devmajor, hdr.Devminor = tar.TypeReg, 0o600, 0, 0
			return t.tw.WriteHeader(hdr)
		}
	case unix.S_IFREG:
		if f == nil {
			return nil
		}
		hdr.Typeflag = tar.TypeReg
		hdr.Size = st.Size
		if st.Nlink > 1 {
			key := [2]uint64{uint64(st.Dev), uint64(st.Ino)}
			if first, ok := t.seen[key]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				t.seen[key] = hname
			}
		}
	default:
		return nil
	}
	if f != nil {
		if v, err := fgetxattr(f, capabilityAttr); err == nil && len(v) > 0 {
			hdr.PAXRecords = map[string]string{paxXattr + capabilityAttr: string(v)}
		}
	}
	if err := t.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
		if err := copyFile(t.tw, f, hdr.Size, t.buf); err != nil {
			return err
		}
	}
	if o.Overlay && hdr.Typeflag == tar.TypeDir && f != nil {
		if v, err := fgetxattr(f, overlayOpaque); err == nil && string(v) == "y" {
			return t.tw.WriteHeader(&tar.Header{
				Typeflag: tar.TypeReg,
				Name:     hdr.Name + WhiteoutOpaqueDir,
				Mode:     hdr.Mode & 0o777,
				Uid:      hdr.Uid,
				Gid:      hdr.Gid,
				ModTime:  hdr.ModTime,
				Format:   tar.FormatPAX,
			})
		}
	}
	return nil
}

// copyFile writes exactly size bytes of f: a file that a running
// container grows or truncates meanwhile cannot corrupt the stream.
func copyFile(w io.Writer, f *os.File, size int64, buf []byte) error {
	n, err := io.CopyBuffer(w, io.LimitReader(f, size), buf)
	if err != nil {
		return fmt.Errorf("read %s: %w", f.Name(), err)
	}
	for n < size {
		k := min(int64(len(buf)), size-n)
		clear(buf[:k])
		if _, err := w.Write(buf[:k]); err != nil {
			return err
		}
		n += k
	}
	return nil
}

func readlinkat(dirfd int, name string) (string, error) {
	for n := 256; ; n *= 2 {
		buf := make([]byte, n)
		k, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if k < n {
			return string(buf[:k]), nil
		}
	}
}

func fgetxattr(f *os.File, attr string) ([]byte, error) {
	buf := make([]byte, 128)
	for {
		n, err := unix.Fgetxattr(int(f.Fd()), attr, buf)
		if errors.Is(err, unix.ERANGE) {
			buf = make([]byte, len(buf)*4)
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}

// statInfo is an fs.FileInfo of a stat taken through a descriptor; Sys
// is a *syscall.Stat_t, as os.Lstat's.
type statInfo struct {
	name string
	st   unix.Stat_t
}

func (fi statInfo) Name() string       { return fi.name }
func (fi statInfo) Size() int64        { return fi.st.Size }
func (fi statInfo) ModTime() time.Time { return time.Unix(fi.st.Mtim.Unix()) }
func (fi statInfo) IsDir() bool        { return fi.Mode().IsDir() }
func (fi statInfo) Mode() fs.FileMode  { return FileMode(fi.st.Mode) }
func (fi statInfo) Sys() any {
	st := fi.st
	return &syscall.Stat_t{
		Dev: st.Dev, Ino: st.Ino, Nlink: st.Nlink, Mode: st.Mode, Uid: st.Uid, Gid: st.Gid,
		Rdev: st.Rdev, Size: st.Size, Blksize: st.Blksize, Blocks: st.Blocks,
		Atim: syscall.Timespec{Sec: st.Atim.Sec, Nsec: st.Atim.Nsec},
		Mtim: syscall.Timespec{Sec: st.Mtim.Sec, Nsec: st.Mtim.Nsec},
		Ctim: syscall.Timespec{Sec: st.Ctim.Sec, Nsec: st.Ctim.Nsec},
	}
}

// FileMode is the fs.FileMode of a stat(2) mode, as os.Lstat gives it.
func FileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	}
	if m&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}
