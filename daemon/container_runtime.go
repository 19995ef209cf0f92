package daemon

import (
	"context"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/image"
	"github.com/berthd/berth/pkg/shim"
)

// containerRuntime is where the engine's container code meets the kernel
// for a container's process: the overlay mount of its root (which
// containerd's task create also takes), the launch of its shim, which
// makes its namespaces and init, and a client for the shim once it runs.
// Everything above it (state rules, restart policy, events, the files
// under the data-root) is the daemon's own. Production uses shimRuntime;
// unit tests give a Daemon a fake that simulates processes, so those
// rules run on a temporary root without root-only side effects.
type containerRuntime interface {
	// mountRoot mounts root over target with upper and work as the
	// writable layer; here mounts from the calling thread (see
	// image.RootFS.MountHere).
	mountRoot(root image.RootFS, target, upper, work string, here bool) error
	// launch starts a container's shim and returns once the container is
	// created (see shim.Launch).
	launch(ctx context.Context, o shim.LaunchOpts) (shim.Launched, error)
	// dial returns a client for the shim whose directory is dir.
	dial(dir string) shimClient
}

// shimClient is what the daemon asks of a container's shim; *shim.Client
// is the real one.
type shimClient interface {
	State(ctx context.Context) (shim.Response, error)
	Start(ctx context.Context) error
	Kill(ctx context.Context, sig syscall.Signal, all bool) error
	Pause(ctx context.Context) error
	Resume(ctx context.Context) error
	Resize(ctx context.Context, execID string, width, height uint16) error
	Wait(ctx context.Context) (*shim.Exit, error)
	Attach(ctx context.Context, stdin bool) (*shim.Stream, error)
	Exec(ctx context.Context, id string, p specs.Process) (*shim.Stream, error)
}

// shimRuntime is the real containerRuntime: overlayfs and berth's shims.
// It has no state, so holding it in an interface costs no allocation.
type shimRuntime struct{}

func (shimRuntime) mountRoot(root image.RootFS, target, upper, work string, here bool) error {
	if here {
		return root.MountHere(target, upper, work)
	}
	return root.Mount(target, upper, work)
}

func (shimRuntime) launch(ctx context.Context, o shim.LaunchOpts) (shim.Launched, error) {
	return shim.Launch(ctx, o)
}

func (shimRuntime) dial(dir string) shimClient { return shim.Dial(dir) }

// containerRuntime is d's: the shims unless a test gave it another.
func (d *Daemon) containerRuntime() containerRuntime {
	if d.ctrRuntime != nil {
		return d.ctrRuntime
	}
	return shimRuntime{}
}
