package daemon

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/container/logs"
	"github.com/berthd/berth/pkg/atomicfile"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/jsonlog"
	"github.com/berthd/berth/pkg/stringid"
	volumeplugin "github.com/berthd/berth/volume/plugin"
)

// Log driver plugins (--log-driver NAME of a plugin offering
// "logdriver"), as dockerd 20.10+ runs them: the shim writes the
// container's output to a local cache (dockerd's dual logging), which
// `docker logs` reads, and a forwarder in the daemon follows that cache
// and streams each entry to the plugin through a FIFO, in the plugin
// protocol's framing (a big-endian uint32 length, then a LogEntry
// protobuf). The container never waits for the plugin: a slow or dead
// plugin only delays what it receives. What the forwarder has sent is
// recorded, so that a restarted daemon resumes where the last one
// stopped.

const (
	logDriverKind = "LogDriver"
	// pluginLogDir is where the FIFOs are, as the plugin sees it.
	pluginLogDir = "/run/docker/logging"
	// logForwardFile records, in the container's directory, the time of
	// the last entry forwarded.
	logForwardFile = "log-forwarded.json"
)

// builtinLogDrivers are the drivers the shim writes itself.
var builtinLogDrivers = map[string]bool{"": true, "json-file": true, "local": true, "none": true}

// logForwarder streams one container start's log to a plugin.
type logForwarder struct {
	stopped chan struct{} // closed when the container has exited
	done    chan struct{} // closed when the forwarder has finished
	// cancel ends the forwarder at once, for a daemon shutting down: it
	// records what it sent, so that the next daemon neither repeats nor
	// skips a line.
	cancel context.CancelFunc
}

// logForwarders are the running forwarders by container ID.
type logForwarders struct {
	mu sync.Mutex
	m  map[string]*logForwarder
}

// checkLogDriver refuses a log driver that is neither built in nor an
// installed plugin offering it, with dockerd's words.
func (d *Daemon) checkLogDriver(ctx context.Context, driver string) error {
	if builtinLogDrivers[driver] {
		return nil
	}
	if _, err := d.pluginRegistry.Get(ctx, driver, logDriverKind); err != nil {
		return errdefs.InvalidParameterf("error looking up logging plugin %s: %v", driver, err)
	}
	return nil
}

// pluginLogCache is where the shim writes the cache of a container whose
// driver is a plugin, with its rotation.
func pluginLogCache(c *ctr.Container, opts map[string]string) (string, map[string]string, error) {
	dir := filepath.Join(c.Root(), "container-cached-logs")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, errdefs.System(err)
	}
	rot := map[string]string{"max-size": "20m", "max-file": "5"}
	if v := opts["cache-max-size"]; v != "" {
		rot["max-size"] = v
	}
	if v := opts["cache-max-file"]; v != "" {
		rot["max-file"] = v
	}
	return filepath.Join(dir, "container.log"), rot, nil
}

// logInfo is what StartLogging tells the plugin about the container
// (dockerd's logger.Info).
type logInfo struct {
	Config              map[string]string
	ContainerID         string
	ContainerName       string
	ContainerEntrypoint string
	ContainerArgs       []string
	ContainerImageID    string
	ContainerImageName  string
	ContainerCreated    time.Time
	ContainerEnv        []string
	ContainerLabels     map[string]string
	LogPath             string
	DaemonName          string
}

