package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/sirupsen/logrus"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/daemon/config"
	"github.com/berthd/berth/pkg/cgroups"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/faultpoint"
	"github.com/berthd/berth/pkg/runtime"
	"github.com/berthd/berth/pkg/stringid"
	"github.com/berthd/berth/pkg/sysinfo"
)

// ContainerCreate answers POST /containers/create.
func (d *Daemon) ContainerCreate(ctx context.Context, p backend.ContainerCreateConfig) (_ container.CreateResponse, err error) {
	defer timed(d.metrics.ContainerAction, "create", &err)()
	if err := validateConfig(p.Config); err != nil {
		return container.CreateResponse{}, err
	}
	if err := checkExtraResources(p.ExtraResources); err != nil {
		return container.CreateResponse{}, err
	}
	if p.HostConfig == nil {
		p.HostConfig = &container.HostConfig{}
	}
	if err := validateHostConfig(p.HostConfig); err != nil {
		return container.CreateResponse{}, err
	}
	if err := d.checkCgroupParent(p.HostConfig.CgroupParent); err != nil {
		return container.CreateResponse{}, err
	}
	// The built-in drivers, or a plugin offering one, with the daemon's
	// default options merged in as dockerd merges them.
	d.mergeLogConfig(&p.HostConfig.LogConfig)
	if err := d.checkLogConfig(ctx, p.HostConfig.LogConfig.Type, p.HostConfig.LogConfig.Config); err != nil {
		return container.CreateResponse{}, err
	}
	if p.Name != "" {
		if err := ctr.ValidateName(p.Name); err != nil {
			return container.CreateResponse{}, err
		}
	}
	if p.Config.Image == "" {
		return container.CreateResponse{}, errdefs.InvalidParameterf("No image was specified")
	}
	img, err := d.resolveContainerImageFor(ctx, p.Config.Image, p.Platform)
	if err != nil {
		return container.CreateResponse{}, err
	}
	if err := d.validateContainerNetworking(ctx, p.Config, p.HostConfig, p.NetworkingConfig); err != nil {
		return container.CreateResponse{}, err
	}
	cfg := *p.Config
	mergeImageConfig(&cfg, img.Config)
	if len(cfg.Entrypoint) == 0 && len(cfg.Cmd) == 0 {
		return container.CreateResponse{}, errdefs.InvalidParameterf("no command specified")
	}
	if err := d.resolveSharedNamespaces(p.HostConfig); err != nil {
		return container.CreateResponse{}, err
	}
	d.applyHostConfigDefaults(p.HostConfig)
	warnings, err := discardUnsupported(p.HostConfig)
	if err != nil {
		return container.CreateResponse{}, err
	}
	if _, err := d.runtimePath(p.HostConfig.Runtime); err != nil {
		return container.CreateResponse{}, err
	}
	linkTargets, err := d.legacyLinkTargets(p.HostConfig)
	if err != nil {
		return container.CreateResponse{}, err
	}
	if len(p.HostConfig.Links) > 0 && p.HostConfig.NetworkMode.IsBridge() {
		warnings = append(warnings, warnLegacyLinks)
	}

	id := stringid.GenerateRandomID()
	var name string
	if p.Name != "" {
		name = "/" + trimSlash(p.Name)
		if err := d.containers.ReserveName(name, id); err != nil {
			return container.CreateResponse{}, err
		}
	} else if name, err = d.containers.GenerateAndReserveName(id); err != nil {
		return container.CreateResponse{}, err
	}

	mps, err := d.createVolumeMounts(ctx, id, &cfg, p.HostConfig)
	if err != nil {
		d.containers.ReleaseName(name, id)
		return container.CreateResponse{}, err
	}
	c := ctr.New(id, d.containers.Dir(id))
	if err := setVolumeMounts(c, mps); err != nil {
		d.volumes.ReleaseAll(ctx, id)
		d.releaseImageMounts(id, mps)
		d.containers.ReleaseName(name, id)
		return container.CreateResponse{}, err
	}
	c.Name = name
	c.Config = &cfg
	c.HostConfig = p.HostConfig
	if !p.ExtraResources.IsZero() {
		c.ExtraResources = p.ExtraResources
	}
	normalizeNetworkingConfig(p.NetworkingConfig)
	c.NetworkConfig = p.NetworkingConfig
	c.LinkTargets = linkTargets
	c.Image = img.ID
	c.ImageName = p.Config.Image
	c.Path, c.Args = commandOf(&cfg)
	c.LogPath = ""
	if cfg.Hostname == "" && !p.HostConfig.NetworkMode.IsHost() && !p.HostConfig.NetworkMode.IsContainer() {
		cfg.Hostname = id[:12]
	}
	d.initContainerNetworking(c)
	c.Lock()
	if err = d.createRWLayer(c); err == nil {
		faultpoint.Hit("container.create.after-layer")
		if err = c.Save(); err != nil {
			d.releaseRWLayer(c)
			os.RemoveAll(c.Root())
		}
	}
	c.Unlock()
	if err != nil {
		d.volumes.ReleaseAll(ctx, id)
		d.releaseImageMounts(id, mps)
		d.containers.ReleaseName(name, id)
		return container.CreateResponse{}, errdefs.System(err)
	}
	d.containers.Add(c)
	d.containers.ReserveLinks(c)
	d.logContainerEvent(c, events.ActionCreate, nil)
	logrus.WithField("container", id[:12]).Debug("container created")
	return container.CreateResponse{ID: id, Warnings: warnings}, nil
}

