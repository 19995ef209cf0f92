package daemon

import (
	"context"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/berthd/berth/image"
)

// containerImage is what creating a container needs from an image: its ID
// and its runtime configuration in the shape of a container config.
type containerImage struct {
	ID     string
	Config *container.Config
}

// resolveContainerImage finds the image a new container names. It is the
// one seam between the container code and the image service.
func (d *Daemon) resolveContainerImage(ctx context.Context, ref string) (*containerImage, error) {
	img, err := d.images.Get(ref)
	if err != nil {
		return nil, err
	}
	return &containerImage{ID: img.ID.String(), Config: imageRuntimeConfig(img)}, nil
}

// imageRuntimeConfig converts an image's OCI/docker config into the
// container config fields the merge takes from it.
func imageRuntimeConfig(img *image.Image) *container.Config {
	ic := img.Config.Config
	cfg := &container.Config{
		User:        ic.User,
		Env:         ic.Env,
		Cmd:         ic.Cmd,
		Entrypoint:  ic.Entrypoint,
		WorkingDir:  ic.WorkingDir,
		Labels:      ic.Labels,
		StopSignal:  ic.StopSignal,
		ArgsEscaped: ic.ArgsEscaped,
		OnBuild:     ic.OnBuild,
		Shell:       ic.Shell,
		Healthcheck: ic.Healthcheck,
	}
	if len(ic.Volumes) > 0 {
		cfg.Volumes = map[string]struct{}{}
		for v := range ic.Volumes {
			cfg.Volumes[v] = struct{}{}
		}
	}
	if len(ic.ExposedPorts) > 0 {
		cfg.ExposedPorts = network.PortSet{}
		for p := range ic.ExposedPorts {
			if port, err := network.ParsePort(p); err == nil {
				cfg.ExposedPorts[port] = struct{}{}
			}
		}
	}
	return cfg
}
