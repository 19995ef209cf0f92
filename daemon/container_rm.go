package daemon

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/sirupsen/logrus"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/faultpoint"
	"github.com/berthd/berth/pkg/filters"
	"github.com/berthd/berth/pkg/stringid"
	"github.com/berthd/berth/pkg/timestamp"
)

// ContainerRm answers DELETE /containers/{id}.
func (d *Daemon) ContainerRm(ctx context.Context, ref string, cfg backend.ContainerRmConfig) (err error) {
	defer timed(d.metrics.ContainerAction, "delete", &err)()
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	if cfg.RemoveLink {
		return d.removeLink(ref)
	}
	return d.removeContainer(ctx, c, cfg.ForceRemove, cfg.RemoveVolume)
}

// removeContainer stops c if forced, releases what it holds and deletes it.
func (d *Daemon) removeContainer(ctx context.Context, c *ctr.Container, force, removeVolumes bool) error {
	c.Lock()
	if c.State.Running && !force {
		c.Unlock()
		if c.State.Paused {
			return errdefs.Conflictf("cannot remove container %q: container is paused: unpause the container before stopping or force remove", c.Name)
		}
		return errdefs.Conflictf("cannot remove container %q: container is running: stop the container before removing or force remove", c.Name)
	}
	if err := c.State.SetRemovalInProgress(); err != nil {
		c.Unlock()
		return errdefs.Conflictf("removal of container %s is already in progress", trimSlash(c.Name))
	}
	running := c.State.Running
	c.Unlock()

	if running {
		if err := d.killAndWait(ctx, c, 10*time.Second); err != nil {
			c.Lock()
			c.State.ResetRemovalInProgress()
			c.Unlock()
			return errdefs.System(fmt.Errorf("could not kill running container %s, cannot remove: %w", c.ID, err))
		}
	}

	// The readers already at work (cp, export, commit, without the lock)
	// finish first, before the layers and volumes they may have mounted
	// in a view are released; RemovalInProgress keeps new ones off.
	c.Lock()
	fs := &d.liveState(c).fsReaders
	c.Unlock()
	fs.Wait()
	c.Lock()
	// From here on the container is taken apart: a daemon killed half way
	// must not find it again without its writable layer (a start would
	// fail to mount it, and its image could be pruned under it).
	if err := c.Forget(); err != nil {
		c.State.ResetRemovalInProgress()
		c.Unlock()
		return errdefs.System(fmt.Errorf("unable to remove container %s: %w", c.ID, err))
	}
	d.dropPendingAttaches(c)
	d.forgetExecs(c)
	d.releaseRWLayer(c)
	d.releaseContainerResources(c, removeVolumes)
	c.Unlock()
	faultpoint.Hit("container.rm.after-layer")
	// A log forwarder still sending the last lines writes into the
	// container's directory.
	d.endLogForwarder(c.ID)
	// The container decided how many files its writable layer holds, and
	// so how long deleting them takes: not under its lock, which every
	// docker ps waits for. RemovalInProgress keeps starts, renames and new
	// readers off meanwhile.
	os.RemoveAll(d.shimDir(c.ID))
	err := os.RemoveAll(c.Root())
	c.Lock()
	defer c.Unlock()
	if err != nil {
		c.State.SetDead()
		c.State.ResetRemovalInProgress()
		saveOrLog(c)
		return errdefs.System(fmt.Errorf("unable to remove filesystem for %s: %w", c.ID, err))
	}
	d.containers.Delete(c)
	d.dropLive(c.ID)
	d.metrics.Forget(c.ID)
	c.State.SetRemoved()
	d.logContainerEvent(c, events.ActionDestroy, nil)
	logrus.WithField("container", stringid.TruncateID(c.ID)).Debug("container removed")
	return nil
}

// containerReleasers are the managers' hooks for a removed container
// (layers, networks, volumes), run with the container's lock held.
type containerReleaser func(c *ctr.Container, removeVolumes bool)

func (d *Daemon) releaseContainerResources(c *ctr.Container, removeVolumes bool) {
	for _, release := range d.containerReleasers {
		release(c, removeVolumes)
	}
}

