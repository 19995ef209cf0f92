package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/events"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/daemon/logger/drivers"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/faultpoint"
	"github.com/berthd/berth/pkg/phases"
	"github.com/berthd/berth/pkg/shim"
	"github.com/berthd/berth/pkg/stringid"
)

// errNotModified is dockerd's 304 for starting a started container or
// stopping a stopped one.
type notModified struct{ error }

func (notModified) NotModified() {}

// startable says why c cannot be started now, with dockerd's answers.
func startable(c *ctr.Container) error {
	switch {
	case c.State.Paused:
		return errdefs.Conflictf("cannot start a paused container, try unpause instead")
	case c.State.Running:
		return notModified{errors.New("container already started")}
	case c.State.RemovalInProgress || c.State.Dead:
		return errdefs.Conflictf("container is marked for removal and cannot be started")
	}
	return nil
}

// ContainerStart answers POST /containers/{id}/start.
func (d *Daemon) ContainerStart(ctx context.Context, ref string) (err error) {
	defer timed(d.metrics.ContainerAction, "start", &err)()
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	// In debug mode, the log says where each start's time went.
	if logrus.IsLevelEnabled(logrus.DebugLevel) {
		tr := phases.New()
		ctx = phases.With(ctx, tr)
		defer func() {
			logrus.WithField("container", stringid.TruncateID(c.ID)).Debugf("start phases: %s", tr)
		}()
	}
	c.Lock()
	defer c.Unlock()
	phases.From(ctx).Mark("lock")
	// Checked before waiting for views of c's files as well as after:
	// a start of a running container answers at once, not once someone
	// else's slow copy out of it ends.
	if err := startable(c); err != nil {
		return err
	}
	d.waitFSFree(c)
	if err := startable(c); err != nil {
		return err
	}
	l := d.liveState(c)
	l.mu.Lock()
	l.stopping = false
	l.mu.Unlock()
	c.HasBeenManuallyStopped = false
	return d.startLocked(ctx, c, false)
}

