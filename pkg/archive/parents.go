package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// parentOf is the directory part of rel ("" at the root). The directories
// that entries are created in are kept open in the extractor's cache (up
// to parentCacheMax of them) so that an archive's many entries in one
// directory resolve it once.
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
