package copyup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// IntoVolume copies the content of containerPath inside rootfs into the
// volume at volumeDir, when the volume is empty, the image has a
// directory there, and nocopy is false. It reports whether it copied.
func IntoVolume(ctx context.Context, rootfs, containerPath, volumeDir string, nocopy bool) (bool, error) {
	if nocopy {
		return false, nil
	}
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return false, err
	}
	defer root.Close()
	rel := strings.TrimPrefix(path.Clean("/"+containerPath), "/")
	if rel == "" {
		rel = "."
	}
	fi, err := root.Stat(rel)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	if !fi.IsDir() {
		return false, nil
	}
	src, err := root.OpenRoot(rel)
	if err != nil {
		return false, err
	}
	defer src.Close()
	return copyIfEmpty(ctx, src, volumeDir)
}

// Dir copies the content of srcDir into dstDir when dstDir is empty, and
// reports whether it copied.
func Dir(ctx context.Context, srcDir, dstDir string) (bool, error) {
	src, err := os.OpenRoot(srcDir)
	if err != nil {
		return false, err
	}
	defer src.Close()
	return copyIfEmpty(ctx, src, dstDir)
}

func copyIfEmpty(ctx context.Context, src *os.Root, dstDir string) (bool, error) {
	dst, err := os.OpenRoot(dstDir)
	if err != nil {
		return false, err
	}
	defer dst.Close()
	d, err := dst.Open(".")
	if err != nil {
		return false, err
	}
	names, err := d.Readdirnames(1)
	d.Close()
	if err != nil && err != io.EOF {
		return false, err
	}
	if len(names) > 0 {
		// dockerd's rule: a volume with anything in it is never
		// overwritten, so a second container does not reset its data.
		return false, nil
	}
	c := &copier{src: src, dst: dst, links: map[uint64]string{}}
	if err := c.run(ctx); err != nil {
		return false, err
	}
	return true, nil
}

type copier struct {
	src, dst *os.Root
	links    map[uint64]string // inode → first path copied, for hard links
	dirs     []string
}

func (c *copier) run(ctx context.Context) error {
	err := fs.WalkDir(c.src.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		fi, err := c.src.Lstat(p)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("copy-up %s: no stat data", p)
		}
		switch mode := fi.Mode(); {
		case mode.IsDir():
			if p != "." {
				if err := c.dst.Mkdir(p, 0o700); err != nil {
					return err
				}
			}
			// Directory metadata goes on after the content, or writing
			// the content would change the times and a read-only mode
			// would block it.
			c.dirs = append(c.dirs, p)
			return nil
		case mode.IsRegular():
			return c.file(p, fi, st)
		case mode&fs.ModeSymlink != 0:
			target, err := c.src.Readlink(p)
			if err != nil {
				return err
			}
			if err := c.dst.Symlink(target, p); err != nil {
				return err
			}
			return c.dst.Lchown(p, int(st.Uid), int(st.Gid))
		case mode&(fs.ModeDevice|fs.ModeNamedPipe) != 0:
			return c.node(p, fi, st)
		default:
			// Sockets are meaningless without their process.
			return nil
		}
	})
	if err != nil {
		return err
	}
	for i := len(c.dirs) - 1; i >= 0; i-- {
		p := c.dirs[i]
		fi, err := c.src.Lstat(p)
		if err != nil {
			return err
		}
		if err := c.meta(p, fi, fi.Sys().(*syscall.Stat_t)); err != nil {
			return err
		}
	}
	return nil
}

func (c *copier) file(p string, fi fs.FileInfo, st *syscall.Stat_t) error {
	if st.Nlink > 1 {
		if first, ok := c.links[st.Ino]; ok {
			return c.dst.Link(first, p)
		}
		c.links[st.Ino] = p
	}
	in, err := c.src.Open(p)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := c.dst.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return c.meta(p, fi, st)
}

func (c *copier) node(p string, fi fs.FileInfo, st *syscall.Stat_t) error {
	dir, base := path.Split(p)
	if dir == "" {
		dir = "."
	}
	parent, err := c.dst.Open(dir)
	if err != nil {
		return err
	}
	defer parent.Close()
	if err := unix.Mknodat(int(parent.Fd()), base, st.Mode, int(st.Rdev)); err != nil {
		return fmt.Errorf("copy-up %s: %w", p, err)
	}
	return c.meta(p, fi, st)
}

// meta applies owner, mode (with setuid/setgid/sticky, which chown would
// clear if it came first), extended attributes and times.
func (c *copier) meta(p string, fi fs.FileInfo, st *syscall.Stat_t) error {
	if err := c.dst.Lchown(p, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	if err := c.dst.Chmod(p, fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
		return err
	}
	// After chown, which drops security.capability. Never on a device or
	// a fifo: opening one could block or have side effects.
	if fi.IsDir() || fi.Mode().IsRegular() {
		if in, err := c.src.Open(p); err == nil {
			if out, err := c.dst.Open(p); err == nil {
				copyXattrs(in, out)
				out.Close()
			}
			in.Close()
		}
	}
	atime := time.Unix(st.Atim.Unix())
	return c.dst.Chtimes(p, atime, fi.ModTime())
}

// copyXattrs copies the extended attributes it can; a filesystem without
// them (or a security namespace the process may not set) is not an error,
// as with `cp -a`.
func copyXattrs(in, out *os.File) {
	buf := make([]byte, 4096)
	n, err := unix.Flistxattr(int(in.Fd()), buf)
	if err != nil || n <= 0 {
		return
	}
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		val := make([]byte, 64<<10)
		vn, err := unix.Fgetxattr(int(in.Fd()), name, val)
		if err != nil {
			continue
		}
		unix.Fsetxattr(int(out.Fd()), name, val[:vn], 0)
	}
}
