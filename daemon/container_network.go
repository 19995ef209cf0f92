package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"

	ctr "github.com/berthd/berth/container"
	berthnet "github.com/berthd/berth/network"
	"github.com/berthd/berth/network/etchosts"
	"github.com/berthd/berth/network/resolvconf"
	"github.com/berthd/berth/pkg/errdefs"
)

// dockerd's messages for network modes that cannot be combined.
var (
	errSharedNetwork     = errors.New("container sharing network namespace with another container or host cannot be connected to any other network")
	errNoNetworkConflict = errors.New("container cannot be connected to multiple networks with one of the networks in private (none) mode")
	errHostNetwork       = errors.New("container cannot be disconnected from host network or connected to host network")
	errNetworkAndIP      = errors.New("user specified IP address is supported on user defined networks only")
	errNetworkAndAlias   = errors.New("network-scoped alias is supported only for containers in user defined networks")
)

// namespacePaths resolves the container:<id> modes to the namespaces of
// the running target.
func (d *Daemon) namespacePaths(c *ctr.Container) (map[specs.LinuxNamespaceType]string, error) {
	paths := map[specs.LinuxNamespaceType]string{}
	join := func(mode string, t specs.LinuxNamespaceType, file string) error {
		ref, ok := strings.CutPrefix(mode, "container:")
		if !ok {
			return nil
		}
		target, err := d.containers.Get(ref)
		if err != nil {
			return err
		}
		if target.ID == c.ID {
			return errdefs.InvalidParameterf("cannot join own namespace")
		}
		target.Lock()
		pid, running := target.State.Pid, target.State.Running
		target.Unlock()
		if !running || pid == 0 {
			switch t {
			case specs.PIDNamespace:
				return errdefs.System(fmt.Errorf("failed to join PID namespace: container %s is not running", target.ID))
			case specs.IPCNamespace:
				return errdefs.System(fmt.Errorf("failed to join IPC namespace: container %s is not running", target.ID))
			}
			return errdefs.Conflictf("cannot join network namespace of a non running container: container %s is exited", target.ID)
		}
		paths[t] = fmt.Sprintf("/proc/%d/ns/%s", pid, file)
		return nil
	}
	hc := c.HostConfig
	if err := join(string(hc.NetworkMode), specs.NetworkNamespace, "net"); err != nil {
		return nil, err
	}
	if err := join(string(hc.IpcMode), specs.IPCNamespace, "ipc"); err != nil {
		return nil, err
	}
	if err := join(string(hc.PidMode), specs.PIDNamespace, "pid"); err != nil {
		return nil, err
	}
	return paths, nil
}

// validateContainerNetworking is the create-time check of a container's
// networking: the networks exist, the endpoint settings fit them, the
// ports and extra hosts parse. Bad input is refused with dockerd's
// messages before anything is created.
func (d *Daemon) validateContainerNetworking(ctx context.Context, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) error {
	mode := berthnet.ParseMode(string(hc.NetworkMode))
	if nc != nil && len(nc.EndpointsConfig) > 1 && mode.Kind != "bridge" {
		if mode.Kind == "none" {
			return errdefs.InvalidParameter(errNoNetworkConflict)
		}
		return errdefs.InvalidParameter(errSharedNetwork)
	}
	if mode.Kind == "container" {
		if len(hc.PortBindings) > 0 || hc.PublishAllPorts {
			return errdefs.InvalidParameterf("conflicting options: port publishing and the container type network mode")
		}
		if len(hc.DNS) > 0 || len(hc.DNSSearch) > 0 || len(hc.DNSOptions) > 0 {
			return errdefs.InvalidParameterf("conflicting options: dns and the network mode")
		}
		if len(hc.ExtraHosts) > 0 {
			return errdefs.InvalidParameterf("conflicting options: custom host-to-IP mapping and the network mode")
		}
		if _, err := d.containers.Get(mode.Container); err != nil {
			return err
		}
	}
	if mode.Kind == "host" && len(hc.Links) > 0 {
		return errdefs.InvalidParameterf("conflicting options: host type networking can't be used with links. This would result in undefined behavior")
	}
	// A network that does not exist yet is no error at create: dockerd
	// fails the start instead (a 404 here makes the CLI pull the image).
	if mode.Kind == "bridge" && d.networks != nil {
		if _, err := d.networks.Find(ctx, mode.Network); err != nil && !errdefs.Is(err, errdefs.NotFound) {
			return err
		}
	}
	if nc != nil && d.networks != nil {
		for name, es := range nc.EndpointsConfig {
			if es == nil {
				continue
			}
			if name == "default" {
				// The CLI names the network mode's network "default"
				// when --network is not given.
				if mode.Kind != "bridge" {
					continue
				}
				name = mode.Network
			}
			r, err := d.networks.Find(ctx, name)
			if errdefs.Is(err, errdefs.NotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if err := validateEndpointSettings(r, es); err != nil {
				return err
			}
		}
	}
	for _, h := range hc.ExtraHosts {
		if _, err := etchosts.ParseExtraHost(h, []netip.Addr{netip.IPv4Unspecified()}); err != nil {
			return errdefs.InvalidParameter(err)
		}
	}
	if _, err := portSpecs(cfg, hc); err != nil {
		return err
	}
	for _, l := range hc.Links {
		name, _, _ := strings.Cut(l, ":")
		if _, err := d.containers.Get(strings.TrimPrefix(name, "/")); err != nil {
			// A bad reference in the request, as dockerd classes it: 400.
			return errdefs.InvalidParameterf("could not get container for %s: %v", strings.TrimPrefix(name, "/"), err)
		}
	}
	return nil
}

// validateEndpointSettings applies dockerd's rules for endpoint settings on
// network r.
func validateEndpointSettings(r *berthnet.Record, es *network.EndpointSettings) error {
	var errs []error
	userDefined := !r.Predefined
	if !userDefined {
		if es.IPAMConfig != nil && (es.IPAMConfig.IPv4Address.IsValid() || es.IPAMConfig.IPv6Address.IsValid()) {
			errs = append(errs, errNetworkAndIP)
		}
		if len(es.Aliases) > 0 {
			errs = append(errs, errNetworkAndAlias)
		}
	}
	if berthnet.HasEndpoints(r.Driver) && es.IPAMConfig != nil {
		check := func(a netip.Addr) {
			if !a.IsValid() {
				return
			}
			if a.Is6() && !r.EnableIPv6 {
				errs = append(errs, fmt.Errorf("cannot use IPv6 address %s: IPv6 is not enabled on network %s", a, r.Name))
				return
			}
			for _, cfg := range r.IPAMConfig {
				p := cfg.Subnet
				if cfg.IPRange.IsValid() {
					p = cfg.IPRange
				}
				if p.Contains(a) {
					return
				}
			}
			errs = append(errs, fmt.Errorf("no configured subnet or ip-range contain the IP address %s", a))
		}
		if userDefined {
			check(es.IPAMConfig.IPv4Address)
			check(es.IPAMConfig.IPv6Address)
		}
	}
	if len(es.MacAddress) > 0 && len(es.MacAddress) != 6 {
		errs = append(errs, fmt.Errorf("invalid MAC address %s", es.MacAddress))
	}
	errs = append(errs, endpointSysctlErrors(es)...)
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errdefs.InvalidParameterf("invalid endpoint settings:\n%s", errs[0])
	}
	parts := make([]string, len(errs))
	for i, e := range errs {
		parts[i] = e.Error()
	}
	return errdefs.InvalidParameterf("invalid endpoint settings:\n* %s", strings.Join(parts, "\n* "))
}

