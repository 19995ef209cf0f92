package daemon

import (
	"context"

	"github.com/moby/moby/api/types/container"

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
	return nil, errdefs.NotFoundf("No such image: %s", ref)
}

// errNoRuntime is returned by operations that need a running process
// until the runtime is wired to the daemon.
var errNoRuntime = errdefs.NotImplemented(errorString("the container runtime is not available in this build"))

type errorString string

func (e errorString) Error() string { return string(e) }
