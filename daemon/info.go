package daemon

import (
	"context"
	"os"
	"runtime"
	"sort"
	"time"

	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"

	"github.com/berthd/berth/daemon/config"
	"github.com/berthd/berth/pkg/sysinfo"
)

// SystemInfo answers GET /info from live host figures.
func (d *Daemon) SystemInfo(ctx context.Context) (*system.Info, error) {
	cfg := d.Config()
	host := sysinfo.ReadHost()
	cg := sysinfo.ReadCgroups()
	fwd := sysinfo.IPv4Forwarding()
	name, _ := os.Hostname()

	info := &system.Info{
		ID:     d.id,
		Images: d.images.Count(),
		Driver: config.DefaultStorage,
		DriverStatus: [][2]string{
			{"Backing Filesystem", sysinfo.BackingFilesystem(cfg.DataRoot)},
			{"Supports d_type", "true"},
			{"Using metacopy", "false"},
			{"Native Overlay Diff", "true"},
			{"userxattr", "false"},
		},
		Plugins: system.PluginsInfo{
			Volume:  d.volumeDriverNames(),
			Network: d.networkDriverNames(),
			Log:     []string{"json-file", "local", "none"},
		},
		MemoryLimit:        cg.MemoryLimit,
		SwapLimit:          cg.SwapLimit,
		CPUCfsPeriod:       cg.CPUCfsPeriod,
		CPUCfsQuota:        cg.CPUCfsQuota,
		CPUShares:          cg.CPUShares,
		CPUSet:             cg.CPUSet,
		PidsLimit:          cg.PidsLimit,
		OomKillDisable:     cg.OomKillDisable,
		IPv4Forwarding:     fwd,
		Debug:              cfg.Debug,
		NFd:                sysinfo.NumFDs(),
		NGoroutines:        runtime.NumGoroutine(),
		SystemTime:         time.Now().Format(time.RFC3339Nano),
		LoggingDriver:      cfg.LogDriver,
		CgroupDriver:       d.cgroupDriverName(),
		CgroupVersion:      cg.Version,
		NEventsListener:    d.events.SubscriberCount(),
		KernelVersion:      host.KernelVersion,
		OperatingSystem:    host.OperatingSystem,
		OSVersion:          host.OSVersion,
		OSType:             runtime.GOOS,
		Architecture:       host.Architecture,
		IndexServerAddress: "https://index.docker.io/v1/",
		RegistryConfig:     registryConfig(cfg),
		NCPU:               host.NCPU,
		MemTotal:           host.MemTotal,
		DockerRootDir:      cfg.DataRoot,
		HTTPProxy:          config.MaskProxyCredentials(proxyEnv("HTTP_PROXY")),
		HTTPSProxy:         config.MaskProxyCredentials(proxyEnv("HTTPS_PROXY")),
		NoProxy:            proxyEnv("NO_PROXY"),
		Name:               name,
		Labels:             append([]string{}, cfg.Labels...),
		ExperimentalBuild:  cfg.Experimental,
		ServerVersion:      Version,
		Runtimes:           runtimes(cfg),
		DefaultRuntime:     cfg.DefaultRuntime,
		Swarm:              swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive},
		LiveRestoreEnabled: cfg.LiveRestore,
		InitBinary:         "",
		SecurityOptions:    securityOptions(cg),
		CDISpecDirs:        cfg.CDISpecDirsInUse(),
		Warnings:           warnings(cfg, cg, fwd),
	}
	if d.networks != nil {
		if fb := d.networks.FirewallBackend(); fb != "" {
			// berth programs netfilter through nftables only, in its own
			// table; say which, as the issue asks.
			info.FirewallBackend = &system.FirewallInfo{Driver: fb, Info: [][2]string{{"Table", "inet " + d.networks.FirewallTable()}}}
		}
	}
	for _, c := range d.containers.List() {
		c.Lock()
		info.Containers++
		switch {
		case c.State.Paused:
			info.ContainersPaused++
		case c.State.Running:
			info.ContainersRunning++
		default:
			info.ContainersStopped++
		}
		c.Unlock()
	}
	for _, p := range cfg.DefaultAddressPools {
		info.DefaultAddressPools = append(info.DefaultAddressPools, system.NetworkAddressPool{Base: p.Base, Size: p.Size})
	}
	return info, nil
}

