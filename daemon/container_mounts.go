package daemon

import (
	"context"
	"encoding/json"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

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
			return nil, err
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
	// Copy-up happens once; remember that it did.
	setVolumeMounts(c, mps)
	return out, done, nil
}

// releaseVolumeMounts unmounts c's volumes after its process is gone.
func (d *Daemon) releaseVolumeMounts(c *ctr.Container) {
	mps, err := containerVolumeMounts(c)
	if err != nil || len(mps) == 0 {
		return
	}
	d.unmountVolumes(context.Background(), c.ID, mps)
}
