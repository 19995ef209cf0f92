package container

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"

	"github.com/berthd/berth/api/server/httputils"
	"github.com/berthd/berth/pkg/errdefs"
)

// createForVersion applies the version history's gates to a create
// request, as dockerd does: fields newer than the request's version are
// ignored, defaults older clients expect are filled, and combinations a
// version could not express are refused.
func createForVersion(ctx context.Context, body *container.CreateRequest) error {
	if body.HostConfig == nil {
		body.HostConfig = &container.HostConfig{}
	}
	hc := body.HostConfig
	before := func(v string) bool { return httputils.VersionLessThan(ctx, v) }
	if before("1.40") {
		for _, m := range hc.Mounts {
			if m.BindOptions != nil {
				m.BindOptions.NonRecursive = false
			}
		}
		// Older clients expect the default IPC mode to be shareable.
		if hc.IpcMode == "" {
			hc.IpcMode = container.IPCModeShareable
		}
	}
	if before("1.42") {
		for i := range hc.Mounts {
			m := &hc.Mounts[i]
			if m.BindOptions != nil {
				m.BindOptions.CreateMountpoint = false
			}
			// Invalid, but not refused before 1.42.
			if m.VolumeOptions != nil && m.Type != mount.TypeVolume {
				m.VolumeOptions = nil
			}
			if m.TmpfsOptions != nil && m.Type != mount.TypeTmpfs {
				m.TmpfsOptions = nil
			}
		}
		hc.ConsoleSize = [2]uint{0, 0}
	} else {
		for _, m := range hc.Mounts {
			if m.VolumeOptions != nil && m.Type != mount.TypeVolume {
				return errdefs.InvalidParameter(fmt.Errorf("VolumeOptions must not be specified on mount type %q", m.Type))
			}
			if m.BindOptions != nil && m.Type != mount.TypeBind {
				return errdefs.InvalidParameter(fmt.Errorf("BindOptions must not be specified on mount type %q", m.Type))
			}
			if m.TmpfsOptions != nil && m.Type != mount.TypeTmpfs {
				return errdefs.InvalidParameter(fmt.Errorf("TmpfsOptions must not be specified on mount type %q", m.Type))
			}
		}
	}
	if before("1.43") {
		hc.Annotations = nil
	}
	if before("1.44") {
		if body.Config != nil && body.Config.Healthcheck != nil {
			body.Config.Healthcheck.StartInterval = 0
		}
		for _, m := range hc.Mounts {
			if m.Type == mount.TypeBind && m.BindOptions != nil && m.BindOptions.ReadOnlyForceRecursive {
				return errdefs.InvalidParameter(errors.New("BindOptions.ReadOnlyForceRecursive needs API v1.44 or newer"))
			}
		}
		if nc := body.NetworkingConfig; nc != nil && len(nc.EndpointsConfig) > 1 {
			l := make([]string, 0, len(nc.EndpointsConfig))
			for k := range nc.EndpointsConfig {
				l = append(l, k)
			}
			sort.Strings(l)
			return errdefs.InvalidParameter(fmt.Errorf("Container cannot be created with multiple network endpoints: %s", strings.Join(l, ", ")))
		}
	}
	if before("1.45") {
		for _, m := range hc.Mounts {
			if m.VolumeOptions != nil && m.VolumeOptions.Subpath != "" {
				return errdefs.InvalidParameter(errors.New("VolumeOptions.Subpath needs API v1.45 or newer"))
			}
		}
	}
	if before("1.48") {
		if nc := body.NetworkingConfig; nc != nil {
			for _, es := range nc.EndpointsConfig {
				if es != nil {
					es.GwPriority = 0
				}
			}
		}
		for _, m := range hc.Mounts {
			if m.Type == mount.TypeImage {
				return errdefs.InvalidParameter(errors.New(`Mount type "Image" needs API v1.48 or newer`))
			}
		}
	}
	return nil
}