func proxyEnv(k string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return os.Getenv(lower(k))
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

func registryConfig(cfg *config.Config) *registry.ServiceConfig {
	rc := &registry.ServiceConfig{
		InsecureRegistryCIDRs: nil,
		IndexConfigs:          map[string]*registry.IndexInfo{},
		Mirrors:               append([]string{}, cfg.RegistryMirrors...),
	}
	rc.IndexConfigs["docker.io"] = &registry.IndexInfo{Name: "docker.io", Mirrors: rc.Mirrors, Secure: true, Official: true}
	for _, r := range cfg.InsecureRegistries {
		rc.IndexConfigs[r] = &registry.IndexInfo{Name: r, Mirrors: []string{}, Secure: false}
	}
	return rc
}

func runtimes(cfg *config.Config) map[string]system.RuntimeWithStatus {
	exe, _ := os.Executable()
	out := map[string]system.RuntimeWithStatus{
		config.DefaultRuntime: {Runtime: system.Runtime{Path: exe}},
	}
	for name, r := range cfg.Runtimes {
		out[name] = system.RuntimeWithStatus{Runtime: system.Runtime{Path: r.Path, Args: r.Args}}
	}
	return out
}

// securityOptions lists the confinement the host offers containers, in
// dockerd's "name=…" form.
func securityOptions(cg sysinfo.Cgroups) []string {
	var opts []string
	// Only where profiles are applied: a host whose module is on but that
	// has no apparmor_parser gets none, and must not be told otherwise.
	if appArmor.supported() {
		opts = append(opts, "name=apparmor")
	}
	if _, err := os.Stat("/proc/self/attr/current"); err == nil {
		if b, err := os.ReadFile("/sys/fs/selinux/enforce"); err == nil && len(b) > 0 {
			opts = append(opts, "name=selinux")
		}
	}
	opts = append(opts, "name=seccomp,profile=builtin")
	if cg.Version == "2" {
		opts = append(opts, "name=cgroupns")
	}
	sort.Strings(opts)
	return opts
}

// warnings are the lines `docker info` prints at its end, as dockerd words them.
func warnings(cfg *config.Config, cg sysinfo.Cgroups, fwd bool) []string {
	var w []string
	const attack = "\n         Access to the remote API is equivalent to root access on the host. Refer\n         to the 'Docker daemon attack surface' section in the documentation for\n         more information: https://docs.docker.com/go/attack-surface/"
	useTLS, verify := cfg.APITLS()
	for _, h := range cfg.Hosts {
		const tcp = "tcp://"
		if len(h) <= len(tcp) || h[:len(tcp)] != tcp {
			continue
		}
		addr := h[len(tcp):]
		switch {
		case !useTLS:
			w = append(w, "WARNING: API is accessible on http://"+addr+" without encryption."+attack)
		case !verify:
			w = append(w, "WARNING: API is accessible on https://"+addr+" without TLS client verification."+attack)
		}
	}
	if !cg.MemoryLimit {
		w = append(w, "WARNING: No memory limit support")
	}
	if !cg.SwapLimit {
		w = append(w, "WARNING: No swap limit support")
	}
	if !cg.CPUCfsQuota {
		w = append(w, "WARNING: No cpu cfs quota support")
	}
	if !cg.CPUShares {
		w = append(w, "WARNING: No cpu shares support")
	}
	if !fwd {
		w = append(w, "WARNING: IPv4 forwarding is disabled")
	}
	return w
}