// startLocked starts c's process. The caller holds c's lock. restart
// marks a start by the restart policy (no reset of the start time).
func (d *Daemon) startLocked(ctx context.Context, c *ctr.Container, restart bool) (retErr error) {
	tr := phases.From(ctx)
	rootfs, err := d.mountRootfs(c)
	if err != nil {
		return err
	}
	tr.Mark("rootfs")
	defer func() {
		if retErr != nil {
			d.unmountRootfs(c)
			d.cleanupNetwork(c)
			// Attaches waiting for this start end now; waiters see the
			// error and the exit code dockerd records for it.
			d.dropPendingAttaches(c)
			c.State.SetError(retErr, exitCodeFor(retErr))
			saveOrLog(c)
			if c.HostConfig.AutoRemove {
				// After the caller releases the lock; it outlives the
				// request, and once begun it is finished.
				d.life.Go(func(ctx context.Context) {
					d.removeContainer(context.WithoutCancel(ctx), c, true, true)
				})
			}
		}
	}()
	mounts, err := d.etcFileMounts(c)
	if err != nil {
		return err
	}
	tr.Mark("etc-files")
	volMounts, volsMounted, err := d.volumeSpecMounts(ctx, c, rootfs)
	if err != nil {
		return err
	}
	tr.Mark("volumes")
	defer func() {
		if retErr != nil {
			d.releaseVolumeMounts(c)
		}
	}()
	mounts = append(mounts, volMounts...)
	nsPaths, err := d.namespacePaths(c)
	if err != nil {
		return err
	}
	if err := d.placeCgroup(ctx, c); err != nil {
		return err
	}
	spec, err := d.buildSpec(c, specInput{
		Rootfs:         rootfs,
		NamespacePaths: nsPaths,
		Mounts:         mounts,
		CgroupsPath:    d.cgroupPath(c),
	})
	if err != nil {
		return err
	}
	tr.Mark("spec")
	logOpts := c.HostConfig.LogConfig.Config
	switch c.HostConfig.LogConfig.Type {
	case "json-file":
		c.LogPath = logPathFor(c)
	case "local":
		// The local driver rotates by default (20m × 5, dockerd's
		// defaults). berth keeps its entries in the json-file encoding,
		// uncompressed; only berth reads them.
		if err := os.MkdirAll(filepath.Join(c.Root(), "local-logs"), 0o700); err != nil {
			return errdefs.System(err)
		}
		c.LogPath = filepath.Join(c.Root(), "local-logs", "container.log")
		logOpts = withLocalLogDefaults(logOpts)
	case "none", "":
		c.LogPath = ""
	default:
		// A remote driver or a plugin: the shim keeps a local cache, which
		// a forwarder sends to the driver (log_forward.go).
		if c.LogPath, logOpts, err = logCache(c, logOpts); err != nil {
			return err
		}
	}
	maxSize, maxFile, err := logRotation(logOpts)
	if err != nil {
		return err
	}
	runtimeBin, err := d.runtimePath(c.HostConfig.Runtime)
	if err != nil {
		return err
	}
	dir := d.shimDir(c.ID)
	os.RemoveAll(dir)
	tr.Mark("log-setup")
	// The network is wired as soon as the init's namespaces exist, while
	// the init prepares its root (about 3 ms each, side by side); with an
	// external runtime the shim does not say so early, and it is wired
	// after the launch.
	var (
		netMu     sync.Mutex
		netErr    chan error
		launchEnd bool
	)
	initStarted := func(pid int) {
		netMu.Lock()
		defer netMu.Unlock()
		if launchEnd || netErr != nil {
			return
		}
		netErr = make(chan error, 1)
		go func() {
			began := time.Now()
			netErr <- d.joinNetworks(ctx, c, pid)
			tr.Since("network", began)
		}()
	}
	launched, err := d.containerRuntime().launch(ctx, shim.LaunchOpts{
		Dir: dir,
		Config: shim.Config{
			ID:          c.ID,
			Bundle:      dir,
			RuntimeRoot: filepath.Join(d.cfg.ExecRoot, "runtime"),
			Spec:        spec,
			LogPath:     c.LogPath,
			LogMaxSize:  maxSize,
			LogMaxFile:  maxFile,
			OpenStdin:   c.Config.OpenStdin,
			Runtime:     runtimeBin,
		},
		Env:         append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, faultpoint.Env()...),
		InitStarted: initStarted,
	})
	netMu.Lock()
	launchEnd = true
	early := netErr
	netMu.Unlock()
	tr.Mark("launch")
	// The runtime has made its mounts: subpath sources may be let go.
	volsMounted()
	if err != nil {
		if early != nil {
			// Let it finish before the deferred clean-up undoes it.
			<-early
		}
		// A shim that died before it answered left its container's
		// cgroup, and what of the init it made is still in it (found
		// by hack/torture -points at shim.create.before-ready).
		d.endOrphanedProcesses(c)
		return startError(err)
	}
	faultpoint.Hit("container.start.after-shim")
	client := d.shimFor(c)
	pid := launched.InitPid
	// Under systemd the process becomes its scope's before it runs;
	// systemd's job runs while the network is wired.
	scopeStarted, err := d.startScope(ctx, c, pid, spec.Linux.Resources)
	if err != nil {
		if early != nil {
			<-early
		}
		client.Kill(context.WithoutCancel(ctx), 9, true)
		return err
	}
	tr.Mark("scope")
	// The process exists but has not run yet: give it its network, then
	// connect the attaches that arrived before the start, so they see
	// its first byte of output.
	if early != nil {
		err = <-early
	} else {
		err = d.joinNetworks(ctx, c, pid)
	}
	if err == nil {
		err = setInterfaceSysctls(c.HostConfig, pid)
	}
	tr.Mark("network-wait")
	faultpoint.Hit("container.start.after-network")
	if err != nil {
		client.Kill(context.WithoutCancel(ctx), 9, true)
		return err
	}
	if ip := c.PrimaryIP(); ip != "" {
		writeInPlace(c.HostsPath, d.hostsContent(c, ip))
	}
	d.connectPendingAttaches(ctx, c, client)
	tr.Mark("hosts+attaches")
	if err := scopeStarted(); err != nil {
		client.Kill(context.WithoutCancel(ctx), 9, true)
		d.stopScope(ctx, c, true)
		return err
	}
	tr.Mark("scope-wait")
	startedAt := time.Now()
	if err := client.Start(ctx); err != nil {
		client.Kill(context.WithoutCancel(ctx), 9, true)
		return startError(err)
	}
	tr.Mark("shim-start")
	if !drivers.Shim[c.HostConfig.LogConfig.Type] {
		if err := d.startLogForwarder(ctx, c, startedAt); err != nil {
			client.Kill(context.WithoutCancel(ctx), 9, true)
			return err
		}
	}
	c.State.SetRunning(pid, !restart)
	c.HasBeenStartedBefore = true
	if !restart {
		// A start by the user or at daemon start gives the restart
		// policy a fresh run, as dockerd's resetRestartManager: its
		// retries again, and no stop by the user to remember.
		c.RestartCount = 0
		c.HasBeenManuallyStopped = false
	}
	d.startHealthMonitor(c)
	tr.Mark("health+forwarder")
	faultpoint.Hit("container.start.before-state")
	if err := c.SaveState(); err != nil {
		logrus.WithError(err).WithField("container", stringid.TruncateID(c.ID)).Error("could not save container state")
	}
	tr.Mark("save-state")
	d.logContainerEvent(c, events.ActionStart, nil)
	d.life.Go(func(ctx context.Context) { d.monitor(ctx, c, client) })
	tr.Mark("event")
	return nil
}

