package daemon

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/container/logs"
	"github.com/berthd/berth/daemon/logger"
	"github.com/berthd/berth/daemon/logger/drivers"
	"github.com/berthd/berth/pkg/atomicfile"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/jsonlog"
	"github.com/berthd/berth/pkg/stringid"
)

// Log drivers that send a container's output elsewhere — a log driver
// plugin, or the built-in syslog, gelf, fluentd, journald, splunk and
// awslogs drivers — work the way dockerd 20.10+ runs them with dual
// logging: the shim writes the output to a local cache, which `docker
// logs` reads, and a forwarder in the daemon follows that cache and hands
// each entry to the driver (a logSink). The container never waits for the driver: a slow or
// dead receiver only delays what it receives, so mode=non-blocking is how
// every such driver runs. What the forwarder has sent is recorded, so
// that a restarted daemon resumes where the last one stopped.

const (
	// logForwardFile records, in the container's directory, the time of
	// the last entry forwarded.
	logForwardFile = "log-forwarded.json"
	// logCacheDir holds the cache, in the container's directory.
	logCacheDir = "container-cached-logs"
)

// logSink is where a forwarder sends one container's entries.
type logSink interface {
	// send delivers one entry; an error ends the forwarding.
	send(e *jsonlog.Entry) error
	// close lets the receiver go, after the last entry or at shutdown.
	close(ctx context.Context)
}

// logForwarder streams one container start's log to its sink.
type logForwarder struct {
	stopped chan struct{} // closed when the container has exited
	done    chan struct{} // closed when the forwarder has finished
	// cancel ends the forwarder at once, for a daemon shutting down: it
	// records what it sent, so that the next daemon neither repeats nor
	// skips a line.
	cancel context.CancelFunc
}

// logForwarders are the forwarders by container ID, from the start of
// their container until they have finished (after its exit: they send
// what is left and record where they got to, in the container's
// directory, which a removal must therefore wait for).
type logForwarders struct {
	mu sync.Mutex
	m  map[string]*logForwarder
}

// checkLogConfig refuses a log driver that is neither built in nor an
// installed plugin offering it, and options the driver does not know,
// with dockerd's words.
func (d *Daemon) checkLogConfig(ctx context.Context, driver string, opts map[string]string) error {
	if err := drivers.Validate(driver, opts); err != nil {
		return errdefs.InvalidParameter(err)
	}
	if drivers.Builtin(driver) {
		return nil
	}
	return d.checkLogPlugin(ctx, driver)
}

// logCache is where the shim writes the cache of a container whose
// driver forwards, with its rotation (cache-max-size and cache-max-file,
// dockerd's 20m × 5 by default).
func logCache(c *ctr.Container, opts map[string]string) (string, map[string]string, error) {
	dir := filepath.Join(c.Root(), logCacheDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, errdefs.System(err)
	}
	rot := map[string]string{"max-size": "20m", "max-file": "5"}
	if v := opts[logger.OptCacheMaxSize]; v != "" {
		rot["max-size"] = v
	}
	if v := opts[logger.OptCacheMaxFile]; v != "" {
		rot["max-file"] = v
	}
	return filepath.Join(dir, "container.log"), rot, nil
}

// containerLogInfo is what a driver is told about c.
func containerLogInfo(c *ctr.Container) logger.Info {
	info := logger.Info{
		Config:           c.HostConfig.LogConfig.Config,
		ContainerID:      c.ID,
		ContainerName:    c.Name,
		ContainerImageID: c.Image,
		ContainerCreated: c.Created,
		LogPath:          c.LogPath,
		DaemonName:       "docker",
	}
	if cfg := c.Config; cfg != nil {
		info.ContainerImageName = cfg.Image
		info.ContainerEnv = cfg.Env
		info.ContainerLabels = cfg.Labels
		args := append(append([]string{}, cfg.Entrypoint...), cfg.Cmd...)
		if len(args) > 0 {
			info.ContainerEntrypoint, info.ContainerArgs = args[0], args[1:]
		}
	}
	return info
}

