package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// ExtractOptions say how Extract applies a tar stream. The zero value is
// the strictest: no symlink is ever followed, names that climb out are
// refused, the archive's owners and modes are kept.
type ExtractOptions struct {
	// Dir is where the entries land, a path below the root ("" for the
	// root itself). It is resolved like the entries' own paths.
	Dir string
	// InRoot resolves paths with RESOLVE_IN_ROOT: symlinks are followed
	// the way they would be after chroot(root) (an absolute one starts at
	// the root, ".." stops there), as dockerd's chrootarchive does for
	// docker cp and ADD. Without it every path is resolved with
	// RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS: an entry reached through a
	// symlink is refused, because an archive never needs a symlink to
	// reach its own entries (layers, build contexts). Magic links
	// (/proc/<pid>/root) are refused either way.
	InRoot bool
	// Kind names the archive in errors: "layer", "build context".
	Kind string
	// ClampNames takes names that climb above Dir ("../x", "a/../../x")
	// as if Dir were "/", the way an extraction under chroot does (build
	// contexts and ADD in dockerd). Without it they are refused.
	ClampNames bool
	// CheckSymlinks refuses a symlink whose target, read as a path from
	// the link's directory, climbs above Dir: dockerd's docker cp check.
	CheckSymlinks bool
	// RootEntry applies the archive's entry for the root ("./") to Dir:
	// owner, mode, xattrs and times (layers). Without it the entry is
	// skipped.
	RootEntry bool
	// NoOverwriteDirNonDir refuses to replace a directory with a
	// non-directory or the reverse (docker cp's default).
	NoOverwriteDirNonDir bool
	// Chown owns every entry, and the parents Extract creates, by these
	// IDs instead of the archive's (docker cp's copyUIDGID).
	Chown *[2]int
	// Xattrs applies SCHILY.xattr PAX records (overlay's own trusted.
	// overlay.* attributes never: they steer lookups across layers).
	Xattrs bool
	// Overlay turns AUFS whiteouts (.wh.name, .wh..wh..opq) into overlay
	// ones: a 0/0 character device and the opaque xattr.
	Overlay bool
	// SkipSpecial skips device nodes and FIFOs instead of creating them.
	SkipSpecial bool
	// Writeback starts the writeback of big files' pages as they are
	// written, for a caller that syncs the whole tree afterwards.
	Writeback bool

	// OnHeader sees every header before its entry is applied.
	OnHeader func(hdr *tar.Header)
	// ContentStart and ContentEnd bracket the reading of a regular
	// (not sparse) file's content from the stream; rel is the file's path
	// below the root. image/unpack uses them to record a layer.
	ContentStart func(rel string, size int64)
	ContentEnd   func()
}

// EntryError is a tar entry that Extract refuses. It is the client's
// fault (a malformed or malicious archive), never an internal one.
type EntryError struct {
	Kind   string
	Name   string
	Reason string
}

func (e *EntryError) Error() string {
	kind := ""
	if e.Kind != "" {
		kind = e.Kind + " "
	}
	return fmt.Sprintf("invalid %star entry %q: %s", kind, e.Name, e.Reason)
}

// InvalidParameter marks the error as bad input (see containerd/errdefs).
func (e *EntryError) InvalidParameter() {}

// ReadError is a failure to read the tar stream itself: a malformed
// header, a truncated or corrupt (compressed) stream, or the reader's own
// error.
type ReadError struct {
	Kind string
	Err  error
}

func (e *ReadError) Error() string {
	kind := ""
	if e.Kind != "" {
		kind = e.Kind + " "
	}
	return fmt.Sprintf("reading %star: %v", kind, e.Err)
}

func (e *ReadError) Unwrap() error { return e.Err }

// Whiteout markers beyond the ones Tar writes.
const (
	whiteoutMeta       = ".wh..wh."
	overlayXattrPrefix = "trusted.overlay."
)

const (
	beneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV
	inRoot  = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS
	// parentCacheMax bounds the open directory descriptors kept between
	// entries.
	parentCacheMax = 512
	// copyBuf is the size of the writes of file content. A load's stream
	// gives about 32 KiB a read (the client's chunks); gathering 256 KiB
	// before writing took a tenth off the daemon's CPU time per load, and
	// 1 MiB (more than a core's L2 cache) was slower again.
	copyBuf = 256 << 10
	// flushEvery is how much of a file copyFlushing writes before it
	// starts the writeback of what it wrote.
	flushEvery = 4 << 20
	// flushMin is the smallest file whose tail copyFlushing flushes:
	// smaller ones are left to the caller's syncfs, which writes many of
	// them at once.
	flushMin = 1 << 20
)

