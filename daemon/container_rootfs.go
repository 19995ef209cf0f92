package daemon

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
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
	mount := root.Mount
	if here {
		mount = root.MountHere
	}
	if err := mount(merged, fsDir(c, "upper"), fsDir(c, "work")); err != nil {
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

// releaseRWLayer drops c's hold on its image's layers.
func (d *Daemon) releaseRWLayer(c *ctr.Container) {
	d.unmountRootfs(c)
	d.images.Release(c.ID)
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
// for what the daemon and the runtime put there (/proc, /sys, /dev, the
// generated /etc files) and what dockerd's init layer adds (/.dockerenv,
// /etc/mtab). dockerd makes one per container; berth makes it once per
// data root and puts it below every writable layer, read-only. A start
// then creates nothing in the writable layer: on ext4 every new inode
// costs a scan of the recently deleted ones, up to a few hundred
// microseconds each on a busy host, and a start made about ten of them.
// Its content never changes; a berth that needs other content must use
// another directory name.
const initLayerName = "initlayer"

// initLayerEntries are the init layer's entries, parents first: a
// directory, an empty file, or a symlink (target set).
var initLayerEntries = []struct {
	path, symlink string
	dir           bool
}{
	{path: "dev", dir: true},
	{path: "dev/pts", dir: true},
	{path: "dev/shm", dir: true},
	{path: "dev/console"},
	{path: "proc", dir: true},
	{path: "sys", dir: true},
	{path: "etc", dir: true},
	{path: "etc/hosts"},
	{path: "etc/hostname"},
	{path: "etc/resolv.conf"},
	{path: "etc/mtab", symlink: "/proc/mounts"},
	{path: ".dockerenv"},
}

func (d *Daemon) initLayerDir() string { return filepath.Join(d.cfg.DataRoot, initLayerName) }

// ensureInitLayer makes the init layer unless it exists. It is built
// aside and renamed into place, so that a crash never leaves half of one;
// what an interrupted build left behind is removed.
func (d *Daemon) ensureInitLayer() error {
	dir := d.initLayerDir()
	stale, _ := filepath.Glob(filepath.Join(d.cfg.DataRoot, "."+initLayerName+"-*"))
	for _, s := range stale {
		os.RemoveAll(s)
	}
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	tmp, err := os.MkdirTemp(d.cfg.DataRoot, "."+initLayerName+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	for _, e := range initLayerEntries {
		p := filepath.Join(tmp, e.path)
		switch {
		case e.dir:
			err = os.Mkdir(p, 0o755)
		case e.symlink != "":
			err = os.Symlink(e.symlink, p)
		default:
			err = os.WriteFile(p, nil, 0o755)
		}
		if err != nil {
			return err
		}
	}
	if err := syncTree(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	return atomicfile.SyncDir(d.cfg.DataRoot)
}

// syncTree makes a small directory tree durable: every directory's
// entries (the files are empty).
func syncTree(root string) error {
	return filepath.WalkDir(root, func(p string, de os.DirEntry, err error) error {
		if err != nil || !de.IsDir() {
			return err
		}
		return atomicfile.SyncDir(p)
	})
}

// withInitLayer returns rootfs with the init layer on top of its layers,
// for a container's root; an image without layers gets the init layer
// alone. The init layer goes in as a path relative to the layer root,
// which the mount is made from.
func (d *Daemon) withInitLayer(rootfs image.RootFS) (image.RootFS, error) {
	out := rootfs
	if out.LayerRoot == "" {
		out.LayerRoot = d.cfg.DataRoot
	}
	rel, err := filepath.Rel(out.LayerRoot, d.initLayerDir())
	if err != nil {
		return out, err
	}
	out.Links = append([]string{rel}, rootfs.Links...)
	out.LowerDirs = append([]string{d.initLayerDir()}, rootfs.LowerDirs...)
	return out, nil
}
