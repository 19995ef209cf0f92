package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/volume/copyup"
	"github.com/berthd/berth/volume/mounts"
	volumesvc "github.com/berthd/berth/volume/service"
)

// This file is the bridge between the container code and the volume
// service. The container code calls, in order:
//
//   - resolveVolumeMounts at create: parses and validates every mount
//     request (dockerd's messages), creates named and anonymous volumes and
//     references them for the container; on error nothing is left behind.
//     Store the result with the container (apiMountPoint gives inspect's
//     form).
//   - mountVolumes at start: mounts the volumes for the container (mount
//     events), seeds empty volumes from the image (copy-up), and returns
//     the OCI mounts for the runtime plus a func to call once the runtime
//     has made its mounts.
//   - unmountVolumes at stop (unmount events; a tmpfs/bind-backed volume
//     is unmounted after its last container).
//   - the container releaser registered in initVolumes drops references
//     at removal and removes anonymous volumes for `rm -v`.

// resolveVolumeMounts turns a container's mount requests into mount
// points, creating the volumes they name (with the container's reference,
// so no prune can take them between create and start).
func (d *Daemon) resolveVolumeMounts(ctx context.Context, containerID string, cfg mounts.Config) (_ []*mounts.MountPoint, retErr error) {
	mps, err := mounts.Collect(cfg)
	if err != nil {
		return nil, err
	}
	// An image mount inherited with --volumes-from gets a mount of its
	// own; until then it names nothing of this container's to release.
	for _, mp := range mps {
		if mp.Type == mount.TypeImage {
			mp.Source = ""
		}
	}
	var taken []string
	defer func() {
		if retErr != nil {
			for _, name := range taken {
				d.volumes.Release(context.WithoutCancel(ctx), name, containerID)
			}
			d.releaseImageMounts(containerID, mps)
		}
	}()
	for _, mp := range mps {
		if mp.Type == mount.TypeImage {
			if err := d.resolveImageMount(containerID, mp); err != nil {
				return nil, err
			}
			continue
		}
		if mp.Type != mount.TypeVolume {
			continue
		}
		var opts []volumesvc.CreateOption
		opts = append(opts, volumesvc.WithReference(containerID))
		if l := mp.VolumeLabels(); l != nil {
			opts = append(opts, volumesvc.WithLabels(l))
		}
		if o := mp.VolumeDriverOptions(); o != nil {
			opts = append(opts, volumesvc.WithDriverOpts(o))
		}
		v, err := d.volumes.Create(ctx, mp.Name, mp.Driver, opts...)
		if err != nil {
			return nil, err
		}
		taken = append(taken, v.Name)
		mp.Name, mp.Driver = v.Name, v.Driver
		mp.Source = v.Mountpoint
	}
	return mps, nil
}

// apiMountPoint is a mount point as inspect and ps report it.
func apiMountPoint(mp *mounts.MountPoint) container.MountPoint {
	return container.MountPoint{
		Type:        mp.Type,
		Name:        mp.Name,
		Source:      mp.Source,
		Destination: mp.Destination,
		Driver:      mp.Driver,
		Mode:        mp.Mode,
		RW:          mp.RW,
		Propagation: mp.Propagation,
	}
}

// mountVolumes mounts c's volume mount points and returns the OCI mounts
// for the runtime, in mount order. rootfs is the container's root (for
// copy-up of the image's content into empty volumes). done closes the
// file descriptors that pin volume-subpath sources: call it once the
// runtime has made its mounts (or gave up).
func (d *Daemon) mountVolumes(ctx context.Context, containerID, rootfs string, mps []*mounts.MountPoint) (out []specs.Mount, done func(), retErr error) {
	var pinned []*os.File
	var mounted, imagesMounted []string
	// The deferred clean-up must not call the named result: a failing
	// return sets it to nil before the defer runs.
	release := func() {
		for _, f := range pinned {
			f.Close()
		}
	}
	defer func() {
		if retErr != nil {
			release()
			for _, name := range mounted {
				d.volumes.Unmount(context.WithoutCancel(ctx), name, containerID)
			}
			for _, dir := range imagesMounted {
				unmountAll(dir)
			}
		}
	}()
	mounts.SortByDepth(mps)
	for _, mp := range mps {
		switch mp.Type {
		case mount.TypeVolume:
			path, err := d.volumes.Mount(ctx, mp.Name, containerID, volumesvc.WithEventAttributes(map[string]string{
				"destination": mp.Destination,
				"read/write":  strconv.FormatBool(mp.RW),
				"propagation": string(mp.Propagation),
			}))
			if err != nil {
				return nil, nil, err
			}
			mounted = append(mounted, mp.Name)
			mp.Source = path
			src := path
			if sub := mp.Subpath(); sub != "" {
				f, err := openSubpath(path, sub)
				if err != nil {
					return nil, nil, err
				}
				pinned = append(pinned, f)
				src = fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), f.Fd())
			}
			// The image's content goes where the mount shows it: into the
			// subpath when there is one, as in dockerd.
			if mp.CopyData && rootfs != "" {
				if _, err := copyup.IntoVolume(ctx, rootfs, mp.Destination, src, false); err != nil {
					return nil, nil, fmt.Errorf("copying image content into volume %s: %w", mp.Name, err)
				}
				// Seeded once: a volume the user empties later stays empty.
				mp.CopyData = false
			}
			out = append(out, bindSpec(src, mp))
		case mount.TypeBind:
			if !mp.SkipMountpointCreation {
				// `-v /host:/dst` creates a missing host directory, as
				// dockerd does; an existing file is left as it is.
				if err := os.MkdirAll(mp.Source, 0o755); err != nil && !errors.Is(err, unix.ENOTDIR) {
					return nil, nil, fmt.Errorf("error while creating mount source path '%s': %w", mp.Source, err)
				}
			}
			out = append(out, bindSpec(mp.Source, mp))
		case mount.TypeImage:
			if err := d.mountImage(containerID, mp); err != nil {
				return nil, nil, err
			}
			imagesMounted = append(imagesMounted, mp.Source)
			src := mp.Source
			if sub := mp.Subpath(); sub != "" {
				f, err := openSubpath(mp.Source, sub)
				if err != nil {
					return nil, nil, err
				}
				pinned = append(pinned, f)
				src = fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), f.Fd())
			}
			out = append(out, bindSpec(src, mp))
		case mount.TypeTmpfs:
			out = append(out, specs.Mount{
				Destination: mp.Destination,
				Type:        "tmpfs",
				Source:      "tmpfs",
				Options:     mounts.TmpfsMountOptions(mp),
			})
		default:
			return nil, nil, errdefs.NotImplemented(fmt.Errorf("mount type %q is not supported", mp.Type))
		}
	}
	return out, release, nil
}