type dirTime struct {
	rel  string
	hdr  *tar.Header
	root bool
}

type extractor struct {
	o       *ExtractOptions
	rootfd  int
	resolve uint64
	dir     string
	cache   map[string]int
	dirs    []dirTime
	buf     []byte
}

// Extract applies the uncompressed tar stream r below the directory root
// (an open descriptor; O_PATH is enough), into o.Dir.
//
// No path is ever resolved as a string from the process's root: every
// entry's parent is opened with openat2 relative to root (see
// ExtractOptions.InRoot for how), entries are created and replaced with
// *at calls relative to that parent that never follow a symlink, and
// owners, modes, xattrs and times are set on the entry's own descriptor
// or with *at calls that do not follow. Directory times, set last
// because creating entries changes them, resolve their path again the
// same way. A hard link's target is resolved like an entry and must be
// below the root. So neither the archive (an entry that replaces a
// directory with a symlink, a hard link through a symlink) nor a process
// changing the tree meanwhile can make Extract touch anything outside
// the root.
//
// Existing entries are replaced, except a directory by a directory, which
// merges. Missing parents are created 0755. On error what was extracted so
// far stays.
func Extract(ctx context.Context, r io.Reader, root *os.File, o ExtractOptions) error {
	e := &extractor{
		o:       &o,
		rootfd:  int(root.Fd()),
		resolve: beneath,
		cache:   map[string]int{},
		buf:     make([]byte, copyBuf),
	}
	if o.InRoot {
		e.resolve = inRoot
	}
	e.dir = strings.TrimPrefix(path.Clean("/"+o.Dir), "/")
	defer e.closeCache()
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return &ReadError{Kind: o.Kind, Err: err}
		}
		if o.OnHeader != nil {
			o.OnHeader(hdr)
		}
		if len(e.cache) >= parentCacheMax {
			e.closeCache()
		}
		if err := e.entry(tr, hdr); err != nil {
			return err
		}
	}
	return e.setDirTimes()
}

func (e *extractor) rootName() string {
	if e.o.Kind == "" {
		return "destination"
	}
	return e.o.Kind
}

func (e *extractor) refuse(hdr *tar.Header, format string, args ...any) error {
	return &EntryError{Kind: e.o.Kind, Name: hdr.Name, Reason: fmt.Sprintf(format, args...)}
}

// clean turns an entry name into a path relative to Dir, "" for Dir
// itself. Absolute names are taken as relative to Dir, as every tar
// implementation does.
func (e *extractor) clean(n string) (string, bool) {
	if e.o.ClampNames {
		return strings.TrimPrefix(path.Clean("/"+n), "/"), true
	}
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

func (e *extractor) join(rel string) string {
	switch {
	case e.dir == "":
		return rel
	case rel == "":
		return e.dir
	}
	return e.dir + "/" + rel
}

func parentOf(rel string) string {
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		return rel[:i]
	}
	return ""
}

func (e *extractor) closeCache() {
	for k, fd := range e.cache {
		unix.Close(fd)
		delete(e.cache, k)
	}
}

// forget drops cached descriptors that a removal of rel may have made
// stale. Without symlinks in the resolution only rel and what is below
// it can be affected; with them, any cached path may have gone through
// rel.
func (e *extractor) forget(rel string, isDir bool) {
	if e.o.InRoot {
		e.closeCache()
		return
	}
	if !isDir {
		return
	}
	for k, fd := range e.cache {
		if k == rel || strings.HasPrefix(k, rel+"/") {
			unix.Close(fd)
			delete(e.cache, k)
		}
	}
}

func (e *extractor) remember(rel string, fd int) {
	if old, ok := e.cache[rel]; ok {
		unix.Close(old)
	}
	e.cache[rel] = fd
}