// startError classifies a failure to create or start the process the way
// the docker CLI expects: a missing or non-executable command is the
// user's error (400) with the runtime's words, which the CLI maps to exit
// codes 127 and 126.
func startError(err error) error {
	if commandExitCode(err) != 0 {
		return errdefs.InvalidParameter(fmt.Errorf("failed to create task for container: failed to create shim task: OCI runtime create failed: %w: unknown", err))
	}
	return errdefs.System(fmt.Errorf("failed to start container: %w", err))
}

// exitCodeFor is the exit code dockerd records for a container that could
// not start.
func exitCodeFor(err error) int {
	if code := commandExitCode(err); code != 0 {
		return code
	}
	return 128
}

// commandExitCode is a shell's exit code for a command it could not run,
// by the errno the runtime reported for it (pkg/runtime.Error): 127 for
// one that does not exist, 126 for one it may not run, 0 for a failure
// that is not the command's.
func commandExitCode(err error) int {
	switch {
	case errors.Is(err, syscall.ENOENT):
		return 127
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EISDIR):
		return 126
	}
	return 0
}

// logRotation reads max-size and max-file from the log options.
func logRotation(opts map[string]string) (int64, int, error) {
	var size int64
	files := 1
	if v := opts["max-size"]; v != "" && v != "-1" {
		n, err := parseSize(v)
		if err != nil {
			return 0, 0, errdefs.InvalidParameterf("invalid max-size %q: %v", v, err)
		}
		size = n
	}
	if v := opts["max-file"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, 0, errdefs.InvalidParameterf("max-file cannot be less than 1")
		}
		if size == 0 && n > 1 {
			return 0, 0, errdefs.InvalidParameterf("max-file cannot be set without max-size")
		}
		files = n
	}
	return size, files, nil
}

// withLocalLogDefaults fills the local driver's rotation defaults.
func withLocalLogDefaults(opts map[string]string) map[string]string {
	out := map[string]string{"max-size": "20m", "max-file": "5"}
	for k, v := range opts {
		out[k] = v
	}
	return out
}

// monitor waits for c's process to exit and records it. It runs once per
// start, and again for running containers found after a daemon restart,
// until ctx (the daemon's lifetime) ends.
func (d *Daemon) monitor(ctx context.Context, c *ctr.Container, client shimClient) {
	ex, err := client.Wait(ctx)
	if err != nil {
		if ctx.Err() != nil {
			// The daemon is going away and c still runs (live-restore):
			// the next daemon watches it again.
			return
		}
		// The shim vanished without recording an exit (killed with the
		// container): record the container as killed.
		logrus.WithError(err).WithField("container", stringid.TruncateID(c.ID)).Warn("lost the container's shim")
		ex = &shim.Exit{Code: 137, ExitedAt: time.Now()}
		c.Lock()
		d.endOrphanedProcesses(c)
		c.Unlock()
	}
	d.handleExit(ctx, c, ex)
}

