package cri

import (
	"context"
	"io"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/pkg/cgroups"
)

// ContainerBackend is what the container calls (and exec, attach, logs,
// stats) need from the engine. A pod container is an ordinary engine
// container (the Docker API's calls, so `docker ps` and `docker logs` see
// it), plus the few things only a pod needs.
type ContainerBackend interface {
	ContainerCreate(ctx context.Context, p backend.ContainerCreateConfig) (container.CreateResponse, error)
	ContainerStart(ctx context.Context, ref string) error
	ContainerStop(ctx context.Context, ref string, sigName string, timeout *int) error
	ContainerRm(ctx context.Context, ref string, cfg backend.ContainerRmConfig) error
	ContainerInspect(ctx context.Context, ref string, size bool) (*container.InspectResponse, error)
	Containers(ctx context.Context, opts backend.ContainerListOptions) ([]*container.Summary, error)
	ContainerUpdate(ctx context.Context, ref string, u container.UpdateConfig) (container.UpdateResponse, error)
	// PodContainerUpdate is ContainerUpdate with the hugepage limits and
	// unified keys that UpdateContainerResources may carry.
	PodContainerUpdate(ctx context.Context, ref string, u container.UpdateConfig, extra *cgroups.ExtraResources) (container.UpdateResponse, error)
	// PodExecCreate is ContainerExecCreate without detach keys: the
	// client's stdin reaches the process byte for byte.
	PodExecCreate(ctx context.Context, ref string, cfg container.ExecCreateRequest) (string, error)
	ContainerExecStart(ctx context.Context, id string, req container.ExecStartRequest, begin func(multiplexed bool) (io.ReadWriteCloser, error)) error
	ContainerExecInspect(id string) (*container.ExecInspectResponse, error)
	ContainerExecResize(ctx context.Context, id string, height, width int) error
	// PodContainerAttach is ContainerAttach without detach keys.
	PodContainerAttach(ctx context.Context, ref string, o backend.ContainerAttachOptions, begin func(multiplexed bool) (io.ReadWriteCloser, error)) error
	ContainerResize(ctx context.Context, ref string, height, width int) error
	// ContainerExecKill kills a running exec's process (ExecSync's
	// timeout).
	ContainerExecKill(ctx context.Context, execID string) error
	// ContainerReopenLog reopens a running pod container's CRI log file,
	// after kubelet rotated it.
	ContainerReopenLog(ctx context.Context, ref string) error
}
