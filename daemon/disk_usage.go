package daemon

import (
	"context"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/volume"

	"github.com/berthd/berth/daemon/backend"
	imagesvc "github.com/berthd/berth/image"
)

// SystemDiskUsage answers GET /system/df. Each manager adds its figures as
// it lands; until then a requested list is empty, not absent.
func (d *Daemon) SystemDiskUsage(ctx context.Context, opts backend.DiskUsageOptions) (*backend.DiskUsage, error) {
	du := &backend.DiskUsage{}
	if opts.Images {
		imgs, err := d.images.List(imagesvc.ListOptions{SharedSize: true, ContainerCount: true})
		if err != nil {
			return nil, err
		}
		du.Images = append([]*image.Summary{}, imgs...)
		du.LayersSize = d.images.LayersSize()
	}
	if opts.Containers {
		du.Containers = []*container.Summary{}
		for _, c := range d.containers.List() {
			c.Lock()
			s := d.summary(c)
			sz := sizeInputOf(c)
			c.Unlock()
			s.SizeRw, s.SizeRootFs = d.containerSize(sz)
			du.Containers = append(du.Containers, s)
		}
	}
	if opts.Volumes {
		vols, err := d.volumes.LocalVolumesSize(ctx)
		if err != nil {
			return nil, err
		}
		du.Volumes = append([]*volume.Volume{}, vols...)
	}
	// BuildCache stays null: the classic builder's cache is its step
	// images, which are listed (and counted) as images, and dockerd 20.10
	// reports no build-cache records for them either.
	return du, nil
}
