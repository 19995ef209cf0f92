package daemon

import (
	"context"
	"os"
	"sync"
	"time"

	"github.com/moby/moby/api/types/mount"
	"github.com/sirupsen/logrus"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/daemon/logger/drivers"
	"github.com/berthd/berth/pkg/faultpoint"
	"github.com/berthd/berth/pkg/shim"
	"github.com/berthd/berth/pkg/stringid"
)

// restoreDone is closed once restore has finished; tests and shutdown
// wait for it.
func (d *Daemon) restoreDone() chan struct{} {
	d.restoreOnce.Do(func() { d.restored = make(chan struct{}) })
	return d.restored
}

// restoreContainers brings the containers found on disk back under the
// daemon's control after a start. It runs in the background so the API
// answers at once:
//
//   - a container recorded as running whose shim answers is reattached
//     (its exit is monitored again, its mounts and network re-taken);
//   - one whose shim is gone is marked exited with the status the shim
//     recorded, and its leftovers are cleaned;
//   - then restart policies apply: always and unless-stopped (unless the
//     user stopped it) come back up, and auto-remove containers that
//     exited while the daemon was down are removed.
//
// ctx is the daemon's lifetime: a daemon shutting down restarts nothing.
func (d *Daemon) restoreContainers(ctx context.Context) {
	defer close(d.restoreDone())
	began := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	all := d.containers.List()
	for _, c := range all {
		wg.Add(1)
		sem <- struct{}{}
		go func(c *ctr.Container) {
			defer wg.Done()
			defer func() { <-sem }()
			d.restoreContainer(ctx, c)
		}(c)
	}
	wg.Wait()
	// What a restart costs with many containers (hack/torture scale reads it).
	logrus.WithFields(logrus.Fields{"count": len(all), "took": time.Since(began).Round(time.Millisecond)}).Info("containers restored")
	d.leaveGoneContainers()
	// Backing mounts (tmpfs, bind volumes) no running container re-took
	// were left by the previous daemon: undo them now.
	if d.volumes != nil {
		d.volumes.UnmountUnused()
	}
	for _, c := range d.containers.List() {
		c.Lock()
		want := restartAtDaemonStart(c)
		// As dockerd: an --rm container that is not running after the
		// restart goes, also one never started (a `docker run --rm`
		// whose daemon died between create and start), whose client is
		// gone and which nothing would ever remove.
		autoRemove := !c.State.Running && c.HostConfig.AutoRemove
		c.Unlock()
		switch {
		case autoRemove:
			if err := d.removeContainer(context.WithoutCancel(ctx), c, true, true); err != nil {
				logrus.WithError(err).WithField("container", stringid.TruncateID(c.ID)).Warn("could not remove an --rm container at daemon start")
			}
		case want && !d.life.isClosing():
			// The API serves while restore runs: a view of c (a copy,
			// an export), a removal or a start may have come in since
			// the check above.
			c.Lock()
			d.waitFSFree(c)
			if restartAtDaemonStart(c) {
				faultpoint.Hit("daemon.restore.before-restart")
				if err := d.startLocked(ctx, c, false); err != nil {
					logrus.WithError(err).WithField("container", stringid.TruncateID(c.ID)).Warn("could not restart container at daemon start")
				}
			}
			c.Unlock()
		}
	}
}

// leaveGoneContainers frees the endpoints (and addresses) of containers
// that no longer exist: a removal whose leave could not be written (a
// full or read-only data-root) or that a crash cut short. Nothing else
// would ever free them.
func (d *Daemon) leaveGoneContainers() {
	if d.networks == nil {
		return
	}
	for _, id := range d.networks.EndpointContainers() {
		if _, err := d.containers.Get(id); err == nil {
			continue
		}
		log := logrus.WithField("container", stringid.TruncateID(id))
		if err := d.networks.LeaveAll(context.Background(), id); err != nil {
			log.WithError(err).Warn("could not leave the networks of a removed container")
		} else {
			log.Info("left the networks of a removed container")
		}
	}
}

