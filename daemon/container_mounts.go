package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/volume/mounts"
)

// containerVolumeMounts decodes the volume layer's record of c's mounts.
func containerVolumeMounts(c *ctr.Container) ([]*mounts.MountPoint, error) {
	var mps []*mounts.MountPoint
	if len(c.VolumeMounts) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(c.VolumeMounts, &mps); err != nil {
		return nil, errdefs.System(err)
	}
	return mps, nil
}

// setVolumeMounts records mps in c, in both the full and the API form.
func setVolumeMounts(c *ctr.Container, mps []*mounts.MountPoint) error {
	raw, err := json.Marshal(mps)
	if err != nil {
		return errdefs.System(err)
	}
	c.VolumeMounts = raw
	c.MountPoints = map[string]*container.MountPoint{}
	for _, mp := range mps {
		api := apiMountPoint(mp)
		c.MountPoints[mp.Destination] = &api
	}
	return nil
}

// createVolumeMounts resolves a new container's -v, --mount, --tmpfs,
// image VOLUMEs and --volumes-from into mount points, creating and
// referencing the volumes they name.
func (d *Daemon) createVolumeMounts(ctx context.Context, id string, cfg *container.Config, hc *container.HostConfig) ([]*mounts.MountPoint, error) {
	mc := mounts.Config{
		Binds:        hc.Binds,
		Mounts:       hc.Mounts,
		Tmpfs:        hc.Tmpfs,
		Volumes:      cfg.Volumes,
		VolumeDriver: hc.VolumeDriver,
	}
	for _, spec := range hc.VolumesFrom {
		ref, mode, err := mounts.ParseVolumesFrom(spec)
		if err != nil {
			return nil, err
		}
		src, err := d.containers.Get(ref)
		if err != nil {
			// A bad reference in the request, as dockerd classes it: 400.
			return nil, errdefs.InvalidParameterf("%v", err)
		}
		src.Lock()
		mps, err := containerVolumeMounts(src)
		src.Unlock()
		if err != nil {
			return nil, err
		}
		mc.VolumesFrom = append(mc.VolumesFrom, mounts.Inherited{Mode: mode, MountPoints: mps})
	}
	return d.resolveVolumeMounts(ctx, id, mc)
}

// volumeSpecMounts mounts c's volumes for a start and returns the OCI
// mounts and the function to call once the runtime has made them.
func (d *Daemon) volumeSpecMounts(ctx context.Context, c *ctr.Container, rootfs string) ([]specs.Mount, func(), error) {
	mps, err := containerVolumeMounts(c)
	if err != nil || len(mps) == 0 {
		return nil, func() {}, err
	}
	out, done, err := d.mountVolumes(ctx, c.ID, rootfs, mps)
	if err != nil {
		return nil, nil, err
	}
	// A volume-subpath comes pinned as the daemon's /proc/self/fd path,
	// which the runtime cannot bind from inside the container's new mount
	// namespace. Bind it here, in the daemon's namespace (where the fd path
	// resolves without races), onto a stable directory the runtime can use.
	for i := range out {
		if !strings.HasPrefix(out[i].Source, "/proc/") {
			continue
		}
		target := filepath.Join(c.Root(), "subpaths", strconv.Itoa(i))
		if err := bindSubpath(out[i].Source, target); err != nil {
			done()
			d.releaseVolumeMounts(c)
			return nil, nil, errdefs.System(fmt.Errorf("mount volume subpath: %w", err))
		}
		out[i].Source = target
	}
	// Copy-up happens once; remember that it did.
	setVolumeMounts(c, mps)
	return out, done, nil
}

// bindSubpath bind-mounts src (a directory or a file) onto target.
func bindSubpath(src, target string) error {
	var st unix.Stat_t
	if err := unix.Stat(src, &st); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return err
	}
	unix.Unmount(target, unix.MNT_DETACH)
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if err := os.MkdirAll(target, 0o700); err != nil {
			return err
		}
	} else if f, err := os.OpenFile(target, os.O_CREATE|os.O_RDONLY, 0o600); err == nil {
		f.Close()
	} else {
		return err
	}
	return unix.Mount(src, target, "", unix.MS_BIND, "")
}

// unbindSubpaths undoes bindSubpath for c.
func unbindSubpaths(c *ctr.Container) { unbindSubpathsIn(c.Root()) }

// unbindSubpathsIn undoes bindSubpath for the container directory root.
func unbindSubpathsIn(root string) {
	dir := filepath.Join(root, "subpaths")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		unix.Unmount(filepath.Join(dir, e.Name()), unix.MNT_DETACH)
	}
	os.RemoveAll(dir)
}

// releaseVolumeMounts unmounts c's volumes after its process is gone.
func (d *Daemon) releaseVolumeMounts(c *ctr.Container) {
	unbindSubpaths(c)
	mps, err := containerVolumeMounts(c)
	if err != nil || len(mps) == 0 {
		return
	}
	d.unmountVolumes(d.life.teardown(), c.ID, mps)
}