// startLogForwarder opens a started container's log sink and forwards
// the cache's entries from since on. ctx bounds the set-up; the
// forwarding lasts until the container exits or the daemon shuts down. The
// caller holds c's lock.
func (d *Daemon) startLogForwarder(ctx context.Context, c *ctr.Container, since time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var (
		sink logSink
		err  error
	)
	if drv, ok := drivers.Remote[c.HostConfig.LogConfig.Type]; ok {
		sink, err = openDriverSink(c, drv)
	} else {
		sink, err = d.openPluginSink(ctx, c)
	}
	if err != nil {
		return err
	}
	fctx, fcancel := context.WithCancel(d.life.Context())
	f := &logForwarder{stopped: make(chan struct{}), done: make(chan struct{}), cancel: fcancel}
	d.logForwards.mu.Lock()
	if d.logForwards.m == nil {
		d.logForwards.m = map[string]*logForwarder{}
	}
	if old := d.logForwards.m[c.ID]; old != nil {
		closeOnce(old.stopped)
	}
	d.logForwards.m[c.ID] = f
	d.logForwards.mu.Unlock()
	id, root, path := c.ID, c.Root(), c.LogPath
	d.life.Go(func(context.Context) { d.forwardLog(fctx, id, root, path, since, sink, f) })
	return nil
}

func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// stopLogForwarder tells a container's forwarder that the container has
// exited: it sends what is left in the cache, then stops.
func (d *Daemon) stopLogForwarder(id string) {
	d.logForwards.mu.Lock()
	f := d.logForwards.m[id]
	d.logForwards.mu.Unlock()
	if f != nil {
		closeOnce(f.stopped)
	}
}

// endLogForwarder waits for the forwarder of a container being removed
// to finish, so that its last record is not written into a directory
// being deleted ("directory not empty"); one still busy after a few
// seconds (a receiver that does not answer) is cut short.
func (d *Daemon) endLogForwarder(id string) {
	d.logForwards.mu.Lock()
	f := d.logForwards.m[id]
	d.logForwards.mu.Unlock()
	if f == nil {
		return
	}
	closeOnce(f.stopped)
	select {
	case <-f.done:
	case <-time.After(5 * time.Second):
		f.cancel()
		<-f.done
	}
}

// forwardLog follows the cache at path and hands its entries to sink
// until the container has exited and the cache is read to its end; then
// it closes the sink.
func (d *Daemon) forwardLog(ctx context.Context, id, root, path string, since time.Time, sink logSink, f *logForwarder) {
	defer func() {
		d.logForwards.mu.Lock()
		if d.logForwards.m[id] == f {
			delete(d.logForwards.m, id)
		}
		d.logForwards.mu.Unlock()
	}()
	defer close(f.done)
	defer f.cancel()
	// A driver that waits for an absent receiver (fluentd retrying) is
	// cut short when the daemon shuts down.
	if a, ok := sink.(interface{ abort() }); ok {
		defer context.AfterFunc(ctx, a.abort)()
	}
	var last, kept, keptAt time.Time
	// keep records the last entry sent: at most once a second while the
	// container logs (a chatty container is idle after every burst, and
	// each record is a synced write), and at the end. A daemon killed in
	// between sends at most that second's entries again.
	keep := func(final bool) {
		if !last.After(kept) || !final && time.Since(keptAt) < time.Second {
			return
		}
		b, _ := json.Marshal(struct{ Time time.Time }{last})
		if err := atomicfile.WriteFile(filepath.Join(root, logForwardFile), b, 0o600); err == nil {
			kept, keptAt = last, time.Now()
		}
	}
	idle := func() { keep(false) }
	err := logs.Read(ctx, path, logs.Options{Tail: -1, Follow: true, Stopped: f.stopped, Since: since, NeedTime: true, Idle: idle},
		func(e *jsonlog.Entry) error {
			if err := sink.send(e); err != nil {
				return err
			}
			last = e.Time
			return nil
		})
	if err != nil && ctx.Err() == nil {
		logrus.WithError(err).WithField("container", stringid.TruncateID(id)).Warn("forwarding the log to its driver")
	}
	keep(true)
	// The driver is told even when forwarding ended with the daemon.
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer scancel()
	sink.close(sctx)
}

// endLogForwarders stops every forwarder, for a daemon shutting down, and
// waits a little for each to record what it sent.
func (d *Daemon) endLogForwarders() {
	d.logForwards.mu.Lock()
	all := d.logForwards.m
	d.logForwards.m = nil
	d.logForwards.mu.Unlock()
	for _, f := range all {
		f.cancel()
	}
	timeout := time.After(5 * time.Second)
	for _, f := range all {
		select {
		case <-f.done:
		case <-timeout:
			return
		}
	}
}

// forwardedSince is where a restarted daemon resumes forwarding a
// running container's log: just after the last entry the previous one
// sent, else from the container's start.
func forwardedSince(c *ctr.Container) time.Time {
	b, err := os.ReadFile(filepath.Join(c.Root(), logForwardFile))
	if err == nil {
		var v struct{ Time time.Time }
		if json.Unmarshal(b, &v) == nil && !v.Time.IsZero() {
			return v.Time.Add(time.Nanosecond)
		}
	}
	return c.State.StartedAt
}
