package plugin

import (
	"context"
	"io"

	"github.com/moby/moby/api/types/plugin"

	"github.com/berthd/berth/pkg/filters"
)

// Backend is what the plugin routes need from the daemon. name is a
// plugin's name, ID or ID prefix; remote a registry reference; auth the
// client's X-Registry-Auth header; status receives progress lines.
type Backend interface {
	PluginList(ctx context.Context, args filters.Args) ([]plugin.Plugin, error)
	PluginGet(ctx context.Context, name string) (*plugin.Plugin, error)
	PluginPrivileges(ctx context.Context, remote, auth string) (plugin.Privileges, error)
	PluginPull(ctx context.Context, remote, name string, privileges plugin.Privileges, auth string, status func(string)) error
	PluginUpgrade(ctx context.Context, name, remote string, privileges plugin.Privileges, auth string, status func(string)) error
	PluginPush(ctx context.Context, name, auth string, status func(string)) error
	PluginCreate(ctx context.Context, name string, buildContext io.Reader) error
	PluginEnable(ctx context.Context, name string, timeout int) error
	PluginDisable(ctx context.Context, name string, force bool) error
	PluginRemove(ctx context.Context, name string, force bool) error
	PluginSet(ctx context.Context, name string, args []string) error
}