// restartAtDaemonStart says whether c's restart policy starts it when the
// daemon starts: as dockerd's restore asks its restart manager about the
// last exit, on-failure brings back a container whose last exit was a
// failure while retries remain, also one the user stopped (exit 143 or
// 137; moby#35166). The caller holds c's lock.
func restartAtDaemonStart(c *ctr.Container) bool {
	if c.State.Running || c.State.RemovalInProgress || c.State.Dead || !c.HasBeenStartedBefore {
		return false
	}
	p := c.HostConfig.RestartPolicy
	switch {
	case p.IsAlways():
		return true
	case p.IsUnlessStopped():
		return !c.HasBeenManuallyStopped
	case p.IsOnFailure():
		return c.State.ExitCode != 0 && (p.MaximumRetryCount == 0 || c.RestartCount < p.MaximumRetryCount)
	}
	return false
}

func (d *Daemon) restoreContainer(ctx context.Context, c *ctr.Container) {
	c.Lock()
	defer c.Unlock()
	if c.State.RemovalInProgress {
		// A removal the previous daemon did not finish.
		c.State.ResetRemovalInProgress()
		c.State.SetDead()
		saveOrLog(c)
	}
	if !c.State.Running {
		d.endUnfinishedStart(ctx, c)
		return
	}
	client := d.shimFor(c)
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	st, err := client.State(sctx)
	cancel()
	if err != nil && ctx.Err() != nil {
		// The daemon began its shutdown while it restored: the shim was
		// not asked, not found gone. Taken for gone, a live container
		// was killed by a graceful stop right after a start (hack/torture
		// scale). It stays as saved for the next daemon to find.
		return
	}
	alive := err == nil && st.Pid > 0
	if err != nil {
		logrus.WithError(err).WithField("container", stringid.TruncateID(c.ID)).Warn("the container's shim does not answer: taking it for gone")
	}
	if alive && !d.Config().LiveRestore {
		// Without live-restore, dockerd stops the containers a crashed
		// daemon left running; their restart policy then brings back the
		// ones that should run.
		logrus.WithField("container", stringid.TruncateID(c.ID)).Info("stopping container left running by the previous daemon (live-restore is off)")
		kctx, kcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		endShim(kctx, client)
		kcancel()
		alive = false
	}
	if alive {
		// Alive: take back what the running process holds.
		if c.State.Paused != (st.Status == "paused") {
			c.State.Paused = st.Status == "paused"
		}
		if mps, err := containerVolumeMounts(c); err == nil {
			for _, mp := range mps {
				if mp.Type == mount.TypeVolume && mp.Name != "" {
					if _, err := d.volumes.Mount(ctx, mp.Name, c.ID); err != nil {
						logrus.WithError(err).WithFields(logrus.Fields{"container": stringid.TruncateID(c.ID), "volume": mp.Name}).Warn("could not take back the container's volume")
					}
				}
			}
		}
		if err := d.restoreContainerNetwork(ctx, c); err != nil {
			logrus.WithError(err).WithField("container", stringid.TruncateID(c.ID)).Warn("could not restore the container's network")
		}
		d.life.Go(func(ctx context.Context) { d.monitor(ctx, c, client) })
		if !drivers.Shim[c.HostConfig.LogConfig.Type] {
			if err := d.startLogForwarder(ctx, c, forwardedSince(c)); err != nil {
				logrus.WithError(err).WithField("container", stringid.TruncateID(c.ID)).Warn("could not reconnect the container's log driver")
			}
		}
		if healthProbe(c) != nil {
			health := c.State.Health
			d.startHealthMonitor(c)
			if health != nil {
				c.State.Health = health // keep the status the last daemon saw
			}
		}
		logrus.WithField("container", stringid.TruncateID(c.ID)).Debug("reattached to running container")
		return
	}
	// Gone: the shim recorded the exit before it went away, or both were
	// killed (then it was a SIGKILL).
	ex, rerr := shim.ReadExit(d.shimDir(c.ID))
	if rerr != nil {
		ex = &shim.Exit{Code: 137, ExitedAt: time.Now()}
		d.endOrphanedProcesses(c)
	}
	d.unmountRootfs(c)
	d.cleanupNetwork(c)
	if ex.OOMKilled {
		// Killed while no daemon watched: this daemon is the first to
		// learn of it, so its count includes it.
		d.metrics.OOMKill(c.ID)
	}
	faultpoint.Hit("daemon.restore.after-cleanup")
	c.State.SetStopped(ex.Code, ex.OOMKilled)
	if !ex.ExitedAt.IsZero() {
		c.State.FinishedAt = ex.ExitedAt.UTC()
	}
	saveOrLog(c)
	// The exit is recorded: the shim's directory (its socket, its exit
	// file) has served, as after an exit seen live (handleExit).
	os.RemoveAll(d.shimDir(c.ID))
}