func trimSlash(name string) string {
	for len(name) > 0 && name[0] == '/' {
		name = name[1:]
	}
	return name
}

// commandOf splits the effective command into the process path and args,
// as inspect's Path and Args show them.
func commandOf(cfg *container.Config) (string, []string) {
	cmd := append(append([]string{}, cfg.Entrypoint...), cfg.Cmd...)
	if len(cmd) == 0 {
		return "", []string{}
	}
	return cmd[0], cmd[1:]
}

// applyHostConfigDefaults fills what dockerd fills at create: the network
// mode, the log driver and its options, the default ulimits.
// resolveSharedNamespaces records the container whose PID or IPC
// namespace hc shares by ID, as dockerd does, so that a rename of that
// container keeps the link; a PID container that does not exist is bad
// input (400).
func (d *Daemon) resolveSharedNamespaces(hc *container.HostConfig) error {
	if hc.PidMode.IsContainer() {
		c, err := d.containers.Get(hc.PidMode.Container())
		if err != nil {
			return errdefs.InvalidParameterf("%v", err)
		}
		hc.PidMode = container.PidMode("container:" + c.ID)
	}
	if hc.IpcMode.IsContainer() {
		if c, err := d.containers.Get(hc.IpcMode.Container()); err == nil {
			hc.IpcMode = container.IpcMode("container:" + c.ID)
		}
	}
	return nil
}

// mergeLogConfig fills the daemon's log driver when lc names none, and
// the daemon's log-opts when lc's driver is the daemon's (keys lc sets
// win); the cache-* options of the daemon apply to any driver.
func (d *Daemon) mergeLogConfig(lc *container.LogConfig) {
	cfg := d.Config()
	if lc.Type == "" {
		lc.Type = cfg.LogDriver
	}
	for k, v := range cfg.LogOpts {
		if lc.Type != cfg.LogDriver && !strings.HasPrefix(k, "cache-") {
			continue
		}
		if _, ok := lc.Config[k]; ok {
			continue
		}
		if lc.Config == nil {
			lc.Config = map[string]string{}
		}
		lc.Config[k] = v
	}
}

func (d *Daemon) applyHostConfigDefaults(hc *container.HostConfig) {
	cfg := d.Config()
	// The CLI sends "default"; dockerd records the network it means.
	if hc.NetworkMode == "" || hc.NetworkMode == "default" {
		hc.NetworkMode = "bridge"
	}
	d.mergeLogConfig(&hc.LogConfig)
	if hc.Runtime == "" {
		hc.Runtime = cfg.DefaultRuntime
	}
	if hc.RestartPolicy.Name == "" {
		hc.RestartPolicy.Name = container.RestartPolicyDisabled
	}
	if hc.ShmSize == 0 {
		hc.ShmSize = 64 << 20
		if cfg.DefaultShmSize > 0 {
			hc.ShmSize = int64(cfg.DefaultShmSize)
		}
	}
	// dockerd records the default masked and read-only paths at create,
	// so inspect shows them and a daemon upgrade does not change them.
	if !hc.Privileged && (hc.MaskedPaths == nil || hc.ReadonlyPaths == nil) {
		def := runtime.DefaultSpec().Linux
		if hc.MaskedPaths == nil {
			hc.MaskedPaths = def.MaskedPaths
		}
		if hc.ReadonlyPaths == nil {
			hc.ReadonlyPaths = def.ReadonlyPaths
		}
	}
	if hc.CgroupnsMode == "" {
		hc.CgroupnsMode = container.CgroupnsMode(cfg.DefaultCgroupnsMode)
	}
	if hc.CgroupnsMode == "" {
		hc.CgroupnsMode = container.CgroupnsModeHost
		if cgroups.IsV2() { // probed once per process
			hc.CgroupnsMode = container.CgroupnsModePrivate
		}
	}
	if hc.IpcMode == "" {
		hc.IpcMode = container.IpcMode(cfg.DefaultIpcMode)
	}
	if hc.IpcMode == "" {
		hc.IpcMode = container.IPCModePrivate
	}
}

