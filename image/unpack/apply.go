package unpack

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// Result describes an applied layer.
type Result struct {
	// DiffID is the sha256 of the uncompressed tar stream.
	DiffID digest.Digest
	// TarSize is the length of the uncompressed tar stream.
	TarSize int64
	// Size is the sum of the entries' sizes, the figure dockerd reports as
	// a layer's size.
	Size int64
}

// EntryError is a tar entry that Apply refuses. It is the client's fault
// (a malformed or malicious archive), never an internal one.
type EntryError struct {
	Name   string
	Reason string
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("invalid layer tar entry %q: %s", e.Name, e.Reason)
}

// InvalidParameter marks the error as bad input (see containerd/errdefs).
func (e *EntryError) InvalidParameter() {}

const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	whiteoutOpaque = ".wh..wh..opq"
	opaqueXattr    = "trusted.overlay.opaque"
	// A layer must not set overlay's own xattrs: they steer lookups
	// (redirect, metacopy) across layers.
	overlayXattrPrefix = "trusted.overlay."
	paxXattrPrefix     = "SCHILY.xattr."
	// parentCacheMax bounds the open directory descriptors kept between
	// entries.
	parentCacheMax = 512
)

// resolveBeneath resolves a path below the layer root refusing "..",
// absolute paths and every symlink: a layer's own entries never need to be
// reached through a symlink, so any such path is an attack or a bug.
const resolveBeneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV

type dirTime struct {
	rel          string
	atime, mtime time.Time
}

type applier struct {
	root   string
	rootfd int
	cache  map[string]int
	dirs   []dirTime
	buf    []byte
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Apply extracts the uncompressed layer tar r into dir, which must exist
// and be empty, and writes the reassembly record to record. On error dir is
// left partly filled; the caller removes it.
func Apply(ctx context.Context, dir string, r io.Reader, record io.Writer) (Result, error) {
	var res Result
	rootfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return res, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(rootfd)

	h := sha256.New()
	counter := &countingReader{r: io.TeeReader(r, h)}
	rw := newRecordWriter(record)
	rec := &recorder{r: counter, rec: rw}
	tr := tar.NewReader(rec)
	a := &applier{root: dir, rootfd: rootfd, cache: map[string]int{}, buf: make([]byte, copyBuf)}
	defer a.closeCache()

	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return res, fmt.Errorf("reading layer tar: %w", err)
		}
		res.Size += hdr.Size
		if err := a.entry(tr, rec, rw, hdr); err != nil {
			return res, err
		}
	}
	// The trailer (zero blocks, record padding) is part of the diff ID and
	// of the bytes Reassemble must give back.
	if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{rec}, a.buf); err != nil {
		return res, fmt.Errorf("reading layer tar: %w", err)
	}
	if err := a.setDirTimes(); err != nil {
		return res, err
	}
	if err := rw.close(); err != nil {
		return res, err
	}
	res.DiffID = digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil))
	res.TarSize = counter.n
	return res, nil
}

// cleanName turns an entry name into a path relative to the layer root,
// "" for the root itself. Absolute names are taken as relative to the root,
// as every tar implementation does; a name that climbs above the root is
// refused.
func cleanName(n string) (string, bool) {
	p := path.Clean(n)
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", false
	}
	p = strings.TrimLeft(p, "/")
	if p == "." {
		p = ""
	}
	return p, true
}

func (a *applier) closeCache() {
	for k, fd := range a.cache {
		unix.Close(fd)
		delete(a.cache, k)
	}
}

// dropCache forgets cached descriptors of rel and everything below it,
// because rel is about to be removed.
func (a *applier) dropCache(rel string) {
	for k, fd := range a.cache {
		if k == rel || strings.HasPrefix(k, rel+"/") {
			unix.Close(fd)
			delete(a.cache, k)
		}
	}
}