// StopContainersForShutdown stops every running container as the daemon
// exits without live-restore: the stop signal, then SIGKILL after the
// container's stop timeout (or shutdown-timeout), all in parallel.
func (d *Daemon) StopContainersForShutdown() {
	// First: no restart policy may bring back what is being stopped, and
	// a container waiting out a restart back-off stays down.
	d.life.beginShutdown()
	if d.Config().LiveRestore {
		return
	}
	select {
	case <-d.restoreDone():
	case <-time.After(10 * time.Second):
	}
	timeout := d.Config().ShutdownTimeout
	var wg sync.WaitGroup
	for _, c := range d.containers.List() {
		c.Lock()
		running := c.State.Running
		c.Unlock()
		if !running {
			continue
		}
		wg.Add(1)
		go func(c *ctr.Container) {
			defer wg.Done()
			t := timeout
			c.Lock()
			if c.Config.StopTimeout != nil {
				t = *c.Config.StopTimeout
			}
			// Restart policy must not bring it back, but the container
			// is not "manually stopped": it comes back at the next start.
			l := d.liveState(c)
			c.Unlock()
			l.mu.Lock()
			l.stopping = true
			l.mu.Unlock()
			faultpoint.Hit("daemon.shutdown.before-stop")
			if err := d.stopContainer(d.life.Context(), c, "", &t); err != nil {
				logrus.WithError(err).WithField("container", stringid.TruncateID(c.ID)).Warn("could not stop container at shutdown")
			}
		}(c)
	}
	wg.Wait()
}

// endUnfinishedStart undoes a start of c that the previous daemon did not
// get to record (it died between launching the shim and saving the
// running state): a shim still serving the container, created or already
// running, its root mount and network. A later start would otherwise run
// a second init in the same cgroup and shim directory, and the first
// shim's exit would then be taken for the second's. The caller holds c's
// lock; a container without a shim directory has nothing to undo.
func (d *Daemon) endUnfinishedStart(ctx context.Context, c *ctr.Container) {
	dir := d.shimDir(c.ID)
	if _, err := os.Stat(dir); err != nil {
		return
	}
	client := d.shimFor(c)
	// Finished even by a daemon shutting down: what it leaves, the next
	// one would have to find again.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if st, err := client.State(ctx); err == nil && st.Pid > 0 {
		logrus.WithField("container", stringid.TruncateID(c.ID)).Info("ending a container start the previous daemon did not finish")
		endShim(ctx, client)
	}
	d.unmountRootfs(c)
	d.cleanupNetwork(c)
	os.RemoveAll(dir)
}

// endShim kills every process of a shim's container and waits, until
// ctx ends, for the shim to record the exit.
func endShim(ctx context.Context, client shimClient) {
	client.Kill(ctx, 9, true)
	client.Wait(ctx)
}
