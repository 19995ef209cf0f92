package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/volume"
	"github.com/sirupsen/logrus"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/filters"
	berthplugin "github.com/berthd/berth/plugin"
	volumepkg "github.com/berthd/berth/volume"
	"github.com/berthd/berth/volume/plugin"
	volumesvc "github.com/berthd/berth/volume/service"
)

// Environment variables that move volume plugin discovery away from
// dockerd's directories (colon-separated lists), so tests and a berthd
// beside a dockerd can use private plugin directories.
const (
	envPluginSocketDirs = "BERTHD_PLUGIN_SOCKET_DIRS"
	envPluginSpecDirs   = "BERTHD_PLUGIN_SPEC_DIRS"
)

func dirList(env string) []string {
	v, ok := os.LookupEnv(env)
	if !ok {
		return nil
	}
	var out []string
	for _, d := range strings.Split(v, ":") {
		if d != "" {
			out = append(out, d)
		}
	}
	if out == nil {
		out = []string{}
	}
	return out
}

// newPluginRegistry finds the plugins the engine calls (volume drivers,
// authorization): managed plugins (`docker plugin install`) first, as
// dockerd looks them up before the legacy ones found by socket or spec
// file.
func newPluginRegistry(managed *berthplugin.Manager) *plugin.Registry {
	reg := plugin.NewRegistry(dirList(envPluginSocketDirs), dirList(envPluginSpecDirs))
	if managed != nil {
		reg.Managed = func(name, kind string) (*plugin.Managed, bool, error) {
			full, addr, scope, found, err := managed.Lookup(name, kind)
			if !found || err != nil {
				return nil, found, err
			}
			return &plugin.Managed{Name: full, Addr: addr, Scope: scope}, true, nil
		}
		reg.ManagedNames = func(capability string) []string {
			var names []string
			on := true
			for _, p := range managed.List(&on, capability) {
				names = append(names, p.Name)
			}
			return names
		}
	}
	return reg
}

// newVolumeService opens DATA_ROOT/volumes and wires volume events to the
// daemon's bus. It only reads the volumes directory: plugins are found
// and activated when a volume asks for one.
func newVolumeService(dataRoot string, bus interface {
	Log(events.Type, events.Action, events.Actor)
}, reg *plugin.Registry) (*volumesvc.Service, error) {
	return volumesvc.New(volumesvc.Options{
		Root:    filepath.Join(dataRoot, "volumes"),
		Plugins: reg,
		OnEvent: func(action, name string, attrs map[string]string) {
			bus.Log(events.VolumeEventType, events.Action(action), events.Actor{ID: name, Attributes: attrs})
		},
	})
}

// Volumes is the volume service, for the container code: it creates and
// references a container's volumes, mounts and unmounts them, and
// releases them when the container goes.
func (d *Daemon) Volumes() *volumesvc.Service { return d.volumes }

// VolumeList answers GET /volumes.
func (d *Daemon) VolumeList(ctx context.Context, args filters.Args) ([]volume.Volume, []string, error) {
	return d.volumes.List(ctx, args)
}

// VolumeInspect answers GET /volumes/{name}.
func (d *Daemon) VolumeInspect(ctx context.Context, name string) (*volume.Volume, error) {
	return d.volumes.Get(ctx, name)
}

// VolumeCreate answers POST /volumes/create.
func (d *Daemon) VolumeCreate(ctx context.Context, req volume.CreateRequest) (*volume.Volume, error) {
	return d.volumes.Create(ctx, req.Name, req.Driver,
		volumesvc.WithLabels(req.Labels), volumesvc.WithDriverOpts(req.DriverOpts))
}

// VolumeRemove answers DELETE /volumes/{name}.
func (d *Daemon) VolumeRemove(ctx context.Context, name string, force bool) error {
	return d.volumes.Remove(ctx, name, force)
}

// VolumesPrune answers POST /volumes/prune and logs dockerd's `prune`
// event with the space reclaimed.
func (d *Daemon) VolumesPrune(ctx context.Context, args filters.Args) (*volume.PruneReport, error) {
	rep, err := d.volumes.Prune(ctx, args)
	if err != nil {
		return nil, err
	}
	d.events.Log(events.VolumeEventType, events.ActionPrune, events.Actor{
		Attributes: map[string]string{"reclaimed": strconv.FormatUint(rep.SpaceReclaimed, 10)},
	})
	return rep, nil
}

// initVolumes opens the volume service and registers its part of
// container removal.
func (d *Daemon) initVolumes() error {
	d.pluginRegistry = newPluginRegistry(d.plugins)
	svc, err := newVolumeService(d.cfg.DataRoot, d.events, d.pluginRegistry)
	if err != nil {
		return err
	}
	d.volumes = svc
	// Backing mounts (tmpfs, bind) a killed daemon left are undone by
	// restoreContainers, once running containers have taken theirs back.
	d.containerReleasers = append(d.containerReleasers, d.releaseContainerVolumes)
	return nil
}

// releaseContainerVolumes drops a removed container's references and
// mounts and, for `rm -v`, removes its anonymous volumes. A volume another
// container still uses stays, as with dockerd.
func (d *Daemon) releaseContainerVolumes(c *ctr.Container, removeVolumes bool) {
	ctx := d.life.teardown()
	if err := d.volumes.ReleaseAll(ctx, c.ID); err != nil {
		logrus.WithError(err).WithField("container", c.ID).Warn("releasing volumes")
	}
	if !removeVolumes {
		return
	}
	for _, mp := range c.MountPoints {
		if mp == nil || mp.Type != mount.TypeVolume || mp.Name == "" {
			continue
		}
		v, err := d.volumes.Get(ctx, mp.Name)
		if err != nil {
			continue
		}
		if _, anonymous := v.Labels[volumepkg.AnonymousLabel]; !anonymous {
			continue
		}
		if err := d.volumes.Remove(ctx, mp.Name, false); err != nil && !errdefs.Is(err, errdefs.Conflict) {
			logrus.WithError(err).WithField("volume", mp.Name).Warn("removing anonymous volume")
		}
	}
}
