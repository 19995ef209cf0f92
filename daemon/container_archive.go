package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/mount"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/pkg/archive"
	"github.com/berthd/berth/pkg/containerfs"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/stringid"
	"github.com/berthd/berth/pkg/userdb"
	"github.com/berthd/berth/volume/mounts"
)

// docker cp works on a containerfs.View of the container's filesystem. A
// running container is viewed through its own init process's root
// (/proc/<pid>/root): its volumes, binds and tmpfs mounts as it sees
// them. A stopped one gets its overlay root and its volumes and binds
// mounted in the view's private mount namespace, which dies with the
// view; nothing is mounted on the host.
//
// The view's chroot is not what keeps a copy inside the container: a
// container whose /proc shows host processes (--pid host, a bind of the
// host's /proc) has /proc/<pid>/root, a magic link to the host's root,
// and the kernel follows magic links out of any chroot. Every path of a
// request is resolved on the view's root descriptor with openat2
// RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS, once, to a descriptor, and the
// work is done on descriptors from there (the archive walk opens each
// entry by its one name in its parent, never following a symlink): a
// directory the container swaps for a symlink meanwhile changes nothing
// (CVE-2018-15664). A magic link on the way is a missing file, as it is
// for dockerd, whose view of a container has no /proc.

// fsView is an open view of a container's filesystem and what closing it
// releases.
type fsView struct {
	*containerfs.View
	release func()
}

func (v *fsView) close() {
	v.View.Close()
	v.release()
}

// openUnlocked opens a view of c's files with volumes (openContainerFS)
// to be used without c's lock, which every docker ps and inspect wait
// for, while the container decides how long the use lasts (a petabyte
// of sparse file, a slow client). holdFS keeps a removal, and where it
// matters a start, off until done is called, after the view's close.
func (d *Daemon) openUnlocked(ctx context.Context, c *ctr.Container, write bool) (*fsView, func(), error) {
	c.Lock()
	defer c.Unlock()
	done, err := d.holdFS(c, write)
	if err != nil {
		return nil, nil, err
	}
	v, err := d.openContainerFS(ctx, c, true)
	if err != nil {
		c.Unlock()
		done()
		c.Lock()
		return nil, nil, err
	}
	return v, func() {
		if done != nil {
			done()
			done = nil
		}
	}, nil
}

// openContainerFS opens a view of c's filesystem as its process sees (or
// would see) it. The caller holds c's lock while it opens, and holds the
// lock or holdFS until the view is closed, so that the view's mounts
// never meet the container's own.
func (d *Daemon) openContainerFS(ctx context.Context, c *ctr.Container, withVolumes bool) (*fsView, error) {
	if runningForView(c) && withVolumes {
		pid, id := c.State.Pid, c.ID
		v, err := containerfs.Open(func() (*os.File, error) { return openProcessRoot(pid, id) })
		if err != nil {
			return nil, errdefs.System(err)
		}
		return &fsView{View: v, release: func() {}}, nil
	}
	if runningForView(c) {
		// The overlay root as mounted on the host, without the mounts
		// the container made in its own namespace (export).
		merged := fsDir(c, "merged")
		v, err := containerfs.Open(func() (*os.File, error) { return openDir(merged) })
		if err != nil {
			return nil, errdefs.System(err)
		}
		return &fsView{View: v, release: func() {}}, nil
	}
	var mps []*mounts.MountPoint
	if withVolumes {
		var err error
		if mps, err = containerVolumeMounts(c); err != nil {
			return nil, err
		}
	}
	specMounts, pinned, err := d.mountVolumes(ctx, c.ID, "", mps)
	if err != nil {
		return nil, err
	}
	release := func() {
		if err := d.unmountVolumes(context.WithoutCancel(ctx), c.ID, mps); err != nil {
			logrus.WithError(err).WithField("container", stringid.TruncateID(c.ID)).Warn("unmounting volumes after a filesystem view")
		}
	}
	merged := fsDir(c, "merged")
	v, err := containerfs.Open(func() (*os.File, error) {
		// Runs on the view's thread, in its private mount namespace: the
		// mount must be made from this thread to land there.
		if _, err := d.mountRootfsOn(c, true); err != nil {
			return nil, err
		}
		root, err := openDir(merged)
		if err != nil {
			return nil, err
		}
		for i, m := range specMounts {
			if err := mountInView(root, m.Type, m.Source, m.Destination, m.Options, mps[i]); err != nil {
				root.Close()
				return nil, err
			}
		}
		return root, nil
	})
	pinned()
	if err != nil {
		release()
		return nil, errdefs.System(err)
	}
	return &fsView{View: v, release: release}, nil
}