// parent returns a descriptor of the directory rel below the root,
// creating missing directories (mode 0755, as dockerd does for parents an
// archive does not list) when create is set. The descriptor belongs to the
// cache: it stays valid until the next entry.
func (e *extractor) parent(hdr *tar.Header, rel string, create bool) (int, error) {
	if rel == "" {
		return e.rootfd, nil
	}
	if fd, ok := e.cache[rel]; ok {
		return fd, nil
	}
	for {
		fd, err := unix.Openat2(e.rootfd, rel, &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: e.resolve,
		})
		switch {
		case err == nil:
			e.cache[rel] = fd
			return fd, nil
		case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ENOENT) && create:
			pfd, err := e.parent(hdr, parentOf(rel), true)
			if err != nil {
				return -1, err
			}
			base := path.Base(rel)
			if err := unix.Mkdirat(pfd, base, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
				return -1, fmt.Errorf("create %s: %w", rel, err)
			} else if err == nil && e.o.Chown != nil {
				if err := unix.Fchownat(pfd, base, e.o.Chown[0], e.o.Chown[1], unix.AT_SYMLINK_NOFOLLOW); err != nil {
					return -1, fmt.Errorf("chown %s: %w", rel, err)
				}
			}
			create = false
			continue
		case errors.Is(err, unix.ENOENT):
			return -1, e.refuse(hdr, "directory %q does not exist in the %s", rel, e.rootName())
		case errors.Is(err, unix.EXDEV) && e.o.InRoot:
			return -1, e.refuse(hdr, "path %q crosses out of the %s", rel, e.rootName())
		case errors.Is(err, unix.ELOOP) && e.o.InRoot:
			return -1, e.refuse(hdr, "path %q goes through a symlink loop or a magic link", rel)
		case errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV):
			return -1, e.refuse(hdr, "path goes through a symlink (%q); refusing to write outside the %s", rel, e.rootName())
		case errors.Is(err, unix.ENOTDIR):
			return -1, e.refuse(hdr, "%q is not a directory", rel)
		default:
			return -1, fmt.Errorf("open %s in %s: %w", rel, e.rootName(), err)
		}
	}
}

// clear removes whatever is at base in pfd (the directory dir) unless both
// it and the new entry are directories, in which case it reports keep. It
// returns dir's descriptor again: the removal may have closed pfd.
func (e *extractor) clear(hdr *tar.Header, pfd int, dir, base string, newIsDir bool) (fd int, keep bool, err error) {
	rel := base
	if dir != "" {
		rel = dir + "/" + base
	}
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return pfd, false, nil
		}
		return -1, false, fmt.Errorf("stat %s: %w", rel, err)
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	if e.o.NoOverwriteDirNonDir {
		// dockerd's messages, arguments included.
		if isDir && !newIsDir {
			return -1, false, fmt.Errorf("cannot overwrite directory %q with non-directory %q", "/"+rel, "/"+e.dir)
		}
		if !isDir && newIsDir {
			return -1, false, fmt.Errorf("cannot overwrite non-directory %q with directory %q", "/"+rel, "/"+e.dir)
		}
	}
	if isDir && newIsDir {
		return pfd, true, nil
	}
	if isDir {
		err = removeAllAt(pfd, base)
	} else {
		err = unix.Unlinkat(pfd, base, 0)
	}
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return -1, false, fmt.Errorf("remove %s: %w", rel, err)
	}
	if isDir || st.Mode&unix.S_IFMT == unix.S_IFLNK {
		e.forget(rel, isDir)
		if pfd, err = e.parent(hdr, dir, false); err != nil {
			return -1, false, err
		}
	}
	return pfd, false, nil
}

