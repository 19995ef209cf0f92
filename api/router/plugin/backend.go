package plugin

import (
	"context"

	"github.com/moby/moby/api/types/plugin"

	"github.com/berthd/berth/pkg/filters"
)

// Backend is what the plugin routes need from the daemon.
type Backend interface {
	PluginList(ctx context.Context, args filters.Args) ([]plugin.Plugin, error)
	// PluginGet finds an installed plugin by name, ID or ID prefix.
	PluginGet(ctx context.Context, name string) (*plugin.Plugin, error)
	// PluginUnavailable is the answer to the operations that need a
	// registry or a plugin bundle (pull, upgrade, privileges, create).
	PluginUnavailable(ctx context.Context) error
}
