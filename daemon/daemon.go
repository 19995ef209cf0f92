package daemon

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/berthd/berth/image/buildkit"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/container"
	"github.com/berthd/berth/daemon/config"
	daemonevents "github.com/berthd/berth/daemon/events"
	"github.com/berthd/berth/image"
	"github.com/berthd/berth/image/distribution"
	"github.com/berthd/berth/metrics"
	berthnet "github.com/berthd/berth/network"
	"github.com/berthd/berth/pkg/atomicfile"
	"github.com/berthd/berth/pkg/cgroups/systemd"
	berthplugin "github.com/berthd/berth/plugin"
	volumeplugin "github.com/berthd/berth/volume/plugin"
	volumesvc "github.com/berthd/berth/volume/service"
)

// Daemon is one running engine.
type Daemon struct {
	mu     sync.RWMutex
	cfg    *config.Config
	id     string
	events *daemonevents.Bus
	lock   *os.File
	start  time.Time

	images  *image.Service
	volumes *volumesvc.Service
	plugins *berthplugin.Manager
	// pluginRegistry finds the plugins the engine calls: volume drivers
	// and authorization plugins, managed or legacy.
	pluginRegistry *volumeplugin.Registry
	// authzOff are the authorization plugins taken out of the chain by
	// `docker plugin disable` until the next reload, as dockerd takes
	// them out; under mu.
	authzOff map[string]bool
	// logForwards stream the logs of containers whose driver forwards
	// (a remote driver or a plugin) from their local cache.
	logForwards logForwarders
	networks    *berthnet.Manager
	containers  *container.Store
	// containerReleasers free what a removed container held.
	containerReleasers []containerReleaser
	liveMu             sync.Mutex
	lives              map[string]*live
	execMu             sync.Mutex
	execs              map[string]*execConfig
	execWaits          map[string]chan struct{}
	restoreOnce        sync.Once
	restored           chan struct{}
	distOnce           sync.Once
	dist               *distribution.Service
	// life owns the goroutines the daemon starts; Shutdown ends them.
	life lifetime
	// ctrRuntime mounts containers' roots and runs their shims; nil is
	// shimRuntime (see containerRuntime).
	ctrRuntime containerRuntime
	// metrics records action timings, health checks and OOM kills for
	// metrics-addr; nil records nothing.
	metrics *metrics.Recorder
	// podState is the CRI's pod sandboxes (pod_sandbox*.go).
	podState podSandboxes
	// buildkit is the embedded BuildKit (buildkit.go); nil when
	// features.buildkit is false.
	buildkit *buildkit.Builder
	// systemd is the connection of the systemd cgroup driver
	// (cgroup_driver.go); nil under cgroupfs.
	systemd *systemd.Client
}

// backgroundWaitTimeout bounds how long Shutdown waits for the background
// work once its context has ended: a goroutine stuck in a call that does
// not honour its context must not keep the daemon from exiting.
const backgroundWaitTimeout = 10 * time.Second

// New prepares the data and exec roots and takes the data-root lock, so that
// a second daemon on the same data-root is refused whatever its pidfile.
func New(cfg *config.Config) (*Daemon, error) { return newDaemon(cfg, shimRuntime{}) }

// newDaemon is New with the containers' runtime given: set before the
// restore of the containers found on disk starts, which uses it.
func newDaemon(cfg *config.Config, rt containerRuntime) (*Daemon, error) {
	for _, dir := range []string{cfg.DataRoot, cfg.ExecRoot} {
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return nil, err
		}
	}
	lock, err := lockRoot(cfg.DataRoot)
	if err != nil {
		return nil, err
	}
	id, err := engineID(cfg.DataRoot)
	if err != nil {
		lock.Close()
		return nil, err
	}
	d := &Daemon{cfg: cfg, id: id, events: daemonevents.New(), lock: lock, start: time.Now(), metrics: metrics.NewRecorder()}
	d.ctrRuntime = rt
	if cfg.CgroupDriver() == config.CgroupDriverSystemd {
		// Dialled on first use: the daemon's start does not wait for
		// systemd.
		d.systemd = systemd.NewClient()
	}
	if err := d.ensureInitLayer(); err != nil {
		lock.Close()
		return nil, fmt.Errorf("init layer: %w", err)
	}
	d.images = d.newImageService()
	if d.buildkit, err = d.newBuildKit(cfg); err != nil {
		lock.Close()
		return nil, fmt.Errorf("buildkit: %w", err)
	}
	if d.plugins, err = d.newPluginManager(); err != nil {
		lock.Close()
		return nil, fmt.Errorf("plugins: %w", err)
	}
	if err := d.initVolumes(); err != nil {
		lock.Close()
		return nil, err
	}
	if d.networks, err = newNetworkManager(cfg, id, d.pluginRegistry); err != nil {
		lock.Close()
		return nil, err
	}
	// Bridges and netfilter are set up off the start path; network API
	// calls wait for it, /_ping does not.
	d.networks.Start()
	if err := d.initContainers(); err != nil {
		lock.Close()
		return nil, err
	}
	d.life.Go(func(context.Context) { loadAppArmorDefault() })
	d.life.Go(d.trimAfterStart)
	d.life.Go(func(ctx context.Context) {
		// Enabled plugins first: containers' volumes may need them.
		d.plugins.Restore(ctx)
		d.restoreContainers(ctx)
		d.cleanStaleScopes(ctx)
	})
	return d, nil
}