// initContainerNetworking fills a new container's NetworkSettings as
// dockerd does at create: one entry per network with the configuration
// only, no addresses.
func (d *Daemon) initContainerNetworking(c *ctr.Container) {
	ns := &container.NetworkSettings{Networks: map[string]*network.EndpointSettings{}}
	c.NetworkSettings = ns
	mode := berthnet.ParseMode(string(c.HostConfig.NetworkMode))
	switch mode.Kind {
	case "container":
		return
	case "host", "none":
		ns.Networks[mode.Kind] = d.configuredEndpoint(c, mode.Kind)
		return
	}
	for _, name := range d.joinNames(c) {
		ns.Networks[name] = d.configuredEndpoint(c, name)
	}
}

// configuredEndpoint is a network entry with the user's configuration and
// no operational data.
func (d *Daemon) configuredEndpoint(c *ctr.Container, name string) *network.EndpointSettings {
	es := &network.EndpointSettings{}
	if c.NetworkConfig != nil {
		if cfg := c.NetworkConfig.EndpointsConfig[name]; cfg != nil {
			es.IPAMConfig = cfg.IPAMConfig.Copy()
			es.Links = slices.Clone(cfg.Links)
			es.Aliases = slices.Clone(cfg.Aliases)
			es.DriverOpts = cfg.DriverOpts
			es.GwPriority = cfg.GwPriority
			es.MacAddress = cfg.MacAddress
		}
	}
	if d.networks != nil {
		if r, err := d.networks.Find(context.Background(), name); err == nil {
			es.NetworkID = r.ID
		}
	}
	return es
}

