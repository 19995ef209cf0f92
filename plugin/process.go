package plugin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/shim"
)

// process is a running plugin: its shim, and the monitor that waits for
// its exit.
type process struct {
	client *shim.Client
	// stopping is set (under Manager.mu) before a stop signals the
	// plugin, so that the monitor does not start it again.
	stopping bool
	// done is closed by the monitor once the exit is recorded.
	done chan struct{}
}

const (
	// defaultEnableTimeout is how long Enable waits for the socket when
	// the client gives no timeout (dockerd's CLI default).
	defaultEnableTimeout = 30 * time.Second
	// stopTimeout is how long a plugin has to end on SIGTERM.
	stopTimeout = 10 * time.Second
	// restartDelay is the wait before a plugin that ended by itself is
	// started again, doubling to maxRestartDelay while it keeps ending.
	restartDelay    = 100 * time.Millisecond
	maxRestartDelay = 10 * time.Second
)

// socketDir is the host directory a plugin sees at /run/docker/plugins.
// Its name is short, as the shims' are, so that the socket's path fits in
// a unix socket address (108 bytes) under a long exec root.
func (m *Manager) socketDir(id string) string { return filepath.Join(m.execRoot, "p", id[:20]) }

func (m *Manager) socketPath(r *record) string {
	return filepath.Join(m.socketDir(r.ID), filepath.Base(r.Config.Interface.Socket))
}

// shimDir is the plugin's shim's directory: socket, log, exit status;
// short for the same reason.
func (m *Manager) shimDir(id string) string { return filepath.Join(m.execRoot, "ps", id[:20]) }

// start runs the plugin and waits for its socket.
func (m *Manager) start(ctx context.Context, e *entry, timeoutSecs int) error {
	m.mu.Lock()
	r := e.rec
	m.mu.Unlock()
	if r.Config.Interface.Socket == "" {
		return errdefs.InvalidParameterf("plugin %s has no socket in its config", r.Name)
	}
	sockDir := m.socketDir(r.ID)
	if err := os.MkdirAll(sockDir, 0o700); err != nil {
		return errdefs.System(err)
	}
	sock := m.socketPath(&r)
	os.Remove(sock)
	if r.Config.PropagatedMount != "" {
		if err := m.mountPropagated(r.ID); err != nil {
			return errdefs.System(fmt.Errorf("error setting up propagated mount dir: %w", err))
		}
	}
	spec, err := m.spec(&r)
	if err != nil {
		return errdefs.InvalidParameter(err)
	}
	dir := m.shimDir(r.ID)
	os.RemoveAll(dir)
	launchCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, err = shim.Launch(launchCtx, shim.LaunchOpts{
		Dir: dir,
		Config: shim.Config{
			ID:          "plugin-" + r.ID,
			Bundle:      dir,
			RuntimeRoot: filepath.Join(m.execRoot, "runtime"),
			Spec:        spec,
			// The plugin's output, for whoever debugs it.
			LogPath:    filepath.Join(m.dir(r.ID), "plugin.log"),
			LogMaxSize: 10 << 20,
			LogMaxFile: 2,
		},
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
	})
	if err != nil {
		os.RemoveAll(dir)
		m.unmountPropagated(r.ID)
		return errdefs.System(fmt.Errorf("plugin %s: %w", r.Name, err))
	}
	client := shim.Dial(dir)
	if err := client.Start(launchCtx); err != nil {
		m.kill(client)
		os.RemoveAll(dir)
		m.unmountPropagated(r.ID)
		return errdefs.System(fmt.Errorf("plugin %s: %w", r.Name, err))
	}
	p := &process{client: client, done: make(chan struct{})}
	m.mu.Lock()
	e.run = p
	m.mu.Unlock()
	go m.monitor(e, p)
	timeout := defaultEnableTimeout
	if timeoutSecs > 0 {
		timeout = time.Duration(timeoutSecs) * time.Second
	}
	if err := waitSocket(ctx, sock, timeout, p.done); err != nil {
		m.stop(e)
		m.unmountPropagated(r.ID)
		return err
	}
	return nil
}