// lockRoot takes an exclusive flock on DATA_ROOT/berthd.lock. The kernel
// drops it when the process dies, so a daemon killed -9 never blocks the
// next start. The file is open read-only (flock needs no more): a file
// open for writing for the daemon's lifetime would keep an administrator
// from remounting the data-root read-only ("mount point is busy").
func lockRoot(root string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(root, "berthd.lock"), os.O_RDONLY|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("data-root %s is in use by another berthd", root)
		}
		return nil, err
	}
	return f, nil
}

// engineID returns the daemon's persistent identity (DATA_ROOT/engine-id),
// creating it on first start. `docker info` shows it as ID.
func engineID(root string) (string, error) {
	p := filepath.Join(root, "engine-id")
	if b, err := os.ReadFile(p); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		return "", err
	}
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	id := fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
	if err := atomicfile.WriteFile(p, []byte(id), 0o600); err != nil {
		return "", err
	}
	return id, nil
}

// ID is the engine's persistent identity.
func (d *Daemon) ID() string { return d.id }

// Config returns the live configuration. Callers must not modify it.
func (d *Daemon) Config() *config.Config {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.cfg
}

// Events is the event bus managers log to.
func (d *Daemon) Events() *daemonevents.Bus { return d.events }

// Reload applies the reloadable settings of next (the configuration read
// again after SIGHUP) and logs a `daemon reload` event carrying the new
// values, as dockerd does.
func (d *Daemon) Reload(next *config.Config) error {
	if err := next.Validate(); err != nil {
		return err
	}
	d.mu.Lock()
	updated := d.cfg.Clone()
	changed := updated.ApplyReload(next)
	d.cfg = updated
	// The chain is the configuration's again, as dockerd's SetPlugins.
	d.authzOff = nil
	d.mu.Unlock()

	if lvl, err := logrus.ParseLevel(updated.LogLevel); err == nil {
		if updated.Debug {
			lvl = logrus.DebugLevel
		}
		logrus.SetLevel(lvl)
	}
	logrus.WithField("changed", changed).Info("configuration reloaded")
	if d.networks != nil {
		// SIGHUP is also how an administrator who flushed the ruleset gets
		// berth's rules back without waiting for the next network change.
		if err := d.networks.ReconcileFirewall(); err != nil {
			logrus.WithError(err).Error("re-applying nftables rules")
		}
	}
	d.events.Log(events.DaemonEventType, events.ActionReload, events.Actor{
		ID:         d.id,
		Attributes: reloadAttributes(d.id, updated),
	})
	return nil
}

func reloadAttributes(id string, c *config.Config) map[string]string {
	host, _ := os.Hostname()
	join := func(v []string) string { return "[" + strings.Join(v, " ") + "]" }
	runtimes := make([]string, 0, len(c.Runtimes)+1)
	runtimes = append(runtimes, config.DefaultRuntime)
	for name := range c.Runtimes {
		runtimes = append(runtimes, name)
	}
	return map[string]string{
		"name":                     host,
		"debug":                    fmt.Sprint(c.Debug),
		"log-level":                c.LogLevel,
		"labels":                   join(c.Labels),
		"live-restore":             fmt.Sprint(c.LiveRestore),
		"max-concurrent-downloads": fmt.Sprint(c.MaxConcurrentDownloads),
		"max-concurrent-uploads":   fmt.Sprint(c.MaxConcurrentUploads),
		"insecure-registries":      join(c.InsecureRegistries),
		"registry-mirrors":         join(c.RegistryMirrors),
		"default-runtime":          c.DefaultRuntime,
		"runtimes":                 join(runtimes),
		"shutdown-timeout":         fmt.Sprint(c.ShutdownTimeout),
		"experimental":             fmt.Sprint(c.Experimental),
	}
}

// Shutdown ends the daemon's background work (waiting for it a bounded
// time), event subscriptions and plugins, and releases the data-root lock.
// The containers are stopped before (StopContainersForShutdown), or left
// running with live-restore.
func (d *Daemon) Shutdown() {
	d.life.beginShutdown()
	d.endLogForwarders()
	if !d.life.finish(backgroundWaitTimeout) {
		logrus.Warnf("background work still running %s after shutdown began; exiting anyway", backgroundWaitTimeout)
	}
	if d.plugins != nil {
		d.plugins.Shutdown()
	}
	if d.buildkit != nil {
		if err := d.buildkit.Close(); err != nil {
			logrus.WithError(err).Warn("stopping buildkit")
		}
	}
	d.events.Close()
	if d.networks != nil {
		// With live-restore the containers' NAT must outlive the daemon.
		d.networks.Close(d.Config().LiveRestore)
	}
	if d.systemd != nil {
		d.systemd.Close()
	}
	if d.lock != nil {
		d.lock.Close()
	}
}
