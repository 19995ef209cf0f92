package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

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

// maxDepth bounds how deep removeAllAt and TarAt descend: each level
// holds a directory descriptor, and a container (or an archive) decides
// how deep its tree is. A path of PATH_MAX bytes has at most 2048
// levels, and dockerd's path-based walks fail there with ENAMETOOLONG,
// so no tree dockerd handles is refused.
const maxDepth = unix.PathMax

// errTooDeep is returned for a tree deeper than maxDepth.
var errTooDeep = fmt.Errorf("directory tree deeper than %d levels: %w", maxDepth, unix.ENAMETOOLONG)

// removeAllAt removes base in the directory pfd and, when it is a
// directory, everything below it, through descriptors: a symlink met on
// the way is removed, never followed.
func removeAllAt(pfd int, base string) error {
	return removeAllDepth(pfd, base, 0)
}

func removeAllDepth(pfd int, base string, depth int) error {
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
	if depth >= maxDepth {
		return errTooDeep
	}
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	d := os.NewFile(uintptr(fd), base)
	for {
		names, err := d.Readdirnames(1024)
		for _, n := range names {
			if err := removeAllDepth(fd, n, depth+1); err != nil {
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
