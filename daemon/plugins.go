package daemon

import (
	"context"
	"errors"

	"github.com/moby/moby/api/types/plugin"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/filters"
)

// berth has no managed (v2) plugin store yet: the plugin routes answer as
// dockerd does when nothing is installed, so that clients which list or
// inspect plugins on their way to something else keep working.

var acceptedPluginFilters = map[string]bool{"enabled": true, "capability": true}

// PluginList answers GET /plugins: dockerd validates the filters before it
// reads the (here empty) store.
func (d *Daemon) PluginList(ctx context.Context, args filters.Args) ([]plugin.Plugin, error) {
	if err := args.Validate(acceptedPluginFilters); err != nil {
		return nil, err
	}
	if _, err := args.GetBoolOrDefault("enabled", false); err != nil {
		return nil, err
	}
	return []plugin.Plugin{}, nil
}

// PluginGet finds an installed plugin; none is ever installed.
func (d *Daemon) PluginGet(ctx context.Context, name string) (*plugin.Plugin, error) {
	return nil, errdefs.NotFoundf("plugin %q not found", name)
}

// PluginUnavailable answers pull, upgrade, privileges and create.
func (d *Daemon) PluginUnavailable(ctx context.Context) error {
	return errdefs.NotImplemented(errors.New("managed plugins are not supported by berth"))
}