// mountInView mounts one of a stopped container's mounts into its root in
// the view. Propagation stays private: the view must not reach the host.
func mountInView(root *os.File, typ, src, dst string, opts []string, mp *mounts.MountPoint) error {
	if typ == "tmpfs" {
		// A stopped container's tmpfs is empty; what is copied there
		// goes away with the view, as it would with the container.
		target, err := containerfs.OpenIn(root, dst, false)
		if err != nil {
			return err
		}
		defer target.Close()
		var data []string
		for _, o := range opts {
			if strings.Contains(o, "=") {
				data = append(data, o)
			}
		}
		return containerfs.Tmpfs(target, unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, strings.Join(data, ","))
	}
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	target, err := containerfs.OpenIn(root, dst, !fi.IsDir())
	if err != nil {
		return err
	}
	defer target.Close()
	return containerfs.Bind(src, target, !mp.Recursive(), !mp.RW)
}

// openProcessRoot opens pid's root directory, checking through a pidfd
// that the process opened is the one meant and not a successor with a
// reused PID, and that it is in the container's cgroup: until restore
// reaches a container, its PID on disk may be a stale one (after a reboot,
// any host process's), and a view of a host process's root is the host.
func openProcessRoot(pid int, id string) (*os.File, error) {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("container process %d: %w", pid, err)
	}
	defer unix.Close(pidfd)
	if !inContainerCgroup(pid, id) {
		return nil, fmt.Errorf("process %d is not container %s's", pid, id)
	}
	root, err := openDir(fmt.Sprintf("/proc/%d/root", pid))
	if err != nil {
		return nil, err
	}
	// Still alive: the cgroup read and the root opened were this
	// process's, not a successor's with its PID.
	if err := unix.PidfdSendSignal(pidfd, 0, nil, 0); err != nil {
		root.Close()
		return nil, fmt.Errorf("container process %d exited: %w", pid, err)
	}
	return root, nil
}

func openDir(p string) (*os.File, error) {
	fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return os.NewFile(uintptr(fd), p), nil
}

// fileNotFound is dockerd's 404 for a path missing in a container.
func fileNotFound(path, name string) error {
	return errdefs.NotFoundf("Could not find the file %s in container %s", path, name)
}

// archiveError maps an error of a copy the way dockerd does: missing
// files are 404 with its message, client mistakes stay 400, the rest 500.
func archiveError(err error, path, name string) error {
	var bo archive.BreakoutError
	switch {
	case err == nil:
		return nil
	case errdefs.Is(err, errdefs.InvalidParameter), errdefs.Is(err, errdefs.NotFound), errdefs.Is(err, errdefs.Conflict),
		errdefs.Is(err, errdefs.System):
		return err
	case errors.Is(err, fs.ErrNotExist), containerfs.IsMagicLinkRefusal(err):
		// A magic link is as good as missing: dockerd's view of a
		// container has no /proc to follow one in.
		return fileNotFound(path, name)
	case errors.As(err, &bo):
		return errdefs.InvalidParameter(err)
	}
	return errdefs.System(err)
}

// preserveTrailingDotOrSeparator is dockerd's: the trailing "/" or "/."
// of what the user typed means "the directory's contents" to the client,
// so it survives the cleaning of the path.
func preserveTrailingDotOrSeparator(cleaned, original string) string {
	// "Specifies the current directory" is dockerd's test: the last
	// element is ".", so "./" and "/./" count as much as "/.".
	if filepath.Base(cleaned) != "." && filepath.Base(original) == "." {
		if !strings.HasSuffix(cleaned, "/") {
			cleaned += "/"
		}
		cleaned += "."
	}
	if !strings.HasSuffix(cleaned, "/") && strings.HasSuffix(original, "/") {
		cleaned += "/"
	}
	return cleaned
}

