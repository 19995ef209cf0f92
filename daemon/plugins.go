package daemon

import (
	"context"
	"io"
	"path/filepath"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/plugin"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/image/distribution"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/filters"
	berthplugin "github.com/berthd/berth/plugin"
)

var acceptedPluginFilters = map[string]bool{"enabled": true, "capability": true}

// newPluginManager opens DATA_ROOT/plugins. Its plugins start with the
// restore, before the containers that may use them.
func (d *Daemon) newPluginManager() (*berthplugin.Manager, error) {
	cfg := d.cfg
	return berthplugin.New(berthplugin.Options{
		Root:        filepath.Join(cfg.DataRoot, "plugins"),
		ExecRoot:    cfg.ExecRoot,
		LiveRestore: cfg.LiveRestore,
		Remote:      pluginRemote{d},
		Event: func(action, id, name string) {
			d.events.Log(events.PluginEventType, events.Action(action), events.Actor{ID: id, Attributes: map[string]string{"name": name}})
		},
		InUse: d.pluginInUse,
	})
}

// pluginInUse: a volume driver plugin is in use while a volume of it
// exists, under whichever of its names the volume was made with.
func (d *Daemon) pluginInUse(name string) bool {
	if d.volumes == nil {
		return false
	}
	vols, _, err := d.volumes.List(d.life.Context(), filters.NewArgs())
	if err != nil {
		return false
	}
	for _, v := range vols {
		if v.Driver == name {
			return true
		}
		if full, ok := d.plugins.Name(v.Driver); ok && full == name {
			return true
		}
	}
	return false
}

// PluginList answers GET /plugins.
func (d *Daemon) PluginList(ctx context.Context, args filters.Args) ([]plugin.Plugin, error) {
	if err := args.Validate(acceptedPluginFilters); err != nil {
		return nil, err
	}
	var enabled *bool
	if args.Contains("enabled") {
		on, err := args.GetBoolOrDefault("enabled", false)
		if err != nil {
			return nil, err
		}
		enabled = &on
	}
	caps := args.Get("capability")
	if len(caps) == 0 {
		return d.plugins.List(enabled, ""), nil
	}
	// Several capabilities: a plugin offering any of them.
	seen := map[string]bool{}
	out := []plugin.Plugin{}
	for _, c := range caps {
		for _, p := range d.plugins.List(enabled, c) {
			if !seen[p.ID] {
				seen[p.ID] = true
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// PluginGet answers GET /plugins/{name}/json.
func (d *Daemon) PluginGet(ctx context.Context, name string) (*plugin.Plugin, error) {
	return d.plugins.Get(name)
}

// PluginPrivileges answers GET /plugins/privileges.
func (d *Daemon) PluginPrivileges(ctx context.Context, remote, auth string) (plugin.Privileges, error) {
	return d.plugins.Privileges(ctx, remote, auth)
}

// PluginPull answers POST /plugins/pull (docker plugin install).
func (d *Daemon) PluginPull(ctx context.Context, remote, name string, privileges plugin.Privileges, auth string, status func(string)) error {
	return d.plugins.Pull(ctx, remote, name, privileges, auth, status)
}

// PluginUpgrade answers POST /plugins/{name}/upgrade.
func (d *Daemon) PluginUpgrade(ctx context.Context, name, remote string, privileges plugin.Privileges, auth string, status func(string)) error {
	return d.plugins.Upgrade(ctx, name, remote, privileges, auth, status)
}

// PluginPush answers POST /plugins/{name}/push.
func (d *Daemon) PluginPush(ctx context.Context, name, auth string, status func(string)) error {
	return d.plugins.Push(ctx, name, auth, status)
}

// PluginCreate answers POST /plugins/create.
func (d *Daemon) PluginCreate(ctx context.Context, name string, buildContext io.Reader) error {
	return d.plugins.Create(ctx, name, buildContext)
}

// PluginEnable answers POST /plugins/{name}/enable.
func (d *Daemon) PluginEnable(ctx context.Context, name string, timeout int) error {
	return d.plugins.Enable(ctx, name, timeout)
}

// PluginDisable answers POST /plugins/{name}/disable.
func (d *Daemon) PluginDisable(ctx context.Context, name string, force bool) error {
	p, err := d.plugins.Get(name)
	if err != nil {
		return err
	}
	if err := d.plugins.Disable(name, force); err != nil {
		return err
	}
	d.authzDisabled(p.Name)
	return nil
}

// PluginRemove answers DELETE /plugins/{name}.
func (d *Daemon) PluginRemove(ctx context.Context, name string, force bool) error {
	return d.plugins.Remove(name, force)
}

// PluginSet answers POST /plugins/{name}/set.
func (d *Daemon) PluginSet(ctx context.Context, name string, args []string) error {
	return d.plugins.Set(name, args)
}

// pluginRemote is the plugin manager's registry client: the image
// distribution service's, with plugin manifests kept out of the image
// store.
type pluginRemote struct{ d *Daemon }

func (r pluginRemote) Fetch(ctx context.Context, ref reference.Named, authHeader string) (*berthplugin.Artifact, error) {
	auth, err := distribution.DecodeAuthHeader(authHeader)
	if err != nil {
		return nil, err
	}
	a, err := r.d.distribution().FetchArtifact(ctx, ref, auth)
	if err != nil {
		return nil, err
	}
	out := &berthplugin.Artifact{Digest: a.Digest.String(), Config: blobOf(a.Config), ConfigBytes: a.ConfigBytes}
	for _, l := range a.Layers {
		out.Layers = append(out.Layers, blobOf(l))
	}
	out.Open = func(ctx context.Context, b berthplugin.Blob) (io.ReadCloser, error) {
		return a.Open(ctx, descOf(b))
	}
	return out, nil
}

func (r pluginRemote) Push(ctx context.Context, ref reference.Named, authHeader string, a *berthplugin.Artifact, status func(string)) (string, error) {
	auth, err := distribution.DecodeAuthHeader(authHeader)
	if err != nil {
		return "", err
	}
	tagged, ok := ref.(reference.NamedTagged)
	if !ok {
		return "", errdefs.InvalidParameterf("plugin push needs a tag: %s", reference.FamiliarString(ref))
	}
	art := &distribution.Artifact{Config: descOf(a.Config), ConfigBytes: a.ConfigBytes}
	for _, l := range a.Layers {
		art.Layers = append(art.Layers, descOf(l))
	}
	art.Open = func(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
		return a.Open(ctx, blobOf(d))
	}
	d, err := r.d.distribution().PushArtifact(ctx, tagged, auth, art, status)
	return d.String(), err
}

func blobOf(d ocispec.Descriptor) berthplugin.Blob {
	return berthplugin.Blob{MediaType: d.MediaType, Digest: d.Digest.String(), Size: d.Size}
}

func descOf(b berthplugin.Blob) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: b.MediaType, Digest: digest.Digest(b.Digest), Size: b.Size}
}

// networkDriverNames lists, for /info, the built-in network drivers and
// the enabled managed network driver plugins.
func (d *Daemon) networkDriverNames() []string {
	names := []string{"bridge", "host", "ipvlan", "macvlan", "null"}
	on := true
	for _, p := range d.plugins.List(&on, "networkdriver") {
		names = append(names, p.Name)
	}
	return names
}

// volumeDriverNames lists, for /info, the local driver and the enabled
// managed volume plugins, as dockerd's driver list does.
func (d *Daemon) volumeDriverNames() []string {
	names := []string{"local"}
	on := true
	for _, p := range d.plugins.List(&on, "volumedriver") {
		names = append(names, p.Name)
	}
	return names
}