// logContainerEvent logs an event about c with the attributes dockerd
// attaches: name, image and the container's labels, plus extra.
func (d *Daemon) logContainerEvent(c *ctr.Container, action events.Action, extra map[string]string) {
	attrs := map[string]string{}
	if c.Config != nil {
		for k, v := range c.Config.Labels {
			attrs[k] = v
		}
		attrs["image"] = c.Config.Image
	}
	attrs["name"] = trimSlash(c.Name)
	for k, v := range extra {
		attrs[k] = v
	}
	d.events.Log(events.ContainerEventType, action, events.Actor{ID: c.ID, Attributes: attrs})
}

// runtimePath is the binary of an --add-runtime runtime, "" for berth's
// own, or dockerd's error for a name the daemon does not know.
func (d *Daemon) runtimePath(name string) (string, error) {
	cfg := d.Config()
	if name == "" || name == config.DefaultRuntime {
		return "", nil
	}
	if r, ok := cfg.Runtimes[name]; ok {
		return r.Path, nil
	}
	return "", errdefs.InvalidParameterf("unknown or invalid runtime name: %s", name)
}

// discardUnsupported drops the resource settings this host's cgroups
// cannot enforce, with dockerd's warnings (its
// verifyPlatformContainerResources), instead of leaving them to fail the
// start: a v2 host whose daemon cgroup was not given the memory or pids
// controller, a kernel without swap accounting. --cpus without CFS is
// refused, as by dockerd. Create and update both use it.
func discardUnsupported(hc *container.HostConfig) ([]string, error) {
	warnings := []string{}
	cg := hostCgroups()
	r := &hc.Resources
	if r.Memory > 0 && !cg.MemoryLimit {
		warnings = append(warnings, "Your kernel does not support memory limit capabilities or the cgroup is not mounted. Limitation discarded.")
		r.Memory = 0
		r.MemorySwap = -1
	}
	if r.Memory > 0 && r.MemorySwap != -1 && !cg.SwapLimit {
		warnings = append(warnings, "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.")
		r.MemorySwap = -1
	}
	if r.MemoryReservation > 0 && !cg.MemoryReservation {
		warnings = append(warnings, "Your kernel does not support memory soft limit capabilities or the cgroup is not mounted. Limitation discarded.")
		r.MemoryReservation = 0
	}
	if r.OomKillDisable != nil && !cg.OomKillDisable {
		if *r.OomKillDisable {
			warnings = append(warnings, "Your kernel does not support OomKillDisable. OomKillDisable discarded.")
		}
		r.OomKillDisable = nil
	}
	if r.OomKillDisable != nil && *r.OomKillDisable && r.Memory == 0 {
		warnings = append(warnings, "OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.")
	}
	if r.PidsLimit != nil && !cg.PidsLimit {
		if *r.PidsLimit > 0 {
			warnings = append(warnings, "Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. PIDs limit discarded.")
		}
		r.PidsLimit = nil
	}
	if r.NanoCPUs > 0 && !cg.CPUCfsQuota {
		return warnings, errdefs.InvalidParameterf("NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the cgroup is not mounted")
	}
	if r.CPUShares > 0 && !cg.CPUShares {
		warnings = append(warnings, "Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded.")
		r.CPUShares = 0
	}
	if (r.CPUPeriod != 0 || r.CPUQuota != 0) && !cg.CPUCfsQuota {
		warnings = append(warnings, "Your kernel does not support CPU CFS scheduler. CPU period/quota discarded.")
		r.CPUPeriod, r.CPUQuota = 0, 0
	}
	if (r.CpusetCpus != "" || r.CpusetMems != "") && !cg.CPUSet {
		warnings = append(warnings, "Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded.")
		r.CpusetCpus, r.CpusetMems = "", ""
	}
	if hc.BlkioWeight > 0 && !blkioWeightSupported() {
		warnings = append(warnings, "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.")
		hc.BlkioWeight = 0
	}
	if len(hc.BlkioWeightDevice) > 0 && !blkioWeightSupported() {
		warnings = append(warnings, "Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.")
		hc.BlkioWeightDevice = nil
	}
	return warnings, nil
}

// hostCgroups is what the host's cgroups can enforce, probed once: the
// controllers a daemon's cgroup has do not change while it runs.
var hostCgroups = sync.OnceValue(sysinfo.ReadCgroups)

// blkioWeightSupported reports whether the cgroup offers the weight file
// the runtime writes (v1 blkio.weight, v2 io.weight).
func blkioWeightSupported() bool {
	if _, err := os.Stat("/sys/fs/cgroup/blkio/blkio.weight"); err == nil {
		return true
	}
	matches, _ := filepath.Glob("/sys/fs/cgroup/*/io.weight")
	return len(matches) > 0
}
