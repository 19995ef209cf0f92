package daemon

import (
	"context"
	"errors"
	"io"

	"github.com/moby/moby/api/types/container"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/daemon/logger/crilog"
	"github.com/berthd/berth/pkg/errdefs"
)

// What Kubernetes pod containers need beyond the Docker API's calls: the
// CRI's ExecSync kills a command that outlives its timeout, and kubelet
// has the CRI log file reopened after it rotates it.

// PodExecCreate creates an exec whose stdin is passed on as it is, with
// no detach keys: kubelet's streams carry any bytes (kubectl cp's tar
// archive), where ctrl-p ctrl-q must not end the exec's input.
func (d *Daemon) PodExecCreate(ctx context.Context, ref string, cfg container.ExecCreateRequest) (string, error) {
	id, err := d.ContainerExecCreate(ctx, ref, cfg)
	if err != nil {
		return "", err
	}
	e, err := d.getExec(id)
	if err != nil {
		return "", err
	}
	e.mu.Lock()
	e.DetachKeys = nil
	e.mu.Unlock()
	return id, nil
}

// PodContainerAttach is ContainerAttach without detach keys, for the
// same reason as PodExecCreate.
func (d *Daemon) PodContainerAttach(ctx context.Context, ref string, o backend.ContainerAttachOptions, begin func(multiplexed bool) (io.ReadWriteCloser, error)) error {
	return d.attach(ctx, ref, o, nil, begin)
}

// ContainerExecKill kills a running exec's process; a finished one is
// left alone.
func (d *Daemon) ContainerExecKill(ctx context.Context, execID string) error {
	e, err := d.getExec(execID)
	if err != nil {
		return err
	}
	e.mu.Lock()
	running, pid := e.Running, e.Pid
	e.mu.Unlock()
	if !running || pid <= 0 {
		return nil
	}
	if err := unix.Kill(pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		return errdefs.System(err)
	}
	return nil
}

// ContainerReopenLog reopens a running container's CRI log file.
func (d *Daemon) ContainerReopenLog(ctx context.Context, ref string) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	c.Lock()
	running, driver := c.State.Running, c.HostConfig.LogConfig.Type
	c.Unlock()
	switch {
	case !running:
		return errdefs.Conflictf("container %s is not running", c.ID)
	case driver != crilog.Name:
		return errdefs.InvalidParameterf("container %s has no CRI log file", c.ID)
	}
	if err := crilog.Reopen(c.ID); err != nil {
		return errdefs.System(err)
	}
	return nil
}