// removeAllAt removes base in the directory pfd and, when it is a
// directory, everything below it, through descriptors: a symlink met on
// the way is removed, never followed.
func removeAllAt(pfd int, base string) error {
	err := unix.Unlinkat(pfd, base, unix.AT_REMOVEDIR)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if errors.Is(err, unix.ENOTDIR) {
		return unix.Unlinkat(pfd, base, 0)
	}
	if !errors.Is(err, unix.ENOTEMPTY) && !errors.Is(err, unix.EEXIST) {
		return err
	}
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	d := os.NewFile(uintptr(fd), base)
	for {
		names, err := d.Readdirnames(1024)
		for _, n := range names {
			if err := removeAllAt(fd, n); err != nil {
				d.Close()
				return err
			}
		}
		if errors.Is(err, io.EOF) || len(names) == 0 {
			break
		}
		if err != nil {
			d.Close()
			return err
		}
	}
	d.Close()
	return unix.Unlinkat(pfd, base, unix.AT_REMOVEDIR)
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

func (e *extractor) owner(hdr *tar.Header) (int, int) {
	if e.o.Chown != nil {
		return e.o.Chown[0], e.o.Chown[1]
	}
	return hdr.Uid, hdr.Gid
}

func (e *extractor) entry(tr *tar.Reader, hdr *tar.Header) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	name, ok := e.clean(hdr.Name)
	if !ok {
		return e.refuse(hdr, "path escapes the %s root", e.rootName())
	}
	rel := e.join(name)
	if name == "" {
		return e.rootEntry(hdr)
	}
	dir, base := parentOf(rel), path.Base(rel)
	if e.o.Overlay && strings.HasPrefix(base, WhiteoutPrefix) {
		return e.whiteout(hdr, rel, dir, base)
	}
	switch hdr.Typeflag {
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		if e.o.SkipSpecial {
			return nil
		}
	case tar.TypeDir, tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse, tar.TypeSymlink, tar.TypeLink:
	default:
		// Other types (contiguous files, volume labels…) carry nothing a
		// container can use; dockerd skips them too.
		return nil
	}
	pfd, err := e.parent(hdr, dir, true)
	if err != nil {
		return err
	}
	mode := uint32(hdr.Mode & 0o7777)
	uid, gid := e.owner(hdr)

	switch hdr.Typeflag {
	case tar.TypeDir:
		pfd, keep, err := e.clear(hdr, pfd, dir, base, true)
		if err != nil {
			return err
		}
		if !keep {
			if err := unix.Mkdirat(pfd, base, 0o700); err != nil {
				return fmt.Errorf("mkdir %s: %w", rel, err)
			}
		}
		// O_NOFOLLOW|O_DIRECTORY: whatever is at base now must be a real
		// directory, and everything below is done on this descriptor.
		fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", rel, err)
		}
		if err := e.applyFd(hdr, fd, uid, gid, mode); err != nil {
			unix.Close(fd)
			return err
		}
		// The next entries are most likely below it.
		e.remember(rel, fd)
		e.dirs = append(e.dirs, dirTime{rel: rel, hdr: hdr})
		return nil

	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
		pfd, _, err := e.clear(hdr, pfd, dir, base, false)
		if err != nil {
			return err
		}
		fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return fmt.Errorf("create %s: %w", rel, err)
		}
		f := os.NewFile(uintptr(fd), rel)
		defer f.Close()
		if isSparse(hdr) {
			// The archive holds only the data fragments: leave holes in
			// the file.
			if err := copySparse(f, tr, hdr.Size, e.buf); err != nil {
				return fmt.Errorf("write %s: %w", rel, err)
			}
		} else {
			if e.o.ContentStart != nil {
				e.o.ContentStart(rel, hdr.Size)
			}
			n, err := copyContent(fd, tr, e.buf, e.o.Writeback)
			if e.o.ContentEnd != nil {
				e.o.ContentEnd()
			}
			if err != nil {
				return fmt.Errorf("write %s: %w", rel, err)
			}
			if n != hdr.Size {
				return e.refuse(hdr, "truncated file content")
			}
		}
		if err := e.applyFd(hdr, fd, uid, gid, mode); err != nil {
			return err
		}
		if err := unix.UtimesNanoAt(fd, "", timespecs(hdr), unix.AT_EMPTY_PATH); err != nil && !errors.Is(err, unix.ENOTSUP) {
			return fmt.Errorf("set times on %s: %w", rel, err)
		}
		return f.Close()

	case tar.TypeSymlink:
		if e.o.CheckSymlinks {
			if t := path.Join(parentOf(name), hdr.Linkname); t == ".." || strings.HasPrefix(t, "../") {
				return e.refuse(hdr, "invalid symlink %q -> %q", "/"+rel, hdr.Linkname)
			}
		}
		pfd, _, err := e.clear(hdr, pfd, dir, base, false)
		if err != nil {
			return err
		}
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return fmt.Errorf("symlink %s: %w", rel, err)
		}
		return e.applyAt(hdr, pfd, rel, base, uid, gid, 0, false)

	case tar.TypeLink:
		tname, ok := e.clean(hdr.Linkname)
		if !ok || tname == "" {
			return e.refuse(hdr, "hard link target %q is outside the %s root", hdr.Linkname, e.rootName())
		}
		target := e.join(tname)
		if target == rel {
			return nil
		}
		tpfd, err := e.parent(hdr, parentOf(target), false)
		if err != nil {
			return err
		}
		tbase := path.Base(target)
		var st unix.Stat_t
		if err := unix.Fstatat(tpfd, tbase, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return e.refuse(hdr, "hard link target %q does not exist in the %s", hdr.Linkname, e.rootName())
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return e.refuse(hdr, "hard link to a directory")
		}
		if pfd, _, err = e.clear(hdr, pfd, dir, base, false); err != nil {
			return err
		}
		// The removal may have dropped tpfd from the cache.
		if tpfd, err = e.parent(hdr, parentOf(target), false); err != nil {
			return err
		}
		// Flags 0: link the target itself, never what a symlink names.
		if err := unix.Linkat(tpfd, tbase, pfd, base, 0); err != nil {
			return fmt.Errorf("link %s: %w", rel, err)
		}
		if e.o.Chown != nil {
			if err := unix.Fchownat(pfd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return fmt.Errorf("chown %s: %w", rel, err)
			}
		}
		return nil

	default: // tar.TypeChar, tar.TypeBlock, tar.TypeFifo
		pfd, _, err := e.clear(hdr, pfd, dir, base, false)
		if err != nil {
			return err
		}
		kind := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
		dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
		if err := unix.Mknodat(pfd, base, kind|mode, dev); err != nil {
			return fmt.Errorf("mknod %s: %w", rel, err)
		}
		return e.applyAt(hdr, pfd, rel, base, uid, gid, mode, true)
	}
}

