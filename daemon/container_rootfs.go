package daemon

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/image"
	"github.com/berthd/berth/pkg/atomicfile"
	"github.com/berthd/berth/pkg/errdefs"
)

// A container's writable layer lives in its own directory:
//
//	DATA_ROOT/containers/<id>/fs/upper   the container's changes (docker diff)
//	DATA_ROOT/containers/<id>/fs/work    overlayfs' work directory
//	DATA_ROOT/containers/<id>/fs/merged  the mounted root while it runs
//
// Below the writable layer and above the image's layers every container
// has the init layer, DATA_ROOT/initlayer (initLayerDir), shared by all.
func fsDir(c *ctr.Container, sub string) string { return filepath.Join(c.Root(), "fs", sub) }

// createRWLayer takes a hold on the image's layers for c and makes its
// writable layer. The hold is persistent, so the layers outlive an rmi -f.
func (d *Daemon) createRWLayer(c *ctr.Container) error {
	if _, err := d.images.Hold(c.ID, digest.Digest(c.Image)); err != nil {
		return err
	}
	for _, sub := range []string{"upper", "work", "merged"} {
		if err := os.MkdirAll(fsDir(c, sub), 0o755); err != nil {
			d.images.Release(c.ID)
			return errdefs.System(err)
		}
	}
	return nil
}

// mountRootfs mounts c's overlay root and returns its path. Mounting an
// already mounted root is a no-op, for restarts.
func (d *Daemon) mountRootfs(c *ctr.Container) (string, error) {
	return d.mountRootfsOn(c, false)
}

// mountRootfsOn mounts c's root; here mounts from the calling thread (which
// must be locked, with its own filesystem context), so that a view in a
// private mount namespace gets the mount in that namespace.
func (d *Daemon) mountRootfsOn(c *ctr.Container, here bool) (string, error) {
	merged := fsDir(c, "merged")
	if mounted(merged) {
		return merged, nil
	}
	// The hold taken at create, not the image: a container keeps its
	// layers (and starts) after its image was force-removed.
	held, err := d.images.HeldRootFS(c.ID)
	if err != nil {
		return "", err
	}
	root, err := d.withInitLayer(held)
	if err != nil {
		return "", errdefs.System(err)
	}
	// The image service mounts through short layer links, so deep images
	// fit in the kernel's one page of mount options.
	if err := d.containerRuntime().mountRoot(root, merged, fsDir(c, "upper"), fsDir(c, "work"), here); err != nil {
		return "", errdefs.System(fmt.Errorf("mount container root: %w", err))
	}
	return merged, nil
}

// unmountRootfs unmounts c's root after its process is gone.
func (d *Daemon) unmountRootfs(c *ctr.Container) {
	merged := fsDir(c, "merged")
	for mounted(merged) {
		if err := unix.Unmount(merged, unix.MNT_DETACH); err != nil {
			return
		}
	}
}

// releaseRWLayer drops c's hold on its image's layers, and the holds of
// its image mounts.
func (d *Daemon) releaseRWLayer(c *ctr.Container) {
	d.unmountRootfs(c)
	d.images.Release(c.ID)
	if mps, err := containerVolumeMounts(c); err == nil {
		d.releaseImageMounts(c.ID, mps)
	}
}

// mounted reports whether dir is a mount point (its device differs from
// its parent's, or it is listed; overlay shows a distinct device).
func mounted(dir string) bool {
	var st, pst unix.Stat_t
	if unix.Lstat(dir, &st) != nil || unix.Lstat(filepath.Dir(dir), &pst) != nil {
		return false
	}
	return st.Dev != pst.Dev
}

// The init layer holds what every container's root needs as mount points
// for what the runtime mounts there (/proc, /sys, /dev) and dockerd's
// /.dockerenv. dockerd makes an init layer per container; berth makes this
// one once per data root and puts it below every writable layer,
// read-only. A start then creates none of them in the writable layer: on
// ext4 without a journal every new inode costs a scan of the recently
// deleted ones.
//
// /etc is not in it. A directory of a lower layer hides the attributes
// (mode, owner, labels) of the same directory in the layers below it, and
// hides a symlink there completely, so a shared /etc would replace the
// image's. The /etc mount points (hosts, hostname, resolv.conf) are made
// by the runtime in the writable layer, which copies /etc up with the
// image's attributes, as dockerd's per-container init layer does. /proc,
// /sys and /dev are mounted over in every container, so theirs do not
// show; only a stopped container's export shows this layer's.
//
// Its content never changes; a berth that needs other content must use
// another directory name. ensureInitLayer repairs modes (a daemon started
// under a restrictive umask) and rebuilds one that does not hold exactly
// these entries.
const initLayerName = "initlayer"

