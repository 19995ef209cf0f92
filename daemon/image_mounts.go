package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/moby/moby/api/types/mount"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/volume/mounts"
)

// Image mounts (`--mount type=image`) show an image's filesystem, read-only,
// in a container. At create the image is resolved and its layers held for
// the mount, as the container's own image is held for its root: the mount
// survives an rmi -f of its image and keeps working across restarts. The
// layers are mounted at start (an overlay of them, or the one layer's
// directory) under the container's directory, and bound into the container
// from there, image-subpath applied as for a volume-subpath.

// imageMountKey names one image mount of a container: by its destination,
// so that one image may be mounted at several places.
func imageMountKey(dst string) string {
	h := sha256.Sum256([]byte(dst))
	return hex.EncodeToString(h[:8])
}

// imageMountOwner is the layer-store holder of an image mount.
func imageMountOwner(containerID string, mp *mounts.MountPoint) string {
	return containerID + "-imagemount-" + imageMountKey(mp.Destination)
}

// resolveImageMount holds the image mp names for the container and
// records, as dockerd does, the name as given in Name and the image ID in
// the request's Source.
func (d *Daemon) resolveImageMount(containerID string, mp *mounts.MountPoint) error {
	ref := mp.Spec.Source
	img, err := d.images.Get(ref)
	if err != nil {
		return err
	}
	if _, err := d.images.Hold(imageMountOwner(containerID, mp), img.ID); err != nil {
		return err
	}
	if mp.Name == "" {
		mp.Name = ref
	}
	mp.Spec.Source = img.ID.String()
	mp.Source = filepath.Join(d.containers.Dir(containerID), "imagemounts", imageMountKey(mp.Destination))
	mp.RW = false
	return nil
}

// imageMountImages lists the images the container's image mounts hold, for
// the conflicts `docker rmi` reports.
func imageMountImages(mps []*mounts.MountPoint) []digest.Digest {
	var out []digest.Digest
	for _, mp := range mps {
		if mp.Type == mount.TypeImage {
			out = append(out, digest.Digest(mp.Spec.Source))
		}
	}
	return out
}

// mountImage mounts the layers the image mount holds at mp.Source,
// replacing whatever an earlier run left there.
func (d *Daemon) mountImage(containerID string, mp *mounts.MountPoint) error {
	root, err := d.images.HeldRootFS(imageMountOwner(containerID, mp))
	if err != nil {
		return err
	}
	target := mp.Source
	unmountAll(target)
	if err := os.MkdirAll(target, 0o755); err != nil {
		return errdefs.System(err)
	}
	switch len(root.LowerDirs) {
	case 0:
		// An image without layers shows an empty directory.
		return nil
	case 1:
		// overlayfs needs two lower layers to mount without an upper one.
		if err := unix.Mount(root.LowerDirs[0], target, "", unix.MS_BIND, ""); err != nil {
			return errdefs.System(fmt.Errorf("mount image %s: %w", mp.Name, err))
		}
		if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			unmountAll(target)
			return errdefs.System(fmt.Errorf("mount image %s read-only: %w", mp.Name, err))
		}
		return nil
	default:
		if err := root.Mount(target, "", ""); err != nil {
			return errdefs.System(fmt.Errorf("mount image %s: %w", mp.Name, err))
		}
		return nil
	}
}

// unmountAll removes every mount stacked on dir.
func unmountAll(dir string) {
	for i := 0; i < 16; i++ {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			if !errors.Is(err, unix.EINTR) {
				return
			}
		}
	}
}

// releaseImageMounts unmounts the container's image mounts and drops
// their holds on the images' layers (removal, or a create that failed).
func (d *Daemon) releaseImageMounts(containerID string, mps []*mounts.MountPoint) {
	for _, mp := range mps {
		if mp.Type != mount.TypeImage || mp.Source == "" {
			continue
		}
		unmountAll(mp.Source)
		d.images.Release(imageMountOwner(containerID, mp))
	}
}
