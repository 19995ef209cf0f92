package container

import (
	"context"
	"io"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/daemon/backend"
)

// Backend is what the container routes need from the daemon.
type Backend interface {
	ContainerCreate(ctx context.Context, p backend.ContainerCreateConfig) (container.CreateResponse, error)
	ContainerInspect(ctx context.Context, ref string, size bool) (*container.InspectResponse, error)
	Containers(ctx context.Context, opts backend.ContainerListOptions) ([]*container.Summary, error)
	ContainerRm(ctx context.Context, ref string, cfg backend.ContainerRmConfig) error
	ContainerRename(ref, newName string) error
	ContainerWait(ctx context.Context, ref string, cond container.WaitCondition, ready func()) (container.WaitResponse, error)
	ContainersPrune(ctx context.Context, filters string) (*container.PruneReport, error)
	logsBackend
	lifecycleBackend
	execBackend
	inspectBackend
	updateBackend
	FSBackend
	CommitBackend
}

// logsBackend serves GET /containers/{id}/logs.
type logsBackend interface {
	ContainerLogs(ctx context.Context, ref string, o backend.ContainerLogsOptions, begin func(tty bool) io.Writer) error
}

// lifecycleBackend starts, stops and signals containers.
type lifecycleBackend interface {
	ContainerStart(ctx context.Context, ref string) error
	ContainerStop(ctx context.Context, ref, signal string, timeout *int) error
	ContainerRestart(ctx context.Context, ref, signal string, timeout *int) error
	ContainerKill(ctx context.Context, ref, signal string) error
	ContainerPause(ctx context.Context, ref string) error
	ContainerUnpause(ctx context.Context, ref string) error
	ContainerResize(ctx context.Context, ref string, height, width int) error
	ContainerAttach(ctx context.Context, ref string, o backend.ContainerAttachOptions, begin func(multiplexed bool) (io.ReadWriteCloser, error)) error
}

// execBackend runs processes in running containers.
type execBackend interface {
	ContainerExecCreate(ctx context.Context, ref string, cfg container.ExecCreateRequest) (string, error)
	ContainerExecStart(ctx context.Context, id string, req container.ExecStartRequest, begin func(multiplexed bool) (io.ReadWriteCloser, error)) error
	ContainerExecInspect(id string) (*container.ExecInspectResponse, error)
	ContainerExecResize(ctx context.Context, id string, height, width int) error
}

// inspectBackend answers questions about a container's processes and files.
type inspectBackend interface {
	ContainerTop(ctx context.Context, ref, psArgs string) (*container.TopResponse, error)
	ContainerStats(ctx context.Context, ref string, stream, oneShot bool, w io.Writer) error
	ContainerChanges(ctx context.Context, ref string) ([]container.FilesystemChange, error)
}

type updateBackend interface {
	ContainerUpdate(ctx context.Context, ref string, u container.UpdateConfig) (container.UpdateResponse, error)
}