// initLayerEntries are the init layer's entries, parents first: a
// directory (mode 0755) or an empty file (mode 0755, as dockerd's).
var initLayerEntries = []struct {
	path string
	dir  bool
}{
	{path: "dev", dir: true},
	{path: "dev/pts", dir: true},
	{path: "dev/shm", dir: true},
	{path: "dev/console"},
	{path: "proc", dir: true},
	{path: "sys", dir: true},
	{path: ".dockerenv"},
}

const initLayerMode = 0o755

func (d *Daemon) initLayerDir() string { return filepath.Join(d.cfg.DataRoot, initLayerName) }

// ensureInitLayer makes the init layer unless a complete one exists. It
// is built aside and renamed into place, synced first, so that a crash
// never leaves half of one; what an interrupted build left behind is
// removed.
func (d *Daemon) ensureInitLayer() error {
	dir := d.initLayerDir()
	stale, _ := filepath.Glob(filepath.Join(d.cfg.DataRoot, "."+initLayerName+"-*"))
	for _, s := range stale {
		os.RemoveAll(s)
	}
	switch err := checkInitLayer(dir); {
	case err == nil:
		return nil
	case !os.IsNotExist(err):
		logrus.WithError(err).WithField("dir", dir).Warn("rebuilding the init layer")
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	tmp, err := os.MkdirTemp(d.cfg.DataRoot, "."+initLayerName+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, e := range initLayerEntries {
		p := filepath.Join(tmp, e.path)
		if e.dir {
			err = os.Mkdir(p, initLayerMode)
		} else {
			err = os.WriteFile(p, nil, initLayerMode)
		}
		if err != nil {
			return err
		}
	}
	// Modes as given, whatever the daemon's umask: the check that
	// repairs an existing layer sets them.
	if err := checkInitLayer(tmp); err != nil {
		return err
	}
	// On ext4 without a journal a directory's fsync does not write its
	// children's inodes: sync the whole filesystem once, before the
	// rename makes the layer visible.
	if err := syncFS(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	return atomicfile.SyncDir(d.cfg.DataRoot)
}

// checkInitLayer returns nil if dir holds exactly the init layer's
// entries with their types; a wrong mode it repairs.
func checkInitLayer(dir string) error {
	want := map[string]bool{"": true}
	for _, e := range initLayerEntries {
		want[e.path] = e.dir
	}
	seen := 0
	err := filepath.WalkDir(dir, func(p string, de os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			rel = ""
		}
		isDir, ok := want[rel]
		if !ok {
			return fmt.Errorf("unexpected entry %q", rel)
		}
		fi, err := de.Info()
		if err != nil {
			return err
		}
		if isDir != fi.IsDir() || (!isDir && !fi.Mode().IsRegular()) || (!isDir && fi.Size() != 0) {
			return fmt.Errorf("entry %q has the wrong type", rel)
		}
		if fi.Mode().Perm() != initLayerMode {
			if err := os.Chmod(p, initLayerMode); err != nil {
				return err
			}
		}
		seen++
		return nil
	})
	if err != nil {
		return err
	}
	if seen != len(want) {
		return fmt.Errorf("%d of %d entries", seen, len(want))
	}
	return nil
}

func syncFS(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Syncfs(fd)
}

// withInitLayer returns rootfs with the init layer on top of its layers,
// for a container's root; an image without layers gets the init layer
// alone. The init layer goes in as a path relative to the layer root,
// which the mount is made from: relative to where the layer root really
// is, since an administrator may have moved it elsewhere behind a
// symlink.
func (d *Daemon) withInitLayer(rootfs image.RootFS) (image.RootFS, error) {
	out := rootfs
	if out.LayerRoot == "" {
		out.LayerRoot = d.cfg.DataRoot
	}
	from, err := filepath.EvalSymlinks(out.LayerRoot)
	if err != nil {
		return out, err
	}
	to, err := filepath.EvalSymlinks(d.initLayerDir())
	if err != nil {
		return out, err
	}
	rel, err := filepath.Rel(from, to)
	if err != nil {
		return out, err
	}
	out.Links = append([]string{rel}, rootfs.Links...)
	out.LowerDirs = d.lowerDirs(rootfs)
	return out, nil
}

// lowerDirs are a container's lower directories, top first: the init
// layer, then rootfs's (as dockerd lists its per-container init layer
// first in inspect's LowerDir).
func (d *Daemon) lowerDirs(rootfs image.RootFS) []string {
	return append([]string{d.initLayerDir()}, rootfs.LowerDirs...)
}
