package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/signal"
	"github.com/berthd/berth/pkg/stringid"
)

func itoa(n int) string { return strconv.Itoa(n) }

// defaultStopTimeout is how long stop waits before SIGKILL.
const defaultStopTimeout = 10

// killContainer delivers sig to c's init process through its shim. A
// signal once decided on is delivered even if ctx's client hangs up.
func (d *Daemon) killContainer(ctx context.Context, c *ctr.Container, sig unix.Signal) error {
	ctx = context.WithoutCancel(ctx)
	c.Lock()
	running := c.State.Running
	paused := c.State.Paused
	c.Unlock()
	if !running {
		return errdefs.Conflictf("Container %s is not running", c.ID)
	}
	if sig != unix.SIGKILL {
		d.awaitSignalHandler(c, sig)
	}
	client := d.shimFor(c)
	if err := client.Kill(ctx, sig, false); err != nil {
		// The process may have exited between the check and the signal;
		// that is the same "not running", not a fault.
		st, serr := client.State(ctx)
		if serr != nil {
			// The shim cannot be reached (its socket is gone with the
			// exec-root, or it hangs): signal the process ourselves, or
			// stop and kill could never end it. Its shim, or the
			// monitor when the shim goes too, records the exit.
			if d.signalDirectly(c, sig) {
				return nil
			}
			return errdefs.Conflictf("Container %s is not running", c.ID)
		}
		if st.Status == "stopped" || st.Pid == 0 {
			return errdefs.Conflictf("Container %s is not running", c.ID)
		}
		return errdefs.System(err)
	}
	// A frozen process cannot act on a signal; SIGKILL must still work,
	// so thaw it after.
	if paused && sig == unix.SIGKILL {
		client.Resume(ctx)
	}
	return nil
}

// handlerGrace is how long after its start a container's init may still
// be setting up its signal handlers.
const handlerGrace = time.Second

