package daemon

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/pkg/errdefs"
)

// A container's writable layer lives in its own directory:
//
//	DATA_ROOT/containers/<id>/fs/upper   the container's changes (docker diff)
//	DATA_ROOT/containers/<id>/fs/work    overlayfs' work directory
//	DATA_ROOT/containers/<id>/fs/merged  the mounted root while it runs
//	DATA_ROOT/containers/<id>/fs/empty   lower layer for images without layers
func fsDir(c *ctr.Container, sub string) string { return filepath.Join(c.Root(), "fs", sub) }

// createRWLayer takes a hold on the image's layers for c and makes its
// writable layer. The hold is persistent, so the layers outlive an rmi -f.
func (d *Daemon) createRWLayer(c *ctr.Container) error {
	if _, err := d.images.Hold(c.ID, digest.Digest(c.Image)); err != nil {
		return err
	}
	// "empty", the lower directory of an image without layers, is made
	// when such a root is mounted: one directory less per container.
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
	if len(held.LowerDirs) == 0 {
		// An image without layers: overlay needs one lower directory.
		if err := os.MkdirAll(fsDir(c, "empty"), 0o755); err != nil {
			return "", errdefs.System(err)
		}
		opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", fsDir(c, "empty"), fsDir(c, "upper"), fsDir(c, "work"))
		if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
			return "", errdefs.System(fmt.Errorf("mount container root: %w", err))
		}
		return merged, nil
	}
	// The image service mounts through short layer links, so deep images
	// fit in the kernel's one page of mount options.
	mount := held.Mount
	if here {
		mount = held.MountHere
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