// rootEntry applies the archive's "./" entry to Dir, or skips it.
func (e *extractor) rootEntry(hdr *tar.Header) error {
	if !e.o.RootEntry {
		return nil
	}
	if hdr.Typeflag != tar.TypeDir {
		return e.refuse(hdr, "the %s root must be a directory", e.rootName())
	}
	pfd, err := e.parent(hdr, e.dir, false)
	if err != nil {
		return err
	}
	fd, err := unix.Openat(pfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	uid, gid := e.owner(hdr)
	if err := e.applyFd(hdr, fd, uid, gid, uint32(hdr.Mode&0o7777)); err != nil {
		return err
	}
	e.dirs = append(e.dirs, dirTime{rel: e.dir, hdr: hdr, root: true})
	return nil
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
		err := unix.Fchmodat(pfd, base, mode, unix.AT_SYMLINK_NOFOLLOW)
		if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EOPNOTSUPP) {
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

func (e *extractor) whiteout(hdr *tar.Header, rel, dir, base string) error {
	if base == WhiteoutOpaqueDir {
		pfd, err := e.parent(hdr, dir, true)
		if err != nil {
			return err
		}
		fd, err := unix.Openat(pfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.Fsetxattr(fd, overlayOpaque, []byte("y"), 0)
	}
	if strings.HasPrefix(base, whiteoutMeta) {
		// AUFS bookkeeping (.wh..wh.plnk, .wh..wh.aufs): nothing to apply.
		return nil
	}
	target := base[len(WhiteoutPrefix):]
	if target == "" || target == "." || target == ".." || strings.Contains(target, "/") {
		return e.refuse(hdr, "invalid whiteout")
	}
	pfd, err := e.parent(hdr, dir, true)
	if err != nil {
		return err
	}
	if pfd, _, err = e.clear(hdr, pfd, dir, target, false); err != nil {
		return err
	}
	if err := unix.Mknodat(pfd, target, unix.S_IFCHR, 0); err != nil {
		return fmt.Errorf("whiteout %s: %w", rel, err)
	}
	uid, gid := e.owner(hdr)
	return unix.Fchownat(pfd, target, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
}

// setDirTimes runs last, deepest first, because creating entries in a
// directory changes its mtime. Each path is resolved again as the
// entries were and the last element is not followed, so a symlink that a
// later entry put in a directory's place is dated itself, never its
// target.
func (e *extractor) setDirTimes() error {
	for i := len(e.dirs) - 1; i >= 0; i-- {
		d := e.dirs[i]
		if d.root {
			pfd, err := e.parent(d.hdr, d.rel, false)
			if err != nil {
				continue
			}
			if err := unix.UtimesNanoAt(pfd, "", timespecs(d.hdr), unix.AT_EMPTY_PATH); err != nil && !errors.Is(err, unix.ENOTSUP) {
				return fmt.Errorf("set times on %s: %w", d.hdr.Name, err)
			}
			continue
		}
		pfd, err := e.parent(d.hdr, parentOf(d.rel), false)
		if err != nil {
			// Removed by a later entry: nothing to date.
			continue
		}
		err = unix.UtimesNanoAt(pfd, path.Base(d.rel), timespecs(d.hdr), unix.AT_SYMLINK_NOFOLLOW)
		if err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENOTSUP) {
			return fmt.Errorf("set times on %s: %w", d.hdr.Name, err)
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

// copyContent copies a file's content from r into the file fd, in
// writes of up to len(buf).
//
// With writeback it also starts the writeback of a big file's pages as it
// goes (sync_file_range WRITE, which does not wait for the disk): the
// layer store makes the layer durable with one syncfs before publishing
// it, and that syncfs then finds most pages already written instead of
// starting all the I/O at the end, when there is nothing left to overlap
// it with. That took a fifth off the load of a 512 MiB image.
func copyContent(fd int, r io.Reader, buf []byte, writeback bool) (int64, error) {
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
			if writeback && written-flushed >= flushEvery {
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
	if writeback && written >= flushMin && written > flushed {
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