// parent returns an O_PATH descriptor of directory rel below the root,
// creating missing directories (mode 0755, as dockerd does for parents an
// archive does not list) when create is set.
func (a *applier) parent(name, rel string, create bool) (int, error) {
	if rel == "" || rel == "." {
		return a.rootfd, nil
	}
	if fd, ok := a.cache[rel]; ok {
		return fd, nil
	}
	for {
		fd, err := unix.Openat2(a.rootfd, rel, &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: resolveBeneath,
		})
		switch {
		case err == nil:
			if len(a.cache) >= parentCacheMax {
				a.closeCache()
			}
			a.cache[rel] = fd
			return fd, nil
		case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ENOENT) && create:
			pfd, err := a.parent(name, path.Dir(rel), true)
			if err != nil {
				return -1, err
			}
			if err := unix.Mkdirat(pfd, path.Base(rel), 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
				return -1, fmt.Errorf("create %s: %w", rel, err)
			}
			create = false
			continue
		case errors.Is(err, unix.ENOENT):
			return -1, &EntryError{Name: name, Reason: fmt.Sprintf("directory %q does not exist in the layer", rel)}
		case errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV):
			return -1, &EntryError{Name: name, Reason: fmt.Sprintf("path goes through a symlink (%q); refusing to write outside the layer", rel)}
		case errors.Is(err, unix.ENOTDIR):
			return -1, &EntryError{Name: name, Reason: fmt.Sprintf("%q is not a directory", rel)}
		default:
			return -1, fmt.Errorf("open %s in layer: %w", rel, err)
		}
	}
}

// clear removes whatever is at base in pfd unless both it and the new
// entry are directories, in which case it reports keep.
func (a *applier) clear(pfd int, rel, base string, newIsDir bool) (keep bool, err error) {
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if newIsDir {
			return true, nil
		}
		a.dropCache(rel)
		// Every component of rel was just resolved without symlinks, and
		// RemoveAll never follows one below it.
		return false, os.RemoveAll(filepath.Join(a.root, rel))
	}
	return false, unix.Unlinkat(pfd, base, 0)
}

func isSparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

func (a *applier) entry(tr *tar.Reader, rec *recorder, rw *recordWriter, hdr *tar.Header) error {
	rel, ok := cleanName(hdr.Name)
	if !ok {
		return &EntryError{Name: hdr.Name, Reason: "path escapes the layer root"}
	}
	if rel == "" {
		if hdr.Typeflag != tar.TypeDir {
			return &EntryError{Name: hdr.Name, Reason: "the layer root must be a directory"}
		}
		if err := os.Lchown(a.root, hdr.Uid, hdr.Gid); err != nil {
			return err
		}
		if err := os.Chmod(a.root, FileMode(hdr)); err != nil {
			return err
		}
		a.dirs = append(a.dirs, dirTime{rel: "", atime: hdr.AccessTime, mtime: hdr.ModTime})
		return nil
	}
	dir, base := path.Dir(rel), path.Base(rel)

	if strings.HasPrefix(base, whiteoutPrefix) {
		return a.whiteout(hdr, rel, dir, base)
	}

	pfd, err := a.parent(hdr.Name, dir, true)
	if err != nil {
		return err
	}
	mode := uint32(hdr.Mode & 0o7777)

	switch hdr.Typeflag {
	case tar.TypeDir:
		keep, err := a.clear(pfd, rel, base, true)
		if err != nil {
			return err
		}
		if !keep {
			if err := unix.Mkdirat(pfd, base, 0o700); err != nil {
				return fmt.Errorf("mkdir %s: %w", rel, err)
			}
		}
		if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		// base is a directory we just created or checked: chmod cannot
		// follow a symlink here.
		if err := unix.Fchmodat(pfd, base, mode, 0); err != nil {
			return err
		}
		if err := a.setXattrs(hdr, pfd, base); err != nil {
			return err
		}
		a.dirs = append(a.dirs, dirTime{rel: rel, atime: hdr.AccessTime, mtime: hdr.ModTime})
		return nil

	case tar.TypeReg, '\x00', tar.TypeGNUSparse:
		if _, err := a.clear(pfd, rel, base, false); err != nil {
			return err
		}
		fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return fmt.Errorf("create %s: %w", rel, err)
		}
		f := os.NewFile(uintptr(fd), rel)
		defer f.Close()
		if isSparse(hdr) {
			// The archive holds only the data fragments: keep them raw
			// in the record, and leave holes in the file.
			if err := copySparse(f, tr, hdr.Size, a.buf); err != nil {
				return fmt.Errorf("write %s: %w", rel, err)
			}
		} else {
			rw.file(rel, hdr.Size)
			rec.payload = true
			n, err := copyFlushing(fd, tr, a.buf)
			rec.payload = false
			if err != nil {
				return fmt.Errorf("write %s: %w", rel, err)
			}
			if n != hdr.Size {
				return &EntryError{Name: hdr.Name, Reason: "truncated file content"}
			}
		}
		// chown before chmod: chown clears set-id bits.
		if err := f.Chown(hdr.Uid, hdr.Gid); err != nil {
			return err
		}
		if err := unix.Fchmod(fd, mode); err != nil {
			return err
		}
		if err := a.setXattrs(hdr, pfd, base); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		return setTimes(pfd, base, hdr)

	case tar.TypeSymlink:
		if _, err := a.clear(pfd, rel, base, false); err != nil {
			return err
		}
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return fmt.Errorf("symlink %s: %w", rel, err)
		}
		if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		if err := a.setXattrs(hdr, pfd, base); err != nil {
			return err
		}
		return setTimes(pfd, base, hdr)

	case tar.TypeLink:
		target, ok := cleanName(hdr.Linkname)
		if !ok || target == "" {
			return &EntryError{Name: hdr.Name, Reason: fmt.Sprintf("hard link target %q is outside the layer root", hdr.Linkname)}
		}
		if target == rel {
			return nil
		}
		tpfd, err := a.parent(hdr.Name, path.Dir(target), false)
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Fstatat(tpfd, path.Base(target), &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &EntryError{Name: hdr.Name, Reason: fmt.Sprintf("hard link target %q does not exist in the layer", hdr.Linkname)}
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return &EntryError{Name: hdr.Name, Reason: "hard link to a directory"}
		}
		if _, err := a.clear(pfd, rel, base, false); err != nil {
			return err
		}
		// Flags 0: link the target itself, never what a symlink names.
		if err := unix.Linkat(tpfd, path.Base(target), pfd, base, 0); err != nil {
			return fmt.Errorf("link %s: %w", rel, err)
		}
		return nil

	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		if _, err := a.clear(pfd, rel, base, false); err != nil {
			return err
		}
		kind := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
		dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
		if err := unix.Mknodat(pfd, base, kind|mode, dev); err != nil {
			return fmt.Errorf("mknod %s: %w", rel, err)
		}
		if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		// The node was just created by us, so it is not a symlink.
		if err := unix.Fchmodat(pfd, base, mode, 0); err != nil {
			return err
		}
		if err := a.setXattrs(hdr, pfd, base); err != nil {
			return err
		}
		return setTimes(pfd, base, hdr)

	case tar.TypeXGlobalHeader:
		return nil
	}
	// Other types (contiguous files, volume labels…) carry nothing a
	// container can use; dockerd skips them too.
	return nil
}

