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
		du.ImageUsage = imageUsage(du.Images, du.LayersSize)
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
		du.ContainerUsage = containerUsage(du.Containers)
	}
	if opts.Volumes {
		vols, err := d.volumes.LocalVolumesSize(ctx)
		if err != nil {
			return nil, err
		}
		du.Volumes = append([]*volume.Volume{}, vols...)
		du.VolumeUsage = volumeUsage(du.Volumes)
	}
	// The build cache is BuildKit's. The classic builder's cache is its
	// step images, listed (and counted) as images, as dockerd does.
	if opts.BuildCache {
		usage, recs, err := d.buildCacheUsage(ctx)
		if err != nil {
			return nil, err
		}
		du.BuildCacheUsage, du.BuildCache = usage, recs
	}
	return du, nil
}

// imageUsage sums images as dockerd does: all layers count in the total;
// an image no container uses can give back what it does not share.
func imageUsage(imgs []*image.Summary, layersSize int64) *image.DiskUsage {
	u := &image.DiskUsage{TotalCount: int64(len(imgs)), TotalSize: layersSize}
	for _, img := range imgs {
		switch {
		case img.Containers > 0:
			u.ActiveCount++
		case img.Containers == 0 && img.Size != -1 && img.SharedSize != -1:
			u.Reclaimable += img.Size - img.SharedSize
		}
	}
	return u
}

// containerUsage sums the containers' writable layers; those not running,
// paused or restarting are reclaimable.
func containerUsage(cs []*container.Summary) *container.DiskUsage {
	u := &container.DiskUsage{TotalCount: int64(len(cs))}
	for _, c := range cs {
		u.TotalSize += c.SizeRw
		switch c.State {
		case container.StateRunning, container.StatePaused, container.StateRestarting:
			u.ActiveCount++
		default:
			u.Reclaimable += c.SizeRw
		}
	}
	return u
}

// volumeUsage sums the volumes whose size is known; those no container
// uses are reclaimable.
func volumeUsage(vols []*volume.Volume) *volume.DiskUsage {
	u := &volume.DiskUsage{TotalCount: int64(len(vols))}
	for _, v := range vols {
		if v.UsageData == nil || v.UsageData.Size == -1 {
			u.ActiveCount++
			continue
		}
		u.TotalSize += v.UsageData.Size
		if v.UsageData.RefCount == 0 {
			u.Reclaimable += v.UsageData.Size
		} else {
			u.ActiveCount++
		}
	}
	return u
}
