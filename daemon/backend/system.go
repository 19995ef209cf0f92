package backend

import (
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/volume"
)

// DiskUsage is GET /system/df: the per-object lists API versions before
// 1.52 return, and the summaries of each requested type (nil when not
// requested) that API 1.52 added. The summaries' Items are left for the
// router to fill from the lists when the client asks for verbose output.
type DiskUsage struct {
	LayersSize int64
	Images     []*image.Summary
	Containers []*container.Summary
	Volumes    []*volume.Volume
	BuildCache []*build.CacheRecord

	ImageUsage      *image.DiskUsage     `json:"-"`
	ContainerUsage  *container.DiskUsage `json:"-"`
	VolumeUsage     *volume.DiskUsage    `json:"-"`
	BuildCacheUsage *build.DiskUsage     `json:"-"`
}

// DiskUsageOptions selects which object types to compute (the `type`
// query parameter); all when none is set.
type DiskUsageOptions struct {
	Containers, Images, Volumes, BuildCache bool
}