// FileMode is a tar header's permission, set-id and sticky bits as an
// os.FileMode, whose set-id and sticky bits are not the Unix ones.
func FileMode(hdr *tar.Header) os.FileMode {
	return hdr.FileInfo().Mode() & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky)
}

func (a *applier) whiteout(hdr *tar.Header, rel, dir, base string) error {
	if base == whiteoutOpaque {
		pfd, err := a.parent(hdr.Name, dir, true)
		if err != nil {
			return err
		}
		return setxattrAt(pfd, "", opaqueXattr, []byte("y"))
	}
	if strings.HasPrefix(base, whiteoutMeta) {
		// AUFS bookkeeping (.wh..wh.plnk, .wh..wh.aufs): nothing to apply.
		return nil
	}
	target := base[len(whiteoutPrefix):]
	if target == "" || target == "." || target == ".." {
		return &EntryError{Name: hdr.Name, Reason: "invalid whiteout"}
	}
	pfd, err := a.parent(hdr.Name, dir, true)
	if err != nil {
		return err
	}
	if _, err := a.clear(pfd, path.Join(dir, target), target, false); err != nil {
		return err
	}
	if err := unix.Mknodat(pfd, target, unix.S_IFCHR, 0); err != nil {
		return fmt.Errorf("whiteout %s: %w", rel, err)
	}
	return unix.Fchownat(pfd, target, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW)
}

// setxattrAt sets an xattr on base in the directory pfd (on pfd itself when
// base is empty) without following a symlink at base. O_PATH descriptors
// cannot take fsetxattr, so it goes through /proc/self/fd.
func setxattrAt(pfd int, base, name string, value []byte) error {
	p := "/proc/self/fd/" + strconv.Itoa(pfd)
	if base != "" {
		p += "/" + base
		return unix.Lsetxattr(p, name, value, 0)
	}
	return unix.Setxattr(p, name, value, 0)
}

func (a *applier) setXattrs(hdr *tar.Header, pfd int, base string) error {
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, paxXattrPrefix)
		if !ok || name == "" || strings.HasPrefix(name, overlayXattrPrefix) {
			continue
		}
		if err := setxattrAt(pfd, base, name, []byte(v)); err != nil {
			// Like dockerd: not every filesystem takes every namespace.
			if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EPERM) {
				continue
			}
			return fmt.Errorf("set xattr %s on %s: %w", name, hdr.Name, err)
		}
	}
	return nil
}

