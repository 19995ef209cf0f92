package volume

import (
	"context"

	"github.com/moby/moby/api/types/volume"

	"github.com/berthd/berth/pkg/filters"
)

// Backend is what the volume routes need from the daemon.
type Backend interface {
	VolumeList(ctx context.Context, args filters.Args) ([]volume.Volume, []string, error)
	VolumeInspect(ctx context.Context, name string) (*volume.Volume, error)
	VolumeCreate(ctx context.Context, req volume.CreateRequest) (*volume.Volume, error)
	VolumeRemove(ctx context.Context, name string, force bool) error
	VolumesPrune(ctx context.Context, args filters.Args) (*volume.PruneReport, error)
}