// openSubpath opens volume-subpath inside the volume and keeps it open:
// the runtime bind-mounts the descriptor, so swapping a path component for
// a symlink after the check (the CVE-2021-30465 class) changes nothing.
// As in dockerd, symlinks in the subpath are followed while they stay in
// the volume; one that leads out of it is refused, and the final open
// follows no symlink at all.
func openSubpath(volumePath, sub string) (*os.File, error) {
	notAccessible := func(p string, err error) error {
		return errdefs.NotFound(fmt.Errorf("cannot access path %s: %w", p, err))
	}
	base, err := filepath.EvalSymlinks(volumePath)
	if err != nil {
		return nil, notAccessible(volumePath, err)
	}
	escapes := errdefs.InvalidParameterf("path concatenation escapes the base directory, base: %s, subpath: %s", base, sub)
	combined := filepath.Join(base, sub)
	resolved, err := filepath.EvalSymlinks(combined)
	if err != nil {
		return nil, notAccessible(combined, err)
	}
	rel, err := filepath.Rel(base, resolved)
	if err != nil || !filepath.IsLocal(rel) {
		return nil, escapes
	}
	dir, err := os.OpenFile(base, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, notAccessible(base, err)
	}
	defer dir.Close()
	fd, err := unix.Openat2(int(dir.Fd()), rel, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_XDEV,
	})
	switch {
	case errors.Is(err, unix.EXDEV):
		return nil, escapes
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ELOOP):
		return nil, notAccessible(filepath.Join(base, rel), err)
	case err != nil:
		return nil, errdefs.System(&os.PathError{Op: "openat2", Path: sub, Err: err})
	}
	return os.NewFile(uintptr(fd), sub), nil
}

// bindSpec is the OCI mount of a bind or volume mount point. Read-only
// here means recursively read-only where the kernel can; the runtime
// applies ReadOnlyRecursion's stricter or looser variants.
func bindSpec(src string, mp *mounts.MountPoint) specs.Mount {
	opts := []string{"rbind"}
	if !mp.Recursive() {
		opts[0] = "bind"
	}
	if !mp.RW {
		opts = append(opts, "ro")
		// Forced recursion (bind-recursive=readonly, the CRI's
		// recursive_read_only) makes the mounts below read-only too.
		if _, force := mp.ReadOnlyRecursion(); force {
			opts = append(opts, "rro")
		}
	}
	prop := mp.Propagation
	if prop == "" {
		prop = mounts.DefaultPropagation
	}
	opts = append(opts, string(prop))
	return specs.Mount{Destination: mp.Destination, Type: "bind", Source: src, Options: opts}
}

// unmountVolumes releases c's volume mounts at stop.
func (d *Daemon) unmountVolumes(ctx context.Context, containerID string, mps []*mounts.MountPoint) error {
	var errs []error
	for _, mp := range mps {
		if mp.Type == mount.TypeImage && mp.Source != "" {
			unmountAll(mp.Source)
			continue
		}
		if mp.Type != mount.TypeVolume || mp.Name == "" {
			continue
		}
		if err := d.volumes.Unmount(ctx, mp.Name, containerID); err != nil {
			logrus.WithError(err).WithField("container", containerID).WithField("volume", mp.Name).Warn("unmounting volume")
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