func absContainerPath(p string) string {
	return preserveTrailingDotOrSeparator(filepath.Join("/", p), p)
}

// lookupInRoot resolves abs on root as lstat(2) resolves a path: every
// component but the last followed (inside the root), the last one not,
// unless abs ends in "/" or "/.". It returns the directory the entry is
// in and the entry's name there, "." for the directory itself.
func lookupInRoot(root *os.File, abs string) (*os.File, string, error) {
	dir, name := abs, "."
	if abs != "/" && !strings.HasSuffix(abs, "/") && !strings.HasSuffix(abs, "/.") {
		dir, name = filepath.Split(abs)
	}
	f, err := containerfs.OpenInRoot(root, dir, unix.O_PATH|unix.O_DIRECTORY, 0, "lstat")
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			pe.Path = abs
		}
		return nil, "", err
	}
	return f, name, nil
}

// lstatAt is fstatat(dir, name) without following a last symlink.
func lstatAt(dir *os.File, name, abs string) (unix.Stat_t, error) {
	var st unix.Stat_t
	var err error
	if name == "." {
		err = unix.Fstat(int(dir.Fd()), &st)
	} else {
		err = unix.Fstatat(int(dir.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err != nil {
		return st, &os.PathError{Op: "lstat", Path: abs, Err: err}
	}
	return st, nil
}

// lstatInRoot is lstat(2) of a container path.
func lstatInRoot(root *os.File, abs string) (unix.Stat_t, error) {
	dir, name, err := lookupInRoot(root, abs)
	if err != nil {
		return unix.Stat_t{}, err
	}
	defer dir.Close()
	return lstatAt(dir, name, abs)
}

// readlinkInRoot is readlink(2) of a container path. A magic link reads
// as what it names from the daemon's root ("/" for the host's init) and
// is then resolved as an ordinary link would be: inside the container.
func readlinkInRoot(root *os.File, abs string) (string, error) {
	dir, name, err := lookupInRoot(root, abs)
	if err != nil {
		return "", err
	}
	defer dir.Close()
	for n := 256; ; n *= 2 {
		buf := make([]byte, n)
		k, err := unix.Readlinkat(int(dir.Fd()), name, buf)
		if err != nil {
			return "", &os.PathError{Op: "readlink", Path: abs, Err: err}
		}
		if k < n {
			return string(buf[:k]), nil
		}
	}
}

// pathStat is HEAD's stat of the entry name in dir. A symlink's target
// is resolved as far as it exists, within the root.
func pathStat(root, dir *os.File, name, abs string) (*container.PathStat, error) {
	st, err := lstatAt(dir, name, abs)
	if err != nil {
		return nil, err
	}
	mode := archive.FileMode(st.Mode)
	var target string
	if mode&os.ModeSymlink != 0 {
		if target, err = followInScope(root, abs); err != nil {
			return nil, err
		}
	}
	return &container.PathStat{
		Name:       filepath.Base(abs),
		Size:       st.Size,
		Mode:       mode,
		Mtime:      time.Unix(st.Mtim.Unix()),
		LinkTarget: target,
	}, nil
}

// followInScope evaluates every symlink of p; components that do not
// exist are kept as they are (a dangling link still reports where it
// points). The container's root is the scope: each step is looked up on
// the root descriptor, and a link's text is followed lexically, so a
// magic link (whose text is a host path) stays in the container too.
func followInScope(root *os.File, p string) (string, error) {
	todo := strings.Split(filepath.Clean("/"+p), "/")
	out := ""
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			out = filepath.Dir("/" + out)
			if out == "/" {
				out = ""
			}
			continue
		}
		next := out + "/" + c
		st, err := lstatInRoot(root, next)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
				out = next
				continue
			}
			return "", err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			out = next
			continue
		}
		if links++; links > 255 {
			return "", fmt.Errorf("evaluating symlinks of %s: too many links", p)
		}
		dest, err := readlinkInRoot(root, next)
		if err != nil {
			return "", err
		}
		if filepath.IsAbs(dest) {
			out = ""
		}
		todo = append(strings.Split(dest, "/"), todo...)
	}
	if out == "" {
		return "/", nil
	}
	return out, nil
}

