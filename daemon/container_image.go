package daemon

import (
	"context"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/berthd/berth/image"
	"github.com/berthd/berth/pkg/errdefs"
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
	return d.resolveContainerImageFor(ctx, ref, "")
}

// resolveContainerImageFor is resolveContainerImage for a create that
// names a platform: an image of another platform is, as in dockerd, not
// found.
func (d *Daemon) resolveContainerImageFor(ctx context.Context, ref, platform string) (*containerImage, error) {
	img, err := d.images.Get(ref)
	if err != nil {
		return nil, err
	}
	if platform != "" {
		if err := matchPlatform(ref, img, platform); err != nil {
			return nil, err
		}
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

// matchPlatform checks the image's OS and architecture (and variant, when
// both name one) against an os[/arch[/variant]] specifier.
func matchPlatform(ref string, img *image.Image, want string) error {
	parts := strings.Split(strings.ToLower(want), "/")
	os, arch, variant := parts[0], "", ""
	if len(parts) > 1 {
		arch = parts[1]
	}
	if len(parts) > 2 {
		variant = parts[2]
	}
	if i := strings.IndexByte(os, '('); i >= 0 {
		os = os[:i]
	}
	norm := func(a string) string {
		switch a {
		case "x86_64", "x86-64":
			return "amd64"
		case "aarch64":
			return "arm64"
		case "i386":
			return "386"
		case "armhf", "armel":
			return "arm"
		}
		return a
	}
	c := img.Config
	gotOS, gotArch := strings.ToLower(c.OS), norm(strings.ToLower(c.Architecture))
	if gotOS == "" {
		gotOS = "linux"
	}
	ok := os == gotOS && (arch == "" || norm(arch) == gotArch) &&
		(variant == "" || c.Variant == "" || strings.EqualFold(variant, c.Variant))
	if ok {
		return nil
	}
	actual := gotOS + "/" + gotArch
	if c.Variant != "" {
		actual += "/" + c.Variant
	}
	return errdefs.NotFoundf("image with reference %s was found but does not match the specified platform: wanted %s, actual: %s", ref, want, actual)
}