// awaitSignalHandler holds a signal for a container that has only just
// started until its init process handles it. The kernel discards a signal
// that a namespace's init has left at the default action, so a SIGTERM
// sent between the exec and the program's own signal set-up (`docker run
// -d` then `docker kill -s TERM`) would be lost and the container keep
// running. Past the grace time the signal goes as it is: a program that
// never handles it is told nothing, as with dockerd.
func (d *Daemon) awaitSignalHandler(c *ctr.Container, sig unix.Signal) {
	c.Lock()
	pid, started := c.State.Pid, c.State.StartedAt
	c.Unlock()
	if pid <= 0 {
		return
	}
	deadline := started.Add(handlerGrace)
	for time.Now().Before(deadline) {
		dropped, err := signal.DroppedByInit(pid, sig)
		if err != nil || !dropped {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// signalDirectly sends sig to c's init process when the PID still is that
// process: one in c's cgroup (a PID reused by another process is not).
func (d *Daemon) signalDirectly(c *ctr.Container, sig unix.Signal) bool {
	c.Lock()
	pid := c.State.Pid
	c.Unlock()
	if pid <= 0 {
		return false
	}
	if !inContainerCgroup(pid, c.ID) {
		return false
	}
	logrus.WithField("container", stringid.TruncateID(c.ID)).Warnf("shim unreachable: sending signal %d to PID %d directly", sig, pid)
	return unix.Kill(pid, sig) == nil
}

// inContainerCgroup says whether pid is in the cgroup of container id, so
// is the container's process and not one that was given its recorded PID
// after it exited (or after a reboot, before restore reached it).
func inContainerCgroup(pid int, id string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	return err == nil && strings.Contains(string(b), id)
}

// ContainerKill answers POST /containers/{id}/kill.
func (d *Daemon) ContainerKill(ctx context.Context, ref, sigName string) (err error) {
	defer timed(d.metrics.ContainerAction, "kill", &err)()
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	sig := unix.SIGKILL
	if sigName != "" {
		if sig, err = signal.Parse(sigName); err != nil {
			return errdefs.InvalidParameter(err)
		}
	}
	c.Lock()
	running := c.State.Running && !c.State.Restarting
	if running {
		// dockerd takes any kill by the user for a manual stop: an
		// unless-stopped container does not come back at the next
		// daemon start.
		c.HasBeenManuallyStopped = true
		if err := c.Save(); err != nil {
			logrus.WithError(err).WithField("container", stringid.TruncateID(c.ID)).Warn("could not save container")
		}
	}
	c.Unlock()
	if !running {
		return errdefs.Conflictf("cannot kill container: %s: container %s is not running", ref, c.ID)
	}
	// dockerd's rule: the exit that follows a SIGKILL, or the container's
	// own stop signal (any signal when it has none), is the user's stop
	// and no restart policy brings the container back from it.
	exitOnNext := sig == unix.SIGKILL || c.Config.StopSignal == ""
	if !exitOnNext {
		if ss, err := signal.Parse(c.Config.StopSignal); err == nil && ss == sig {
			exitOnNext = true
		}
	}
	if exitOnNext {
		l := d.liveState(c)
		l.mu.Lock()
		l.stopping = true
		l.mu.Unlock()
	}
	d.logContainerEvent(c, events.ActionKill, map[string]string{"signal": strconv.Itoa(int(sig))})
	if sig != unix.SIGKILL {
		return d.killContainer(ctx, c, sig)
	}
	// A SIGKILL answers once the container has exited, as dockerd's does:
	// the client's next request sees it stopped. (The wait is not the
	// request's: a context without cancel costs State.Wait no goroutine,
	// and the select below ends on the request's.)
	c.Lock()
	wait := c.State.Wait(context.WithoutCancel(ctx), container.WaitConditionNotRunning)
	c.Unlock()
	if err := d.killContainer(ctx, c, sig); err != nil {
		if errdefs.Is(err, errdefs.Conflict) {
			return nil
		}
		return err
	}
	select {
	case <-wait:
	case <-time.After(10 * time.Second):
		logrus.WithField("container", c.ID).Warn("container did not exit within 10s of SIGKILL")
	case <-ctx.Done():
	}
	return nil
}

// ContainerStop answers POST /containers/{id}/stop: the stop signal, then
// SIGKILL after the timeout (?t=, else the container's StopTimeout, else 10 s).
func (d *Daemon) ContainerStop(ctx context.Context, ref string, sigName string, timeout *int) (err error) {
	defer timed(d.metrics.ContainerAction, "stop", &err)()
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	c.Lock()
	if !c.State.Running {
		c.Unlock()
		return notModified{errors.New("container already stopped")}
	}
	c.HasBeenManuallyStopped = true
	saveOrLog(c)
	c.Unlock()
	return d.stopContainer(ctx, c, sigName, timeout)
}

func (d *Daemon) stopContainer(ctx context.Context, c *ctr.Container, sigName string, timeout *int) error {
	c.Lock()
	stopSig := c.Config.StopSignal
	t := defaultStopTimeout
	if dt := d.Config().DefaultStopTimeout; dt != nil {
		t = *dt
	}
	if c.Config.StopTimeout != nil {
		t = *c.Config.StopTimeout
	}
	restarting := c.State.Restarting
	c.Unlock()
	if sigName != "" {
		stopSig = sigName
	}
	if timeout != nil {
		t = *timeout
	}
	sig := unix.SIGTERM
	if stopSig != "" {
		s, err := signal.Parse(stopSig)
		if err != nil {
			return errdefs.InvalidParameter(err)
		}
		sig = s
	}
	l := d.liveState(c)
	l.mu.Lock()
	l.stopping = true
	l.mu.Unlock()
	// The stop below outlives the request, and so does its wait.
	c.Lock()
	wait := c.State.Wait(context.WithoutCancel(ctx), container.WaitConditionNotRunning)
	c.Unlock()
	if restarting {
		// Between two runs: the restart loop sees `stopping` and stays down.
		c.Lock()
		c.State.SetStopped(c.State.ExitCode, false)
		saveOrLog(c)
		c.Unlock()
		d.logContainerEvent(c, events.ActionStop, nil)
		return nil
	}
	d.logContainerEvent(c, events.ActionKill, map[string]string{"signal": strconv.Itoa(int(sig))})
	if err := d.killContainer(ctx, c, sig); err != nil && !errdefs.Is(err, errdefs.Conflict) {
		return err
	}
	// The stop runs to its end even when the client goes away, as in
	// dockerd: a cancelled request only stops waiting for it. Only the
	// daemon's own end (with the container left running) ends it sooner.
	done := make(chan error, 1)
	d.life.Go(func(life context.Context) {
		var deadline <-chan time.Time
		if t >= 0 {
			deadline = time.After(time.Duration(t) * time.Second)
		}
		select {
		case <-wait:
		case <-deadline:
			d.logContainerEvent(c, events.ActionKill, map[string]string{"signal": "9"})
			if err := d.killContainer(ctx, c, unix.SIGKILL); err != nil && !errdefs.Is(err, errdefs.Conflict) {
				done <- err
				return
			}
			select {
			case <-wait:
			case <-life.Done():
				done <- life.Err()
				return
			}
		case <-life.Done():
			done <- life.Err()
			return
		}
		d.logContainerEvent(c, events.ActionStop, nil)
		done <- nil
	})
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ContainerRestart answers POST /containers/{id}/restart.
func (d *Daemon) ContainerRestart(ctx context.Context, ref string, sigName string, timeout *int) (err error) {
	defer timed(d.metrics.ContainerAction, "restart", &err)()
	// A restart the client stops waiting for still happens, as in dockerd.
	ctx = context.WithoutCancel(ctx)
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	c.Lock()
	running := c.State.Running
	l := d.liveState(c)
	c.Unlock()
	l.mu.Lock()
	l.restarting = true
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.restarting = false
		l.mu.Unlock()
	}()
	if running {
		if err := d.stopContainer(ctx, c, sigName, timeout); err != nil {
			return err
		}
	}
	var already notModified
	if err := d.ContainerStart(ctx, c.ID); err != nil && !errors.As(err, &already) {
		return err
	}
	d.logContainerEvent(c, events.ActionRestart, nil)
	return nil
}

// ContainerPause answers POST /containers/{id}/pause (the freezer).
func (d *Daemon) ContainerPause(ctx context.Context, ref string) (err error) {
	defer timed(d.metrics.ContainerAction, "pause", &err)()
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	c.Lock()
	defer c.Unlock()
	switch {
	case !c.State.Running:
		return errdefs.Conflictf("Container %s is not running", c.ID)
	case c.State.Paused:
		return errdefs.Conflictf("Container %s is already paused", c.ID)
	case c.State.Restarting:
		return errdefs.Conflictf("Container %s is restarting, wait until the container is running", c.ID)
	}
	if err := d.shimFor(c).Pause(ctx); err != nil {
		return errdefs.System(err)
	}
	c.State.SetPaused()
	saveOrLog(c)
	d.logContainerEvent(c, events.ActionPause, nil)
	return nil
}

// ContainerUnpause answers POST /containers/{id}/unpause.
func (d *Daemon) ContainerUnpause(ctx context.Context, ref string) (err error) {
	defer timed(d.metrics.ContainerAction, "unpause", &err)()
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	c.Lock()
	defer c.Unlock()
	if !c.State.Paused {
		return errdefs.Conflictf("Container %s is not paused", c.ID)
	}
	if err := d.shimFor(c).Resume(ctx); err != nil {
		return errdefs.System(err)
	}
	c.State.SetUnpaused()
	saveOrLog(c)
	d.logContainerEvent(c, events.ActionUnPause, nil)
	return nil
}