// ContainerStatPath answers HEAD /containers/{id}/archive.
func (d *Daemon) ContainerStatPath(ctx context.Context, ref, path string) (*container.PathStat, error) {
	c, err := d.containers.Get(ref)
	if err != nil {
		return nil, err
	}
	v, done, err := d.openUnlocked(ctx, c, false)
	if err != nil {
		return nil, err
	}
	defer done()
	defer v.close()
	abs := absContainerPath(path)
	dir, name, err := lookupInRoot(v.Root(), abs)
	if err != nil {
		return nil, archiveError(err, path, ref)
	}
	defer dir.Close()
	st, err := pathStat(v.Root(), dir, name, abs)
	return st, archiveError(err, path, ref)
}

// ContainerArchivePath answers GET /containers/{id}/archive: the tar of
// path, named as the client's copy logic expects, and its stat. The
// stream lasts as long as the container's files and the client make it:
// it runs without the container's lock (see openUnlocked) until closed.
func (d *Daemon) ContainerArchivePath(ctx context.Context, ref, path string) (_ io.ReadCloser, _ *container.PathStat, retErr error) {
	c, err := d.containers.Get(ref)
	if err != nil {
		return nil, nil, err
	}
	v, done, err := d.openUnlocked(ctx, c, false)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if retErr != nil {
			done()
		}
	}()
	abs := absContainerPath(path)
	dir, name, err := lookupInRoot(v.Root(), abs)
	if err != nil {
		v.close()
		return nil, nil, archiveError(err, path, ref)
	}
	st, err := pathStat(v.Root(), dir, name, abs)
	if err != nil {
		dir.Close()
		v.close()
		return nil, nil, archiveError(err, path, ref)
	}
	// The archive is of what was stat'ed: a directory from its own
	// descriptor, anything else by its name in the directory resolved
	// above, never by the path again.
	src, include := dir, name
	if st.Mode.IsDir() && name != "." {
		fd, err := unix.Openat(int(dir.Fd()), name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		dir.Close()
		if err != nil {
			v.close()
			return nil, nil, archiveError(&os.PathError{Op: "open", Path: abs, Err: err}, path, ref)
		}
		src, include = os.NewFile(uintptr(fd), abs), "."
	}
	opts := archive.TarOptions{Include: include, IncludeSourceDir: true, Rebase: filepath.Base(abs)}
	pr, pw := io.Pipe()
	if err := v.Go(func() {
		pw.CloseWithError(archive.TarAt(pw, src, opts))
		src.Close()
	}); err != nil {
		src.Close()
		v.close()
		return nil, nil, errdefs.System(err)
	}
	d.logContainerEvent(c, events.ActionArchivePath, nil)
	return &closeFunc{Reader: pr, close: func() error {
		pr.Close()
		v.close()
		done()
		return nil
	}}, st, nil
}

type closeFunc struct {
	io.Reader
	close func() error
}

func (c *closeFunc) Close() error { return c.close() }