func containerLogInfo(c *ctr.Container) logInfo {
	info := logInfo{
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

// startLogForwarder connects a started container to its log plugin and
// forwards the cache's entries from since on. ctx bounds the set-up; the
// forwarding lasts until the container exits or the daemon shuts down. The
// caller holds c's lock.
func (d *Daemon) startLogForwarder(ctx context.Context, c *ctr.Container, since time.Time) error {
	driver := c.HostConfig.LogConfig.Type
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	p, err := d.pluginRegistry.Get(ctx, driver, logDriverKind)
	if err != nil {
		return errdefs.InvalidParameterf("error looking up logging plugin %s: %v", driver, err)
	}
	file := pluginLogDir + "/" + stringid.GenerateRandomID()
	host := p.HostPath(file)
	if err := os.MkdirAll(filepath.Dir(host), 0o700); err != nil {
		return errdefs.System(err)
	}
	if err := unix.Mkfifo(host, 0o600); err != nil {
		return errdefs.System(fmt.Errorf("error creating i/o pipe for log plugin %s: %w", driver, err))
	}
	// Read-write: a plugin that has not opened its end yet, or that died,
	// never makes a write fail with EPIPE; the forwarder waits instead.
	fifo, err := os.OpenFile(host, os.O_RDWR, 0)
	if err != nil {
		os.Remove(host)
		return errdefs.System(fmt.Errorf("error creating i/o pipe for log plugin %s: %w", driver, err))
	}
	var ret struct{ Err string }
	err = p.Call(ctx, "LogDriver.StartLogging", struct {
		File string
		Info logInfo
	}{file, containerLogInfo(c)}, &ret)
	if err == nil && ret.Err != "" {
		err = fmt.Errorf("%s", ret.Err)
	}
	if err != nil {
		fifo.Close()
		os.Remove(host)
		return errdefs.System(fmt.Errorf("failed to initialize logging driver: error creating logger: %w", err))
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
	d.life.Go(func(context.Context) { d.forwardLog(fctx, id, root, path, since, p, file, host, fifo, f) })
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
	delete(d.logForwards.m, id)
	d.logForwards.mu.Unlock()
	if f != nil {
		closeOnce(f.stopped)
	}
}

// forwardLog follows the cache at path and writes its entries to fifo
// until the container has exited and the cache is read to its end; then
// it tells the plugin to stop.
func (d *Daemon) forwardLog(ctx context.Context, id, root, path string, since time.Time, p *volumeplugin.Plugin, file, host string, fifo *os.File, f *logForwarder) {
	defer close(f.done)
	defer f.cancel()
	var (
		buf  []byte
		last time.Time
		kept time.Time
	)
	var keptAt time.Time
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
			buf = appendLogEntry(buf[:0], e)
			if _, err := fifo.Write(buf); err != nil {
				return err
			}
			last = e.Time
			return nil
		})
	if err != nil && ctx.Err() == nil {
		logrus.WithError(err).WithField("container", id[:12]).Warn("forwarding the log to its plugin")
	}
	keep(true)
	// The plugin is told even when forwarding ended with the daemon.
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer scancel()
	var ret struct{ Err string }
	if err := p.Call(sctx, "LogDriver.StopLogging", struct{ File string }{file}, &ret); err != nil || ret.Err != "" {
		logrus.WithError(err).WithField("container", id[:12]).WithField("plugin", ret.Err).Warn("StopLogging")
	}
	fifo.Close()
	os.Remove(host)
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

// appendLogEntry appends e in the plugin framing: the length, then the
// LogEntry message (source = 1, time_nano = 2, line = 3, partial = 4).
// The line goes without its newline; one without is partial, as dockerd's
// copier marks it.
func appendLogEntry(dst []byte, e *jsonlog.Entry) []byte {
	line := e.Log
	partial := !bytes.HasSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\n"))
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = appendProtoBytes(dst, 1, []byte(e.Stream))
	if ns := e.Time.UnixNano(); ns != 0 {
		dst = appendProtoVarint(dst, 2, uint64(ns))
	}
	dst = appendProtoBytes(dst, 3, line)
	if partial {
		dst = appendProtoVarint(dst, 4, 1)
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

func appendProtoVarint(dst []byte, field int, v uint64) []byte {
	dst = binary.AppendUvarint(dst, uint64(field<<3|0))
	return binary.AppendUvarint(dst, v)
}

func appendProtoBytes(dst []byte, field int, s []byte) []byte {
	if len(s) == 0 {
		return dst
	}
	dst = binary.AppendUvarint(dst, uint64(field<<3|2))
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}
