package daemon

import (
	"context"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/container"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/daemon/config"
)

// fakeDaemon is a Daemon on temporary roots whose containers run on a
// fakeRuntime. Its configuration keeps the network manager off the
// kernel (no default bridge, no firewall, no forwarding), and its
// containers use the host's network, which needs no namespace wiring:
// nothing it does needs root or outlives the test.
type fakeDaemon struct {
	*Daemon
	rt      *fakeRuntime
	root    string // parent of the data and exec roots
	crashed sync.Once
}

var newDaemonMu sync.Mutex

// testImage is a layerless image every fake daemon has.
const testImage = "busybox:latest"

func newFakeDaemon(t *testing.T, tune ...func(*config.Config)) *fakeDaemon {
	t.Helper()
	return startFakeDaemon(t, t.TempDir(), newFakeRuntime(), tune...)
}

// startFakeDaemon starts a daemon on the roots under root with rt: a
// restart of a fake daemon is another startFakeDaemon on the same root
// and runtime after the first one's crash.
func startFakeDaemon(t *testing.T, root string, rt *fakeRuntime, tune ...func(*config.Config)) *fakeDaemon {
	t.Helper()
	cfg := config.Default()
	cfg.DataRoot = filepath.Join(root, "data")
	cfg.ExecRoot = filepath.Join(root, "exec")
	cfg.BridgeName = "none"
	off := false
	cfg.EnableIPTables, cfg.EnableIPForward, cfg.EnableIP6Tables = &off, &off, &off
	for _, f := range tune {
		f(cfg)
	}
	// New sets process-wide values (image.Version), once per process
	// in production; parallel tests take turns.
	newDaemonMu.Lock()
	d, err := newDaemon(cfg, rt)
	newDaemonMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	fd := &fakeDaemon{Daemon: d, rt: rt, root: root}
	t.Cleanup(fd.crash)
	fd.waitRestored(t)
	if _, err := d.images.Get(testImage); err != nil {
		fd.registerTestImage(t)
	}
	return fd
}

// crash stops the daemon as a kill would leave things: its containers'
// processes and their shims go on, its goroutines that wait on them no
// longer hear from them (see fakeRuntime.cutOff).
//
// A kill also ends the daemon's other goroutines, which Shutdown does not
// wait for: the health loops and pending policy restarts would write into
// the roots after the test, or race the next daemon on them. crash
// disarms them through the dead daemon's memory, which nothing reads
// again: no health record to update, no restart pending.
func (d *fakeDaemon) crash() { d.crashed.Do(d.crashOnce) }

func (d *fakeDaemon) crashOnce() {
	d.rt.cutOff()
	for _, c := range d.containers.List() {
		d.stopHealthMonitor(c)
		c.Lock()
		l := d.liveState(c)
		l.mu.Lock()
		l.stopping = true
		l.mu.Unlock()
		c.State.Health = nil
		c.State.Restarting = false
		c.Unlock()
	}
	d.Shutdown()
}

// restart crashes d and starts another daemon on its roots and runtime.
func (d *fakeDaemon) restart(t *testing.T, tune ...func(*config.Config)) *fakeDaemon {
	t.Helper()
	d.crash()
	return startFakeDaemon(t, d.root, d.rt, tune...)
}

func (d *fakeDaemon) waitRestored(t *testing.T) {
	t.Helper()
	select {
	case <-d.restoreDone():
	case <-time.After(10 * time.Second):
		t.Fatal("restore did not finish")
	}
}

func (d *fakeDaemon) registerTestImage(t *testing.T) {
	t.Helper()
	raw := []byte(`{"architecture":"` + runtime.GOARCH + `","os":"linux","config":{"Cmd":["top"]},"rootfs":{"type":"layers","diff_ids":[]}}`)
	img, _, err := d.images.Register(raw, "")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := reference.ParseNormalizedNamed(testImage)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.images.Tag(img, ref); err != nil {
		t.Fatal(err)
	}
}

// create makes a container named name on the host's network; tune
// changes its host config before the create.
func (d *fakeDaemon) create(t *testing.T, name string, tune ...func(*container.Config, *container.HostConfig)) string {
	t.Helper()
	cfg := &container.Config{Image: testImage}
	hc := &container.HostConfig{NetworkMode: "host"}
	for _, f := range tune {
		f(cfg, hc)
	}
	resp, err := d.ContainerCreate(context.Background(), backend.ContainerCreateConfig{Name: name, Config: cfg, HostConfig: hc})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return resp.ID
}

// run creates and starts a container.
func (d *fakeDaemon) run(t *testing.T, name string, tune ...func(*container.Config, *container.HostConfig)) string {
	t.Helper()
	id := d.create(t, name, tune...)
	if err := d.ContainerStart(context.Background(), id); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return id
}

// locked runs fn on the container ref names, under its lock.
func (d *fakeDaemon) locked(t *testing.T, ref string, fn func(c *ctr.Container)) {
	t.Helper()
	c, err := d.containers.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	c.Lock()
	defer c.Unlock()
	fn(c)
}

// state returns the container's state as inspect names it ("running",
// "exited", "paused", "restarting", ...), or "" once it is gone.
func (d *fakeDaemon) state(t *testing.T, ref string) string {
	t.Helper()
	c, err := d.containers.Get(ref)
	if err != nil {
		return ""
	}
	c.Lock()
	defer c.Unlock()
	return string(c.State.Status())
}

// waitState waits until the container's state is want.
func (d *fakeDaemon) waitState(t *testing.T, ref, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := d.state(t, ref)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is %q, want %q", ref, got, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// withRestart sets the restart policy, "name" or "on-failure:N".
func withRestart(policy string) func(*container.Config, *container.HostConfig) {
	return func(_ *container.Config, hc *container.HostConfig) {
		name, count, _ := strings.Cut(policy, ":")
		hc.RestartPolicy = container.RestartPolicy{Name: container.RestartPolicyMode(name)}
		hc.RestartPolicy.MaximumRetryCount, _ = strconv.Atoi(count)
	}
}
