package daemon

import (
	"context"
	"fmt"
	"io"

	"github.com/moby/moby/api/types/events"

	"github.com/berthd/berth/pkg/archive"
	"github.com/berthd/berth/pkg/errdefs"
)

// ContainerExport answers GET /containers/{id}/export: the container's
// root filesystem (image layers and its changes, without its volumes) as
// one tar. It is read in a view chrooted into the root, so the
// container's symlinks cannot point the walk outside it.
func (d *Daemon) ContainerExport(ctx context.Context, ref string, out io.Writer) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	c.Lock()
	switch {
	case c.State.Dead:
		c.Unlock()
		return errdefs.Conflictf("You cannot export container %s which is Dead", c.ID)
	case c.State.RemovalInProgress:
		c.Unlock()
		return errdefs.Conflictf("You cannot export container %s which is being removed", c.ID)
	}
	// The walk lasts as long as the container's files and the client's
	// reading make it: it runs without the lock every docker ps waits
	// for. A running root is the view's own copy of the mount, which the
	// container's exit cannot take away; a stopped root is mounted by the
	// view itself, and holdFS keeps a start (and the next such view) off
	// until it is closed. A removal waits for the walk before it deletes
	// the files.
	done, err := d.holdFS(c, false)
	if err != nil {
		c.Unlock()
		return err
	}
	v, err := d.openContainerFS(ctx, c, false)
	c.Unlock()
	if err != nil {
		done()
		return err
	}
	defer done()
	defer v.close()
	err = v.Run(ctx, func() error {
		return archive.Tar(out, "/", archive.TarOptions{})
	})
	if err != nil {
		if ctx.Err() != nil {
			return errdefs.System(ctx.Err())
		}
		return errdefs.System(fmt.Errorf("Error exporting container %s: %v", ref, err))
	}
	d.logContainerEvent(c, events.ActionExport, nil)
	return nil
}