// handleExit records an exit, tears down what the process used, logs
// `die`, and then restarts or auto-removes the container as its policy says.
// ctx is the daemon's lifetime.
func (d *Daemon) handleExit(ctx context.Context, c *ctr.Container, ex *shim.Exit) {
	c.Lock()
	if !c.State.Running && !c.State.Restarting {
		c.Unlock()
		return
	}
	l := d.liveState(c)
	l.mu.Lock()
	userStop := l.stopping
	l.mu.Unlock()

	d.stopHealthMonitor(c)
	d.stopLogForwarder(c.ID)
	d.unmountRootfs(c)
	d.cleanupNetwork(c)
	d.releaseVolumeMounts(c)
	d.stopScope(ctx, c, false)
	faultpoint.Hit("container.exit.after-cleanup")
	if ex.OOMKilled {
		d.metrics.OOMKill(c.ID)
		d.logContainerEvent(c, events.ActionOOM, nil)
	}
	restart, delay := d.shouldRestart(c, ex.Code, userStop)
	// die goes out before the state change wakes waiters, so that a
	// `docker stop` logs its stop after the die, as dockerd's does.
	d.logContainerEvent(c, events.ActionDie, map[string]string{"exitCode": strconv.Itoa(ex.Code), "execDuration": strconv.Itoa(int(time.Since(c.State.StartedAt).Seconds()))})
	if restart {
		c.State.SetRestarting(ex.Code, ex.OOMKilled)
	} else {
		c.State.SetStopped(ex.Code, ex.OOMKilled)
	}
	saveOrLog(c)
	faultpoint.Hit("container.exit.after-state")
	l.mu.Lock()
	userRestart := l.restarting
	l.mu.Unlock()
	autoRemove := c.HostConfig.AutoRemove && !restart && !userRestart
	// Under the lock: a start woken by the state change above (a
	// restart, docker wait then start) makes its shim in the same
	// directory as soon as the lock is free.
	os.RemoveAll(d.shimDir(c.ID))
	c.Unlock()

	if autoRemove {
		// A removal once begun is finished, even by a daemon shutting down.
		if err := d.removeContainer(context.WithoutCancel(ctx), c, true, true); err != nil {
			logrus.WithError(err).WithField("container", stringid.TruncateID(c.ID)).Warn("auto-remove failed")
		}
		return
	}
	if restart {
		d.life.Go(func(ctx context.Context) { d.restartAfter(ctx, c, delay) })
	}
}

// etcFileMounts writes the generated files (hosts, resolv.conf,
// hostname) and returns their bind mounts.
func (d *Daemon) etcFileMounts(c *ctr.Container) ([]specs.Mount, error) {
	return d.writeEtcFiles(c)
}

// restartState is how dockerd spaces restarts: 100 ms doubling to a
// minute, reset once a run lasted 10 s.
const (
	restartBackoffMin = 100 * time.Millisecond
	restartBackoffMax = time.Minute
	restartResetAfter = 10 * time.Second
)

// shouldRestart applies the restart policy to an exit. The caller holds
// c's lock. A daemon shutting down restarts nothing, as dockerd.
func (d *Daemon) shouldRestart(c *ctr.Container, exitCode int, userStop bool) (bool, time.Duration) {
	p := c.HostConfig.RestartPolicy
	if userStop || p.IsNone() || c.State.RemovalInProgress || d.life.isClosing() {
		return false, 0
	}
	switch {
	case p.IsAlways():
	case p.IsUnlessStopped():
		// Only this policy heeds the manual-stop mark, as in dockerd's
		// restart manager; any kill by the user sets it, also one with
		// a signal the process survives (ContainerKill).
		if c.HasBeenManuallyStopped {
			return false, 0
		}
	case p.IsOnFailure():
		if exitCode == 0 {
			return false, 0
		}
		if p.MaximumRetryCount > 0 && c.RestartCount >= p.MaximumRetryCount {
			return false, 0
		}
	default:
		return false, 0
	}
	ran := time.Since(c.State.StartedAt)
	l := d.liveState(c)
	l.mu.Lock()
	defer l.mu.Unlock()
	if ran >= restartResetAfter || l.backoff == 0 {
		l.backoff = restartBackoffMin
	} else {
		l.backoff = min(2*l.backoff, restartBackoffMax)
	}
	return true, l.backoff
}

// restartAfter starts c again after delay unless the user stopped or
// removed it meanwhile, or the daemon began to shut down: that ends the
// wait at once, and c is recorded stopped (as dockerd's cancelled restart
// manager does) for the next daemon's restart policy to bring back.
func (d *Daemon) restartAfter(ctx context.Context, c *ctr.Container, delay time.Duration) {
	backoff := time.NewTimer(delay)
	defer backoff.Stop()
	select {
	case <-backoff.C:
	case <-d.life.Closing():
	}
	c.Lock()
	defer c.Unlock()
	d.waitFSFree(c)
	l := d.liveState(c)
	l.mu.Lock()
	stopped := l.stopping
	l.mu.Unlock()
	if !c.State.Restarting || stopped || c.State.RemovalInProgress || d.life.isClosing() {
		if c.State.Restarting {
			c.State.SetStopped(c.State.ExitCode, c.State.OOMKilled)
			saveOrLog(c)
		}
		return
	}
	c.RestartCount++
	if err := d.startLocked(ctx, c, true); err != nil {
		logrus.WithError(err).WithField("container", stringid.TruncateID(c.ID)).Warn("restart failed")
		c.State.SetStopped(c.State.ExitCode, false)
		saveOrLog(c)
		return
	}
	d.logContainerEvent(c, events.ActionRestart, nil)
}

// parseSize reads a size like "10m" or "1g" (docker's RAM-in-bytes units).
func parseSize(s string) (int64, error) {
	return units.RAMInBytes(s)
}
