package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

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

type extractor struct {
	ctx     context.Context
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
		ctx:     ctx,
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
		e.dirs = append(e.dirs, dirTime{rel: rel, ts: timespecs(hdr)})
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
			if err := copySparse(e.ctx, f, tr, hdr.Size, e.buf); err != nil {
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
	e.dirs = append(e.dirs, dirTime{rel: e.dir, ts: timespecs(hdr), root: true})
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