// killAndWait sends SIGKILL and waits for the exit to be recorded.
func (d *Daemon) killAndWait(ctx context.Context, c *ctr.Container, timeout time.Duration) error {
	c.Lock()
	wait := c.State.Wait(context.WithoutCancel(ctx), container.WaitConditionNotRunning) // the select ends on ctx
	c.Unlock()
	if err := d.killContainer(ctx, c, 9); err != nil && !errdefs.Is(err, errdefs.Conflict) {
		// Conflict: the process ended between the caller's check and
		// the signal (someone else's kill); its exit is being recorded,
		// so wait for that as dockerd's rm -f does.
		return err
	}
	select {
	case <-wait:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("container did not exit within %s of SIGKILL", timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ContainerRename answers POST /containers/{id}/rename.
func (d *Daemon) ContainerRename(ref, newName string) error {
	if newName == "" {
		return errdefs.InvalidParameterf("Neither old nor new names may be empty")
	}
	if err := ctr.ValidateName(newName); err != nil {
		return err
	}
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	newName = "/" + trimSlash(newName)
	c.Lock()
	defer c.Unlock()
	oldName := c.Name
	if oldName == newName {
		return errdefs.InvalidParameterf("Renaming a container with the same name as its current name")
	}
	if c.State.RemovalInProgress || c.State.Dead {
		return errdefs.Conflictf("cannot rename container %q: container is marked for removal and cannot be renamed", c.ID)
	}
	if err := d.containers.Rename(c, newName); err != nil {
		return err
	}
	c.Name = newName
	faultpoint.Hit("container.rename.before-save")
	if err := c.Save(); err != nil {
		// The store renames from c.Name, so it goes back first.
		d.containers.Rename(c, oldName)
		c.Name = oldName
		return errdefs.System(err)
	}
	d.logContainerEvent(c, events.ActionRename, map[string]string{"oldName": oldName})
	return nil
}

// ContainerWait answers POST /containers/{id}/wait. ready is called once
// the wait is registered, so the caller can send its headers: a client
// that starts the container after that never misses the exit.
func (d *Daemon) ContainerWait(ctx context.Context, ref string, cond container.WaitCondition, ready func()) (container.WaitResponse, error) {
	switch cond {
	case "", container.WaitConditionNotRunning, container.WaitConditionNextExit, container.WaitConditionRemoved:
	default:
		return container.WaitResponse{}, errdefs.InvalidParameterf("invalid condition: %q", cond)
	}
	c, err := d.containers.Get(ref)
	if err != nil {
		return container.WaitResponse{}, err
	}
	c.Lock()
	ch := c.State.Wait(ctx, cond)
	c.Unlock()
	ready()
	st := <-ch
	resp := container.WaitResponse{StatusCode: int64(st.ExitCode)}
	if st.Err != nil && ctx.Err() == nil {
		resp.Error = &container.WaitExitError{Message: st.Err.Error()}
	}
	return resp, nil
}

// ContainersPrune answers POST /containers/prune: every stopped container
// that matches the label and until filters.
func (d *Daemon) ContainersPrune(ctx context.Context, rawFilters string) (*container.PruneReport, error) {
	args, err := filters.FromJSON(rawFilters)
	if err != nil {
		return nil, err
	}
	if err := args.Validate(map[string]bool{"label": true, "label!": true, "until": true}); err != nil {
		return nil, err
	}
	var until time.Time
	for _, u := range args.Get("until") {
		v, err := timestamp.FromHuman(u, time.Now())
		if err != nil {
			return nil, errdefs.InvalidParameter(err)
		}
		if until, err = timestamp.ParseTime(v); err != nil {
			return nil, errdefs.InvalidParameter(err)
		}
	}
	report := &container.PruneReport{ContainersDeleted: []string{}}
	for _, c := range d.containers.List() {
		c.Lock()
		skip := c.State.Running || c.State.RemovalInProgress ||
			!args.MatchKVList("label", c.Config.Labels) ||
			(!until.IsZero() && !c.Created.Before(until))
		for _, neg := range args.Get("label!") {
			if filters.NewArgs([2]string{"label", neg}).MatchKVList("label", c.Config.Labels) {
				skip = true
			}
		}
		c.Unlock()
		if skip {
			continue
		}
		if err := d.removeContainer(ctx, c, false, false); err != nil {
			logrus.WithError(err).WithField("container", stringid.TruncateID(c.ID)).Warn("prune: could not remove container")
			continue
		}
		report.ContainersDeleted = append(report.ContainersDeleted, c.ID)
		faultpoint.Hit("container.prune.after-one")
	}
	d.events.Log(events.ContainerEventType, events.ActionPrune, events.Actor{Attributes: map[string]string{"reclaimed": fmt.Sprint(report.SpaceReclaimed)}})
	return report, nil
}