// networkNames lists the networks a bridge-mode container joins, as
// dockerd decides them: the EndpointsConfig networks when there are any
// (its NetworkMode's first, and only if listed: the CLI lists it, an API
// client need not), else the NetworkMode's network alone.
func networkNames(c *ctr.Container) []string {
	mode := berthnet.ParseMode(string(c.HostConfig.NetworkMode))
	if mode.Kind != "bridge" {
		return nil
	}
	if c.NetworkConfig == nil || c.NetworkConfig.EndpointsConfig == nil {
		return []string{mode.Network}
	}
	var out, rest []string
	for name := range c.NetworkConfig.EndpointsConfig {
		if name == mode.Network || mode.Network == berthnet.NameBridge && name == "default" {
			out = []string{mode.Network}
		} else {
			rest = append(rest, name)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

func (d *Daemon) endpointConfig(c *ctr.Container, name string) *network.EndpointSettings {
	if c.NetworkConfig == nil {
		return nil
	}
	if cfg := c.NetworkConfig.EndpointsConfig[name]; cfg != nil {
		return cfg
	}
	return d.endpointConfigByID(c, name)
}

// joinNetworks connects a created (not yet started) container, whose
// network namespace belongs to pid, to its networks: every endpoint, the
// published ports, the embedded DNS server, and the final /etc/hosts and
// /etc/resolv.conf. The caller holds c's lock. On error what was set up
// is undone by cleanupNetwork, which the caller runs.
func (d *Daemon) joinNetworks(ctx context.Context, c *ctr.Container, pid int) error {
	mode := berthnet.ParseMode(string(c.HostConfig.NetworkMode))
	ns := &container.NetworkSettings{Networks: map[string]*network.EndpointSettings{}}
	c.NetworkSettings = ns
	c.JoinOrder = nil
	if d.networks == nil {
		return nil
	}
	switch mode.Kind {
	case "container":
		return nil
	case "host":
		ns.Networks[berthnet.NameHost] = d.configuredEndpoint(c, berthnet.NameHost)
		return nil
	case "none":
		ns.Networks[berthnet.NameNone] = d.configuredEndpoint(c, berthnet.NameNone)
		ns.SandboxID, ns.SandboxKey = newSandboxID(), netnsPath(pid)
		_, err := d.networks.AttacherFor(mode).Attach(ctx, netnsPath(pid), berthnet.JoinOptions{ContainerID: c.ID, Pid: pid})
		return err
	}
	ns.SandboxID, ns.SandboxKey = newSandboxID(), netnsPath(pid)
	names := d.joinNames(c)
	for i, name := range names {
		if err := d.joinOne(ctx, c, name, pid); err != nil {
			// The networks not joined stay in the settings, configured:
			// a failed start must not take the container's connections
			// (the next one joins what the settings name).
			for _, rest := range names[i:] {
				if _, ok := ns.Networks[rest]; !ok {
					ns.Networks[rest] = d.configuredEndpoint(c, rest)
				}
			}
			return err
		}
	}
	if gw := d.gatewayNetwork(c); gw != "" {
		if err := d.publishPorts(ctx, c, gw); err != nil {
			return err
		}
		if err := d.openRoutedPorts(ctx, c, gw); err != nil {
			return err
		}
	}
	if err := d.startDNSIfNeeded(c); err != nil {
		return err
	}
	return d.rewriteEtcFiles(c)
}

// gatewayNetwork is the network whose endpoint gives the container its
// gateway, where its ports are published: the one the network manager
// chose, else (no network gives a gateway) the one of highest
// gw-priority, NetworkMode's on a tie; empty on no network at all.
func (d *Daemon) gatewayNetwork(c *ctr.Container) string {
	// The endpoint the network manager made the container's gateway
	// (dockerd's order: priority, not internal, dual-stack, name).
	if d.networks != nil {
		if name := d.networks.GatewayNetwork(c.ID); name != "" {
			return name
		}
	}
	names := networkNames(c)
	if len(names) == 0 {
		// On no network at all (all disconnected while it was stopped).
		return ""
	}
	best, prio := names[0], 0
	if es := d.endpointConfig(c, best); es != nil {
		prio = es.GwPriority
	}
	for _, n := range names[1:] {
		if es := d.endpointConfig(c, n); es != nil && es.GwPriority > prio {
			best, prio = n, es.GwPriority
		}
	}
	return best
}

// openRoutedPorts opens the container's ports on its endpoints other than
// the gateway's, for the families in gateway mode routed there (dockerd
// does the same; nothing is mapped on the host for them).
func (d *Daemon) openRoutedPorts(ctx context.Context, c *ctr.Container, gw string) error {
	for _, name := range networkNames(c) {
		if name == gw {
			continue
		}
		if err := d.openRoutedOn(ctx, c, name); err != nil {
			return err
		}
	}
	return nil
}

// openRoutedOn opens the container's ports on its endpoint on one network
// that is not its gateway's.
func (d *Daemon) openRoutedOn(ctx context.Context, c *ctr.Container, name string) error {
	reqs, err := portSpecs(c.Config, c.HostConfig)
	if err != nil || len(reqs) == 0 {
		return err
	}
	var specs []berthnet.PortSpec
	for _, r := range reqs {
		specs = append(specs, berthnet.PortSpec{Proto: string(r.port.Proto()), HostIP: r.hostIP, ContainerPort: r.port.Num()})
	}
	_, err = d.networks.OpenRouted(ctx, name, c.ID, specs)
	return err
}

// joinOne joins one bridge network and records the endpoint.
func (d *Daemon) joinOne(ctx context.Context, c *ctr.Container, name string, pid int) error {
	r, err := d.networks.Find(ctx, name)
	if err != nil {
		return err
	}
	if !berthnet.HasEndpoints(r.Driver) {
		if r.Driver == berthnet.DriverHost {
			return errdefs.Forbidden(errHostNetwork)
		}
		return errdefs.Forbidden(errNoNetworkConflict)
	}
	cfg := d.endpointConfig(c, name)
	if cfg == nil && name == berthnet.ParseMode(string(c.HostConfig.NetworkMode)).Network {
		cfg = d.endpointConfig(c, "default")
	}
	o := berthnet.JoinOptions{ContainerID: c.ID, Name: trimSlash(c.Name), Pid: pid, NetnsPath: netnsPath(pid)}
	endpointJoinOptions(&o, cfg, c.HostConfig)
	if cfg != nil {
		if err := validateEndpointSettings(r, cfg); err != nil {
			return err
		}
		o.Aliases = slices.Clone(cfg.Aliases)
		if cfg.IPAMConfig != nil {
			o.IPv4, o.IPv6 = cfg.IPAMConfig.IPv4Address, cfg.IPAMConfig.IPv6Address
		}
		if len(cfg.MacAddress) == 6 {
			o.MAC = append(o.MAC, cfg.MacAddress...)
		}
	}
	if !r.Predefined {
		// Links on a user-defined network are DNS aliases of the target
		// for this container only; dockerd answers them for everyone on
		// the network as well, and so does berth.
		for _, l := range c.HostConfig.Links {
			_, alias, ok := strings.Cut(l, ":")
			if ok && alias != "" {
				o.Aliases = append(o.Aliases, strings.TrimPrefix(alias[strings.LastIndex(alias, "/")+1:], "/"))
			}
		}
	}
	// dockerd's embedded DNS also answers the container's hostname on
	// user-defined networks (a name it lists last among DNSNames, and not
	// among the aliases).
	hostAlias := ""
	if h := c.Config.Hostname; !r.Predefined && h != "" && h != trimSlash(c.Name) && h != c.ID[:12] && !slices.Contains(o.Aliases, h) {
		hostAlias = h
		o.Aliases = append(o.Aliases, h)
	}
	ep, err := d.networks.Join(ctx, r.ID, o)
	if err != nil {
		return err
	}
	es := ep.Settings()
	if hostAlias != "" {
		es.Aliases = slices.DeleteFunc(es.Aliases, func(a string) bool { return a == hostAlias })
		es.DNSNames = slices.DeleteFunc(es.DNSNames, func(a string) bool { return a == hostAlias })
	}
	if cfg != nil {
		es.IPAMConfig = cfg.IPAMConfig.Copy()
		es.Links = slices.Clone(cfg.Links)
		es.DriverOpts = cfg.DriverOpts
		es.GwPriority = cfg.GwPriority
	}
	if r.Predefined {
		// The default bridge has no name resolution.
		es.DNSNames = nil
	} else {
		es.DNSNames = append(es.DNSNames, c.ID[:12])
		if hostAlias != "" {
			es.DNSNames = append(es.DNSNames, hostAlias)
		}
	}
	c.NetworkSettings.Networks[r.Name] = es
	c.JoinOrder = append(slices.DeleteFunc(c.JoinOrder, func(n string) bool { return n == r.Name }), r.Name)
	d.logNetworkContainerEvent(events.ActionConnect, r, c.ID)
	return nil
}

func netnsPath(pid int) string { return fmt.Sprintf("/proc/%d/ns/net", pid) }

func newSandboxID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (d *Daemon) logNetworkContainerEvent(action events.Action, r *berthnet.Record, containerID string) {
	d.events.Log(events.NetworkEventType, action, events.Actor{
		ID:         r.ID,
		Attributes: map[string]string{"container": containerID, "name": r.Name, "type": r.Driver},
	})
}

// usesEmbeddedDNS reports whether any of the container's networks is a
// user-defined one, which is when dockerd points resolv.conf at
// 127.0.0.11.
func (d *Daemon) usesEmbeddedDNS(c *ctr.Container) bool {
	if c.NetworkSettings == nil {
		return false
	}
	mode := berthnet.ParseMode(string(c.HostConfig.NetworkMode))
	if mode.Kind != "bridge" {
		return false
	}
	for name := range c.NetworkSettings.Networks {
		if !berthnet.IsPredefined(name) {
			return true
		}
	}
	return false
}

// resolvConf builds the container's resolv.conf and the upstreams its
// embedded DNS server forwards to.
func (d *Daemon) resolvConf(c *ctr.Container) resolvconf.Result {
	hc := c.HostConfig
	mode := resolvconf.ModeLegacy
	if hc.NetworkMode.IsHost() {
		mode = resolvconf.ModeHostNetwork
	} else if d.usesEmbeddedDNS(c) {
		mode = resolvconf.ModeInternal
	}
	hostPath := resolvconf.HostPathFor(mode)
	host, _ := os.ReadFile(hostPath)
	cfg := d.Config()
	p := resolvconf.Params{Host: host, HostPath: hostPath, DNSSearch: hc.DNSSearch, DNSOptions: hc.DNSOptions, Mode: mode}
	p.DNS = append(p.DNS, hc.DNS...)
	if len(p.DNS) == 0 {
		for _, s := range cfg.DNS {
			if a, err := netip.ParseAddr(s); err == nil {
				p.DNS = append(p.DNS, a)
			}
		}
	}
	if len(p.DNSSearch) == 0 {
		p.DNSSearch = cfg.DNSSearch
	}
	if len(p.DNSOptions) == 0 {
		p.DNSOptions = cfg.DNSOptions
	}
	if c.NetworkSettings != nil {
		for _, es := range c.NetworkSettings.Networks {
			if es != nil && es.GlobalIPv6Address.IsValid() {
				p.IPv6 = true
			}
		}
	}
	return resolvconf.Build(p)
}

// startDNSIfNeeded starts the embedded DNS server in a container on a
// user-defined network; its resolv.conf then names 127.0.0.11.
func (d *Daemon) startDNSIfNeeded(c *ctr.Container) error {
	if !d.usesEmbeddedDNS(c) || c.State == nil || c.NetworkSettings.SandboxKey == "" {
		return nil
	}
	if err := d.networks.StartDNS(c.ID, c.NetworkSettings.SandboxKey, d.resolvConf(c)); err != nil {
		return errdefs.System(fmt.Errorf("failed to start the embedded DNS server: %w", err))
	}
	return nil
}

// cleanupNetwork leaves every network the container joined, stops its DNS
// server and unpublishes its ports. The caller holds c's lock.
func (d *Daemon) cleanupNetwork(c *ctr.Container) {
	if d.networks == nil {
		return
	}
	if err := d.networks.LeaveAll(context.Background(), c.ID); err != nil {
		logrus.WithError(err).WithField("container", shortID(c.ID)).Warn("could not leave networks")
	}
	if c.NetworkSettings == nil {
		return
	}
	// dockerd keeps the networks with their configuration but drops the
	// addresses and ports of a stopped container.
	for name, es := range c.NetworkSettings.Networks {
		if es != nil && es.EndpointID != "" {
			if r, err := d.networks.Find(context.Background(), name); err == nil {
				d.logNetworkContainerEvent(events.ActionDisconnect, r, c.ID)
			}
		}
		c.NetworkSettings.Networks[name] = d.configuredEndpoint(c, name)
	}
	c.NetworkSettings.Ports = network.PortMap{}
	c.NetworkSettings.SandboxKey = ""
	c.NetworkSettings.SandboxID = ""
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// writeEtcFiles writes the container's /etc/hostname, /etc/hosts and
// /etc/resolv.conf into its directory and returns their bind mounts. They
// are rewritten in place (never renamed) after the network is joined, so
// the bind mounts see the final content. A container:<id> container gets
// the target's files and hostname, as with dockerd.
func (d *Daemon) writeEtcFiles(c *ctr.Container) ([]specs.Mount, error) {
	hc := c.HostConfig
	c.HostnamePath = filepath.Join(c.Root(), "hostname")
	c.HostsPath = filepath.Join(c.Root(), "hosts")
	c.ResolvConfPath = filepath.Join(c.Root(), "resolv.conf")
	mode := berthnet.ParseMode(string(hc.NetworkMode))
	if mode.Kind == "container" {
		target, err := d.containers.Get(mode.Container)
		if err != nil {
			return nil, err
		}
		if target.ID != c.ID {
			target.Lock()
			c.HostnamePath, c.HostsPath, c.ResolvConfPath = target.HostnamePath, target.HostsPath, target.ResolvConfPath
			c.Config.Hostname, c.Config.Domainname = target.Config.Hostname, target.Config.Domainname
			target.Unlock()
		}
	}
	if mode.Kind != "container" {
		hostname := c.Config.Hostname
		if mode.Kind == "host" {
			hostname, _ = os.Hostname()
		}
		if err := writeInPlace(c.HostnamePath, etchosts.Hostname(hostname)); err != nil {
			return nil, errdefs.System(err)
		}
		forgetResolvConf(c)
		if err := d.rewriteEtcFiles(c); err != nil {
			return nil, err
		}
	}
	opts := []string{"rbind", "rprivate"}
	if hc.ReadonlyRootfs {
		opts = append(opts, "ro")
	}
	var mounts []specs.Mount
	for _, f := range []struct{ src, dst string }{{c.ResolvConfPath, "/etc/resolv.conf"}, {c.HostnamePath, "/etc/hostname"}, {c.HostsPath, "/etc/hosts"}} {
		if f.src == "" {
			continue
		}
		mounts = append(mounts, specs.Mount{Destination: f.dst, Type: "bind", Source: f.src, Options: opts})
	}
	return mounts, nil
}

// rewriteEtcFiles writes /etc/hosts and /etc/resolv.conf from the
// container's current networks. A file the user has changed since berth
// wrote it is left alone, as dockerd leaves it.
func (d *Daemon) rewriteEtcFiles(c *ctr.Container) error {
	mode := berthnet.ParseMode(string(c.HostConfig.NetworkMode))
	if mode.Kind == "container" || c.HostsPath == "" {
		return nil
	}
	if err := writeInPlace(c.HostsPath, d.hostsContent(c, "")); err != nil {
		return errdefs.System(err)
	}
	if err := updateResolvConf(c.ResolvConfPath, d.resolvConf(c).Content); err != nil {
		return errdefs.System(err)
	}
	return nil
}

func writeInPlace(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// hostsContent is /etc/hosts as dockerd writes it: the loopback entries,
// --link and --add-host entries, then the container's own addresses and
// name. The ip argument is ignored: the addresses come from the
// container's NetworkSettings. The caller holds c's lock.
func (d *Daemon) hostsContent(c *ctr.Container, _ string) []byte {
	if c.HostConfig.NetworkMode.IsHost() {
		b, _ := os.ReadFile("/etc/hosts")
		var extra []etchosts.Entry
		for _, h := range c.HostConfig.ExtraHosts {
			es, err := etchosts.ParseExtraHost(h, d.hostGatewayIPs())
			if err == nil {
				extra = append(extra, es...)
			}
		}
		for _, e := range extra {
			b = fmt.Appendf(b, "%s\t%s\n", e.Addr, strings.Join(e.Names, " "))
		}
		return b
	}
	// A container that turns IPv6 off (--sysctl
	// net.ipv6.conf.all.disable_ipv6=1) gets no IPv6 names or addresses,
	// as dockerd writes them only where IPv6 is on.
	ipv6 := c.HostConfig.Sysctls["net.ipv6.conf.all.disable_ipv6"] != "1"
	p := etchosts.Params{IPv6: ipv6, Hostname: c.Config.Hostname, Domainname: c.Config.Domainname}
	p.Extra = append(p.Extra, d.linkHostEntries(c)...)
	for _, h := range c.HostConfig.ExtraHosts {
		es, err := etchosts.ParseExtraHost(h, d.hostGatewayIPs())
		if err != nil {
			logrus.WithError(err).WithField("container", shortID(c.ID)).Warn("skipping extra host")
			continue
		}
		p.Extra = append(p.Extra, es...)
	}
	if c.NetworkSettings != nil {
		for _, name := range d.sortedNetworkNames(c) {
			es := c.NetworkSettings.Networks[name]
			if es == nil {
				continue
			}
			if es.IPAddress.IsValid() {
				p.Self = append(p.Self, es.IPAddress)
			}
			if es.GlobalIPv6Address.IsValid() && ipv6 {
				p.Self = append(p.Self, es.GlobalIPv6Address)
			}
		}
	}
	return etchosts.Build(p)
}

// sortedNetworkNames is the container's networks in the order it joined
// them, then any others primary first.
func (d *Daemon) sortedNetworkNames(c *ctr.Container) []string {
	primary := berthnet.ParseMode(string(c.HostConfig.NetworkMode)).Network
	var out []string
	for name := range c.NetworkSettings.Networks {
		out = append(out, name)
	}
	joined := func(n string) int {
		if i := slices.Index(c.JoinOrder, n); i >= 0 {
			return i
		}
		return len(c.JoinOrder)
	}
	sort.Slice(out, func(i, j int) bool {
		if ji, jj := joined(out[i]), joined(out[j]); ji != jj {
			return ji < jj
		}
		if (out[i] == primary) != (out[j] == primary) {
			return out[i] == primary
		}
		return out[i] < out[j]
	})
	return out
}

// hostGatewayIPs is what host-gateway means: --host-gateway-ip, else the
// default bridge's gateways, its IPv4 one and, when it has IPv6, its IPv6
// one, as dockerd uses them.
func (d *Daemon) hostGatewayIPs() []netip.Addr {
	if addrs, _ := d.Config().HostGatewayAddrs(); len(addrs) > 0 {
		return addrs
	}
	var v4, v6 netip.Addr
	if d.networks != nil {
		if r, err := d.networks.Find(context.Background(), berthnet.NameBridge); err == nil {
			for _, cfg := range r.IPAMConfig {
				switch gw := cfg.Gateway; {
				case !gw.IsValid():
				case gw.Is4() && !v4.IsValid():
					v4 = gw
				case gw.Is6() && !v6.IsValid():
					v6 = gw
				}
			}
		}
	}
	var out []netip.Addr
	for _, a := range []netip.Addr{v4, v6} {
		if a.IsValid() {
			out = append(out, a)
		}
	}
	return out
}

// link is one --link, resolved.
type link struct {
	target *ctr.Container
	name   string // the target's name without slash
	alias  string
}

// links resolves the container's --link entries ("name" or
// "name:alias") to existing containers.
func (d *Daemon) links(c *ctr.Container) []link {
	if c.LinkTargets != nil {
		return d.boundLinks(c)
	}
	var out []link
	for _, l := range c.HostConfig.Links {
		name, alias, ok := strings.Cut(l, ":")
		name = strings.TrimPrefix(name, "/")
		if !ok || alias == "" {
			alias = name
		}
		// dockerd records links as /target:/self/alias.
		alias = alias[strings.LastIndex(alias, "/")+1:]
		t, err := d.containers.Get(name)
		if err != nil || t.ID == c.ID {
			continue
		}
		out = append(out, link{target: t, name: trimSlash(t.Name), alias: alias})
	}
	return out
}

// linkHostEntries are the hosts lines of legacy links on the default
// bridge: "ip alias hostname name".
func (d *Daemon) linkHostEntries(c *ctr.Container) []etchosts.Entry {
	if berthnet.ParseMode(string(c.HostConfig.NetworkMode)).Network != berthnet.NameBridge {
		return nil
	}
	var out []etchosts.Entry
	for _, l := range d.links(c) {
		ip, hostname := d.linkTargetIP(l.target)
		if !ip.IsValid() {
			continue
		}
		names := []string{l.alias}
		if hostname != "" && hostname != l.alias {
			names = append(names, hostname)
		}
		if l.name != l.alias {
			names = append(names, l.name)
		}
		out = append(out, etchosts.Entry{Addr: ip, Names: names})
	}
	return out
}

// linkTargetIP is a link target's address on the default bridge.
func (d *Daemon) linkTargetIP(t *ctr.Container) (netip.Addr, string) {
	t.Lock()
	defer t.Unlock()
	if t.NetworkSettings == nil || t.Config == nil {
		return netip.Addr{}, ""
	}
	if es := t.NetworkSettings.Networks[berthnet.NameBridge]; es != nil {
		return es.IPAddress, t.Config.Hostname
	}
	return netip.Addr{}, t.Config.Hostname
}

// linkEnv is the environment legacy links give a container on the default
// bridge, as dockerd writes it (ALIAS_NAME, ALIAS_PORT…, ALIAS_ENV_…).
func (d *Daemon) linkEnv(c *ctr.Container) []string {
	if berthnet.ParseMode(string(c.HostConfig.NetworkMode)).Network != berthnet.NameBridge || !keepLegacyLinkEnv() {
		return nil
	}
	var env []string
	for _, l := range d.links(c) {
		ip, _ := d.linkTargetIP(l.target)
		if !ip.IsValid() {
			continue
		}
		prefix := strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(l.alias))
		l.target.Lock()
		var ports []network.Port
		for p := range l.target.Config.ExposedPorts {
			ports = append(ports, p)
		}
		for p := range l.target.HostConfig.PortBindings {
			if _, ok := l.target.Config.ExposedPorts[p]; !ok {
				ports = append(ports, p)
			}
		}
		tenv := slices.Clone(l.target.Config.Env)
		l.target.Unlock()
		sort.Slice(ports, func(i, j int) bool {
			if ports[i].Num() != ports[j].Num() {
				return ports[i].Num() < ports[j].Num()
			}
			return ports[i].Proto() < ports[j].Proto()
		})
		if len(ports) > 0 {
			env = append(env, fmt.Sprintf("%s_PORT=%s://%s:%d", prefix, ports[0].Proto(), ip, ports[0].Num()))
		}
		for _, p := range ports {
			k := fmt.Sprintf("%s_PORT_%d_%s", prefix, p.Num(), strings.ToUpper(string(p.Proto())))
			env = append(env,
				fmt.Sprintf("%s=%s://%s:%d", k, p.Proto(), ip, p.Num()),
				fmt.Sprintf("%s_ADDR=%s", k, ip),
				fmt.Sprintf("%s_PORT=%d", k, p.Num()),
				fmt.Sprintf("%s_PROTO=%s", k, p.Proto()))
		}
		env = append(env, fmt.Sprintf("%s_NAME=/%s/%s", prefix, trimSlash(c.Name), l.alias))
		for _, kv := range tenv {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "HOME" || k == "PATH" {
				continue
			}
			env = append(env, fmt.Sprintf("%s_ENV_%s=%s", prefix, k, v))
		}
	}
	return env
}

// portSpecs turns -p and -P into what the network manager publishes:
// PortBindings, plus every exposed port with an ephemeral host port under
// PublishAllPorts. Ranges of host ports ("8000-8010") become a choice
// made at publish time, so they are returned apart.
func portSpecs(cfg *container.Config, hc *container.HostConfig) ([]portRequest, error) {
	var out []portRequest
	keys := make([]network.Port, 0, len(hc.PortBindings))
	for p := range hc.PortBindings {
		keys = append(keys, p)
	}
	if hc.PublishAllPorts {
		for p := range cfg.ExposedPorts {
			if _, ok := hc.PortBindings[p]; !ok {
				keys = append(keys, p)
			}
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	for _, p := range keys {
		proto := string(p.Proto())
		switch proto {
		case "tcp", "udp", "sctp":
		default:
			return nil, errdefs.InvalidParameterf("invalid proto: %s", proto)
		}
		if p.Num() == 0 {
			return nil, errdefs.InvalidParameterf("invalid port specification: %q", p.String())
		}
		bindings, ok := hc.PortBindings[p]
		if !ok || len(bindings) == 0 {
			bindings = []network.PortBinding{{}}
		}
		for _, b := range bindings {
			req := portRequest{port: p, hostIP: b.HostIP}
			if b.HostPort != "" {
				lo, hi, isRange := strings.Cut(b.HostPort, "-")
				start, err := strconv.ParseUint(lo, 10, 16)
				if err != nil {
					return nil, errdefs.InvalidParameterf("invalid port specification: %q", b.HostPort)
				}
				end := start
				if isRange {
					if end, err = strconv.ParseUint(hi, 10, 16); err != nil || end < start {
						return nil, errdefs.InvalidParameterf("invalid port specification: %q", b.HostPort)
					}
				}
				req.hostStart, req.hostEnd = uint16(start), uint16(end)
			}
			out = append(out, req)
		}
	}
	return out, nil
}

// portRequest is one binding to publish; hostStart 0 means ephemeral.
type portRequest struct {
	port               network.Port
	hostIP             netip.Addr
	hostStart, hostEnd uint16
}

// publishPorts publishes the container's ports on its primary network and
// records them in NetworkSettings.Ports as dockerd does: every exposed or
// bound port is a key, unpublished ones with no bindings.
func (d *Daemon) publishPorts(ctx context.Context, c *ctr.Container, netName string) error {
	ports := network.PortMap{}
	if r, err := d.networks.Find(ctx, netName); err == nil && r.Driver != berthnet.DriverBridge {
		// macvlan and ipvlan containers sit on the parent's wire with
		// addresses of their own: dockerd maps and lists no ports for
		// them and only warns.
		if len(c.HostConfig.PortBindings) > 0 || c.HostConfig.PublishAllPorts {
			logrus.WithField("container", shortID(c.ID)).Warnf("%s driver does not support port mappings", r.Driver)
		}
		c.NetworkSettings.Ports = ports
		return nil
	}
	for p := range c.Config.ExposedPorts {
		ports[p] = nil
	}
	for p := range c.HostConfig.PortBindings {
		ports[p] = nil
	}
	c.NetworkSettings.Ports = ports
	reqs, err := portSpecs(c.Config, c.HostConfig)
	if err != nil || len(reqs) == 0 {
		return err
	}
	bindings, err := d.publish(ctx, c.ID, netName, reqs)
	if err != nil {
		return err
	}
	for _, b := range bindings {
		p, _ := network.PortFrom(b.ContainerPort, network.IPProtocol(b.Proto))
		hip := b.HostIP
		if !hip.IsValid() {
			hip = netip.IPv4Unspecified()
		}
		hp := strconv.Itoa(int(b.HostPort))
		if b.HostPort == 0 {
			hp = "" // gateway mode routed: the port is open, not mapped
		}
		ports[p] = append(ports[p], network.PortBinding{HostIP: hip, HostPort: hp})
	}
	return nil
}

// publish asks the manager for the bindings; a host-port range is tried
// port by port until one is free, as dockerd's port allocator does.
func (d *Daemon) publish(ctx context.Context, containerID, netName string, reqs []portRequest) ([]berthnet.PortBinding, error) {
	var fixed []berthnet.PortSpec
	var ranged []portRequest
	for _, r := range reqs {
		s := berthnet.PortSpec{Proto: string(r.port.Proto()), HostIP: r.hostIP, HostPort: r.hostStart, ContainerPort: r.port.Num()}
		if r.hostEnd > r.hostStart {
			ranged = append(ranged, r)
			continue
		}
		fixed = append(fixed, s)
	}
	var out []berthnet.PortBinding
	if len(fixed) > 0 {
		b, err := d.networks.Publish(ctx, netName, containerID, fixed)
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
	}
	for _, r := range ranged {
		var lastErr error
		done := false
		for hp := int(r.hostStart); hp <= int(r.hostEnd); hp++ {
			b, err := d.networks.Publish(ctx, netName, containerID, []berthnet.PortSpec{{Proto: string(r.port.Proto()), HostIP: r.hostIP, HostPort: uint16(hp), ContainerPort: r.port.Num()}})
			if err == nil {
				out = append(out, b...)
				done = true
				break
			}
			lastErr = err
		}
		if !done {
			return nil, lastErr
		}
	}
	return out, nil
}

// restoreContainerNetwork brings back what a daemon restart lost for a
// container: a running one gets its published ports and its embedded DNS
// server again (its endpoints and addresses are in the network store and
// its namespace kept them); a stopped one leaves any endpoint a crash left
// behind. The caller holds c's lock.
func (d *Daemon) restoreContainerNetwork(c *ctr.Container) error {
	if d.networks == nil {
		return nil
	}
	ctx := context.Background()
	if c.State == nil || !c.State.Running || c.State.Pid == 0 {
		if err := d.networks.LeaveAll(ctx, c.ID); err != nil {
			return err
		}
		if c.NetworkSettings != nil && c.NetworkSettings.SandboxKey != "" {
			d.cleanupNetwork(c)
		}
		return nil
	}
	if c.NetworkSettings == nil {
		return nil
	}
	mode := berthnet.ParseMode(string(c.HostConfig.NetworkMode))
	if mode.Kind != "bridge" {
		return nil
	}
	c.NetworkSettings.SandboxKey = netnsPath(c.State.Pid)
	var errs []error
	var specs []berthnet.PortSpec
	for p, bs := range c.NetworkSettings.Ports {
		for _, b := range bs {
			hp, err := strconv.ParseUint(b.HostPort, 10, 16)
			if err != nil && b.HostPort != "" {
				continue
			}
			// No host port is a port opened in gateway mode routed.
			// The recorded address (0.0.0.0 or :: for "every address")
			// names the family: a zero one would publish both again.
			s := berthnet.PortSpec{Proto: string(p.Proto()), HostIP: b.HostIP, HostPort: uint16(hp), ContainerPort: p.Num()}
			specs = append(specs, s)
		}
	}
	gw := d.gatewayNetwork(c)
	if len(specs) > 0 {
		if _, err := d.networks.Publish(ctx, gw, c.ID, specs); err != nil {
			errs = append(errs, fmt.Errorf("re-publishing ports: %w", err))
		}
	}
	if err := d.openRoutedPorts(ctx, c, gw); err != nil {
		errs = append(errs, fmt.Errorf("re-opening ports: %w", err))
	}
	if err := d.startDNSIfNeeded(c); err != nil {
		errs = append(errs, err)
	}
	// Neighbours may have cached another MAC for these addresses while
	// the daemon was down; dockerd announces them again on restore.
	go d.networks.Readvertise(c.ID)
	return errors.Join(errs...)
}

// connectContainer joins a container to one more network (docker network
// connect). A running container gets the endpoint now; a created or
// stopped one records the configuration for its next start.
func (d *Daemon) connectContainer(ctx context.Context, r *berthnet.Record, ref string, es *network.EndpointSettings) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	c.Lock()
	defer c.Unlock()
	mode := berthnet.ParseMode(string(c.HostConfig.NetworkMode))
	switch {
	case r.Driver == berthnet.DriverHost:
		return errdefs.Forbidden(errHostNetwork)
	case mode.Kind == "host" || mode.Kind == "container":
		return errdefs.Forbidden(errSharedNetwork)
	case mode.Kind == "none" || r.Driver == berthnet.DriverNull:
		return errdefs.Forbidden(errNoNetworkConflict)
	}
	if c.State.RemovalInProgress || c.State.Dead {
		return errdefs.Conflictf("container %s is marked for removal and cannot be connected or disconnected to the network", c.ID)
	}
	if es == nil {
		es = &network.EndpointSettings{}
	}
	if err := validateEndpointSettings(r, es); err != nil {
		return err
	}
	if c.NetworkSettings != nil {
		if cur, ok := c.NetworkSettings.Networks[r.Name]; ok && (cur.EndpointID != "" || !c.State.Running) {
			return errdefs.Forbidden(fmt.Errorf("endpoint with name %s already exists in network %s", trimSlash(c.Name), r.Name))
		}
	}
	explicitNetworks(c)
	c.NetworkConfig.EndpointsConfig[r.Name] = es.Copy()
	if c.NetworkSettings == nil {
		c.NetworkSettings = &container.NetworkSettings{Networks: map[string]*network.EndpointSettings{}}
	}
	if c.NetworkSettings.Networks == nil {
		c.NetworkSettings.Networks = map[string]*network.EndpointSettings{}
	}
	if !c.State.Running {
		c.NetworkSettings.Networks[r.Name] = d.configuredEndpoint(c, r.Name)
		return c.Save()
	}
	if err := d.joinOne(ctx, c, r.Name, c.State.Pid); err != nil {
		if _, serr := os.Stat(netnsPath(c.State.Pid)); os.IsNotExist(serr) {
			// The process ended while the connect held the lock (its
			// exit is recorded once the lock is free): connected as a
			// stopped container is, joined at the next start.
			c.NetworkSettings.Networks[r.Name] = d.configuredEndpoint(c, r.Name)
			return c.Save()
		}
		delete(c.NetworkConfig.EndpointsConfig, r.Name)
		return err
	}
	if err := d.openRoutedOn(ctx, c, r.Name); err != nil {
		logrus.WithError(err).WithField("container", shortID(c.ID)).Warn("opening ports on a routed network")
	}
	wasDNS := d.networks.HasDNS(c.ID)
	if !wasDNS {
		if err := d.startDNSIfNeeded(c); err != nil {
			logrus.WithError(err).WithField("container", shortID(c.ID)).Warn("embedded DNS")
		}
	}
	if err := d.rewriteEtcFiles(c); err != nil {
		logrus.WithError(err).WithField("container", shortID(c.ID)).Warn("rewriting /etc files")
	}
	return c.Save()
}

// disconnectContainer removes a container from a network (docker network
// disconnect).
func (d *Daemon) disconnectContainer(ctx context.Context, r *berthnet.Record, ref string, force bool) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		if force {
			// dockerd's force disconnect removes a stale endpoint of a
			// container that no longer exists.
			for _, e := range r.Endpoints {
				if e.ContainerID == ref || e.Name == ref || strings.HasPrefix(e.ContainerID, ref) {
					if err := d.networks.Leave(ctx, r.ID, e.ContainerID); err != nil {
						return err
					}
					d.logNetworkContainerEvent(events.ActionDisconnect, r, e.ContainerID)
					return nil
				}
			}
		}
		return err
	}
	c.Lock()
	defer c.Unlock()
	mode := berthnet.ParseMode(string(c.HostConfig.NetworkMode))
	if r.Driver == berthnet.DriverHost && mode.Kind == "host" {
		return errdefs.Forbidden(errHostNetwork)
	}
	_, connected := c.NetworkSettings.Networks[r.Name]
	if c.NetworkSettings == nil || !connected {
		return errdefs.Forbidden(fmt.Errorf("container %s is not connected to network %s", c.ID, r.Name))
	}
	if c.State.Running {
		// What was published (on the gateway's network) or opened (on a
		// routed one) on this network's address goes with it.
		if err := d.networks.UnpublishOn(ctx, c.ID, r.ID); err != nil {
			logrus.WithError(err).WithField("container", shortID(c.ID)).Warn("unpublishing ports")
		}
		if r.Name == d.gatewayNetwork(c) {
			for p := range c.NetworkSettings.Ports {
				c.NetworkSettings.Ports[p] = nil
			}
		}
		if err := d.networks.Leave(ctx, r.ID, c.ID); err != nil {
			return err
		}
		d.logNetworkContainerEvent(events.ActionDisconnect, r, c.ID)
	}
	delete(c.NetworkSettings.Networks, r.Name)
	c.JoinOrder = slices.DeleteFunc(c.JoinOrder, func(n string) bool { return n == r.Name })
	explicitNetworks(c)
	delete(c.NetworkConfig.EndpointsConfig, r.Name)
	if c.State.Running {
		if err := d.rewriteEtcFiles(c); err != nil {
			logrus.WithError(err).WithField("container", shortID(c.ID)).Warn("rewriting /etc files")
		}
	}
	return c.Save()
}

// portSummaries is `docker ps`'s PORTS column as dockerd fills it: every
// port of NetworkSettings.Ports, once per host binding, or bare when it is
// only exposed. The caller holds c's lock.
func portSummaries(c *ctr.Container) []container.PortSummary {
	out := []container.PortSummary{}
	if c.NetworkSettings == nil {
		return out
	}
	for p, bs := range c.NetworkSettings.Ports {
		if len(bs) == 0 {
			out = append(out, container.PortSummary{PrivatePort: p.Num(), Type: string(p.Proto())})
			continue
		}
		for _, b := range bs {
			hp, _ := strconv.ParseUint(b.HostPort, 10, 16)
			out = append(out, container.PortSummary{IP: b.HostIP, PrivatePort: p.Num(), PublicPort: uint16(hp), Type: string(p.Proto())})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.PrivatePort != b.PrivatePort {
			return a.PrivatePort < b.PrivatePort
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return a.IP.Less(b.IP) || a.IP == b.IP && a.PublicPort < b.PublicPort
	})
	return out
}
