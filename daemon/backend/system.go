package backend

import (
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/volume"
)

// DiskUsage is GET /system/df as API 1.50 returns it (the per-object lists;
// API 1.52 moved to summary objects, which berth does not serve yet).
type DiskUsage struct {
	LayersSize int64
	Images     []*image.Summary
	Containers []*container.Summary
	Volumes    []*volume.Volume
	BuildCache []*build.CacheRecord
}

// DiskUsageOptions selects which object types to compute (the `type`
// query parameter); all when none is set.
type DiskUsageOptions struct {
	Containers, Images, Volumes, BuildCache bool
}