// ContainerExtractToDir answers PUT /containers/{id}/archive: content is
// a tar extracted into the directory path (symlinks followed, in the
// container's root) by archive.UntarAt on the view's root descriptor.
func (d *Daemon) ContainerExtractToDir(ctx context.Context, ref, path string, copyUIDGID, noOverwriteDirNonDir bool, content io.Reader) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	v, done, err := d.openUnlocked(ctx, c, true)
	if err != nil {
		return err
	}
	defer done()
	defer v.close()
	c.Lock()
	user := c.Config.User
	c.Unlock()
	// Not in v.Run: the view's thread is chrooted into the container,
	// where /proc is the container's own (or, stopped, the image's
	// directory), and the extractor reaches FIFOs, devices and symlinks
	// through /proc/thread-self/fd. Everything below works on the
	// view's root descriptor, which crosses the view's mounts from any
	// thread.
	err = func() error {
		// The destination is resolved with all its symlinks followed,
		// the last one too (an archive may be extracted into a symlink
		// to a directory), inside the root; what that resolved to is
		// then opened with no symlink allowed at all, so the descriptor
		// is of the very directory whose path the read-only checks see.
		resolved, err := followInScope(v.Root(), filepath.Join("/", path))
		if err != nil {
			return err
		}
		abs := preserveTrailingDotOrSeparator(resolved, path)
		dst, err := containerfs.OpenInRoot(v.Root(), resolved, unix.O_PATH, unix.RESOLVE_NO_SYMLINKS, "lstat")
		if err != nil {
			return err
		}
		defer dst.Close()
		var st unix.Stat_t
		if err := unix.Fstat(int(dst.Fd()), &st); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return errdefs.InvalidParameterf("extraction point is not a directory")
		}
		c.Lock()
		err = checkWritablePath(c, abs)
		c.Unlock()
		if err != nil {
			return err
		}
		opts := archive.UntarOptions{NoOverwriteDirNonDir: noOverwriteDirNonDir}
		if copyUIDGID && user != "" {
			uid, gid, err := lookupUserInView(v.Root(), user)
			if err != nil {
				return errdefs.InvalidParameter(err)
			}
			opts.Chown = &[2]int{uid, gid}
		}
		// The extractor resolves the destination and every entry on the
		// root descriptor too, never by path from the view's root.
		return archive.UntarAt(ctx, content, v.Root(), resolved, opts)
	}()
	if err != nil {
		return archiveError(err, path, ref)
	}
	d.logContainerEvent(c, events.ActionExtractToDir, nil)
	return nil
}

// checkWritablePath refuses, with dockerd's messages, to write under a
// read-only mount or into a read-only root. The innermost mount decides.
func checkWritablePath(c *ctr.Container, abs string) error {
	var best *container.MountPoint
	for _, mp := range c.MountPoints {
		rel, err := filepath.Rel(mp.Destination, abs)
		if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			continue
		}
		if best == nil || len(mp.Destination) > len(best.Destination) {
			best = mp
		}
	}
	if best != nil {
		if best.RW {
			return nil
		}
		if best.Type == mount.TypeVolume || best.Type == mount.TypeBind || best.Type == mount.TypeTmpfs {
			return errdefs.InvalidParameterf("mounted volume is marked read-only")
		}
	}
	if c.HostConfig.ReadonlyRootfs {
		return errdefs.InvalidParameterf("container rootfs is marked read-only")
	}
	return nil
}

// lookupUserInView resolves user[:group] against the container's
// /etc/passwd and /etc/group, read beneath its root through pkg/userdb (a
// FIFO or a link to a host file there neither stalls the copy nor names a
// host user), as dockerd does for copyUIDGID: numeric IDs need no entry.
func lookupUserInView(root *os.File, spec string) (uid, gid int, err error) {
	db := userdb.Read(root)
	u, g, _ := strings.Cut(spec, ":")
	if u != "" {
		if n, err := strconv.ParseUint(u, 10, 31); err == nil {
			uid = int(n)
			if eu, err := db.ExecUser(u); err == nil {
				gid = eu.Gid
			}
		} else {
			e, err := db.LookupUser(u)
			if err != nil {
				return 0, 0, fmt.Errorf("failed to look up user %q in container: no matching entries in passwd file", u)
			}
			uid, gid = e.Uid, e.Gid
		}
	}
	if g != "" {
		if n, err := strconv.ParseUint(g, 10, 31); err == nil {
			gid = int(n)
		} else {
			e, err := db.LookupGroup(g)
			if err != nil {
				return 0, 0, fmt.Errorf("failed to look up group %q in container: no matching entries in group file", g)
			}
			gid = e.Gid
		}
	}
	return uid, gid, nil
}
