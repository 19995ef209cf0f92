package network

import (
	"context"

	"github.com/moby/moby/api/types/network"

	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/pkg/filters"
)

// Backend is what the network routes need from the daemon.
type Backend interface {
	NetworkList(ctx context.Context, f filters.Args) ([]network.Inspect, error)
	NetworkInspect(ctx context.Context, term string, opts backend.NetworkInspectOptions) (network.Inspect, error)
	NetworkCreate(ctx context.Context, req network.CreateRequest) (network.CreateResponse, error)
	NetworkRemove(ctx context.Context, term string) error
	NetworkConnect(ctx context.Context, term string, req network.ConnectRequest) error
	NetworkDisconnect(ctx context.Context, term string, req network.DisconnectRequest) error
	NetworksPrune(ctx context.Context, f filters.Args) (network.PruneReport, error)
}