// waitSocket waits until something listens on sock, the plugin ends, or
// the timeout passes.
func waitSocket(ctx context.Context, sock string, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("unix", sock, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return errdefs.Unavailable(fmt.Errorf("plugin did not listen on %s within %s: %w", sock, timeout, err))
		}
		select {
		case <-exited:
			return errdefs.System(fmt.Errorf("plugin exited before listening on its socket: %w", err))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// monitor waits for the plugin's exit; one that ends by itself while it is
// enabled is started again, as dockerd restarts it.
func (m *Manager) monitor(e *entry, p *process) {
	delay := restartDelay
	for {
		p.client.Wait(context.Background())
		m.mu.Lock()
		again := !p.stopping && e.run == p && e.rec.Enabled
		name, id := e.rec.Name, e.rec.ID
		if !again && e.run == p {
			e.run = nil
		}
		m.mu.Unlock()
		os.RemoveAll(m.shimDir(id))
		if !again {
			close(p.done)
			return
		}
		logrus.WithField("plugin", name).Warn("plugin exited; starting it again")
		time.Sleep(delay)
		delay = min(2*delay, maxRestartDelay)
		m.mu.Lock()
		again = !p.stopping && e.rec.Enabled
		m.mu.Unlock()
		if !again {
			close(p.done)
			return
		}
		if err := m.relaunch(e, p); err != nil {
			logrus.WithError(err).WithField("plugin", name).Error("could not start plugin again")
			m.mu.Lock()
			if e.run == p {
				e.run = nil
			}
			m.mu.Unlock()
			close(p.done)
			return
		}
	}
}

// relaunch starts the plugin's process again in p, for the monitor.
func (m *Manager) relaunch(e *entry, p *process) error {
	m.mu.Lock()
	r := e.rec
	m.mu.Unlock()
	spec, err := m.spec(&r)
	if err != nil {
		return err
	}
	// The socket the last process left would refuse the new one's bind.
	os.Remove(m.socketPath(&r))
	dir := m.shimDir(r.ID)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := shim.Launch(ctx, shim.LaunchOpts{
		Dir: dir,
		Config: shim.Config{
			ID: "plugin-" + r.ID, Bundle: dir, RuntimeRoot: filepath.Join(m.execRoot, "runtime"), Spec: spec,
			LogPath: filepath.Join(m.dir(r.ID), "plugin.log"), LogMaxSize: 10 << 20, LogMaxFile: 2,
		},
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
	}); err != nil {
		return err
	}
	return shim.Dial(dir).Start(ctx)
}

// stop ends the plugin's process: SIGTERM, then SIGKILL after
// stopTimeout, and waits for the monitor to record the exit.
func (m *Manager) stop(e *entry) {
	m.mu.Lock()
	p := e.run
	if p != nil {
		p.stopping = true
	}
	m.mu.Unlock()
	if p == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	p.client.Kill(ctx, syscall.SIGTERM, false)
	cancel()
	select {
	case <-p.done:
		return
	case <-time.After(stopTimeout):
	}
	m.kill(p.client)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		logrus.WithField("plugin", e.rec.Name).Warn("plugin did not end on SIGKILL")
	}
}

func (m *Manager) kill(c *shim.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.Kill(ctx, syscall.SIGKILL, true)
}

// adopt takes over a plugin a previous daemon left running, when
// live-restore allows it; otherwise it ends that process. It reports
// whether the plugin runs now.
func (m *Manager) adopt(e *entry) bool {
	dir := m.shimDir(e.rec.ID)
	if _, err := os.Stat(dir); err != nil {
		return false
	}
	client := shim.Dial(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := client.State(ctx)
	alive := err == nil && st.Pid > 0 && st.Exit == nil
	if alive && m.liveRestore {
		p := &process{client: client, done: make(chan struct{})}
		m.mu.Lock()
		e.run = p
		m.mu.Unlock()
		go m.monitor(e, p)
		return true
	}
	if alive {
		m.kill(client)
		client.Wait(ctx)
	}
	os.RemoveAll(dir)
	return false
}

// mountPropagated makes the host side of the plugin's PropagatedMount a
// shared mount point, so that what the plugin mounts beneath it (a
// volume driver's volumes) shows on the host for containers to use.
func (m *Manager) mountPropagated(id string) error {
	// A daemon that died left its mount: one, not a stack of them.
	m.unmountPropagated(id)
	dir := filepath.Join(m.dir(id), propagatedDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(dir, dir, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	return unix.Mount("", dir, "", unix.MS_SHARED|unix.MS_REC, "")
}

// unmountPropagated undoes mountPropagated, and what the plugin left
// mounted beneath.
func (m *Manager) unmountPropagated(id string) {
	dir := filepath.Join(m.dir(id), propagatedDir)
	for {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
				logrus.WithError(err).WithField("plugin", id).Warn("could not unmount the plugin's propagated mount")
			}
			return
		}
	}
}
