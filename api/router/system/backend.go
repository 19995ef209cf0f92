package system

import (
	"context"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/system"

	"github.com/berthd/berth/daemon/backend"
)

// Backend is what the system routes need from the daemon.
type Backend interface {
	SystemInfo(ctx context.Context) (*system.Info, error)
	SystemVersion() system.VersionResponse
	// BuilderVersion is /_ping's Builder-Version: "2" with BuildKit on.
	BuilderVersion() string
	SystemDiskUsage(ctx context.Context, opts backend.DiskUsageOptions) (*backend.DiskUsage, error)
	SubscribeToEvents(f backend.EventFilter) ([]events.Message, <-chan events.Message, func())
	AuthenticateToRegistry(ctx context.Context, auth *registry.AuthConfig) (status, identityToken string, err error)
}