func timespecs(atime, mtime time.Time) []unix.Timespec {
	if atime.IsZero() {
		atime = mtime
	}
	return []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
}

func setTimes(pfd int, base string, hdr *tar.Header) error {
	err := unix.UtimesNanoAt(pfd, base, timespecs(hdr.AccessTime, hdr.ModTime), unix.AT_SYMLINK_NOFOLLOW)
	if err != nil && !errors.Is(err, unix.ENOTSUP) {
		return fmt.Errorf("set times on %s: %w", hdr.Name, err)
	}
	return nil
}

// setDirTimes runs last, deepest first, because creating entries in a
// directory changes its mtime.
func (a *applier) setDirTimes() error {
	for i := len(a.dirs) - 1; i >= 0; i-- {
		d := a.dirs[i]
		if d.rel == "" {
			if err := unix.UtimesNanoAt(a.rootfd, "", timespecs(d.atime, d.mtime), unix.AT_EMPTY_PATH); err != nil {
				return err
			}
			continue
		}
		pfd, err := a.parent(d.rel, path.Dir(d.rel), false)
		if err != nil {
			// Removed by a later entry: nothing to date.
			continue
		}
		if err := unix.UtimesNanoAt(pfd, path.Base(d.rel), timespecs(d.atime, d.mtime), unix.AT_SYMLINK_NOFOLLOW); err != nil && !errors.Is(err, unix.ENOENT) {
			return err
		}
	}
	return nil
}

const (
	// copyBuf is the size of the writes of file content. A load's stream
	// gives about 32 KiB a read (the client's chunks); gathering 256 KiB
	// before writing took a tenth off the daemon's CPU time per load, and
	// 1 MiB (more than a core's L2 cache) was slower again.
	copyBuf = 256 << 10
	// flushEvery is how much of a file copyFlushing writes before it
	// starts the writeback of what it wrote.
	flushEvery = 4 << 20
	// flushMin is the smallest file whose tail copyFlushing flushes:
	// smaller ones are left to the layer's syncfs, which writes many of
	// them at once.
	flushMin = 1 << 20
)

// copyFlushing copies a file's content from r into the file fd, in
// writes of up to len(buf).
//
// It also starts the writeback of a big file's pages as it goes
// (sync_file_range WRITE, which does not wait for the disk): the layer
// store makes the layer durable with one syncfs before publishing it, and
// that syncfs then finds most pages already written instead of starting
// all the I/O at the end, when there is nothing left to overlap it with.
// That took a fifth off the load of a 512 MiB image.
func copyFlushing(fd int, r io.Reader, buf []byte) (int64, error) {
	var written, flushed int64
	for {
		n := 0
		var err error
		// Stop short of a read smaller than the 64 KiB read buffers
		// below us: they would copy it through themselves.
		for (n == 0 || len(buf)-n >= 64<<10) && err == nil {
			var m int
			m, err = r.Read(buf[n:])
			n += m
		}
		if n > 0 {
			if err := writeAll(fd, buf[:n]); err != nil {
				return written, err
			}
			written += int64(n)
			if written-flushed >= flushEvery {
				unix.SyncFileRange(fd, flushed, written-flushed, unix.SYNC_FILE_RANGE_WRITE)
				flushed = written
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return written, err
		}
	}
	if written >= flushMin && written > flushed {
		unix.SyncFileRange(fd, flushed, written-flushed, unix.SYNC_FILE_RANGE_WRITE)
	}
	return written, nil
}

func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return err
		}
		b = b[n:]
	}
	return nil
}

// copySparse writes size bytes from r into f, seeking over all-zero blocks
// so that holes stay holes.
func copySparse(f *os.File, r io.Reader, size int64, buf []byte) error {
	const blk = 64 << 10
	b := buf[:blk]
	var written int64
	for written < size {
		n, err := io.ReadFull(r, b[:min(int64(blk), size-written)])
		if n > 0 {
			if allZero(b[:n]) {
				if _, err := f.Seek(int64(n), io.SeekCurrent); err != nil {
					return err
				}
			} else if _, err := f.Write(b[:n]); err != nil {
				return err
			}
			written += int64(n)
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				break
			}
			return err
		}
	}
	if written != size {
		return io.ErrUnexpectedEOF
	}
	return f.Truncate(size)
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
