package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"

	ctr "github.com/berthd/berth/container"
	berthnet "github.com/berthd/berth/network"
	"github.com/berthd/berth/network/etchosts"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/stringid"
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
		if r, err := d.networks.Find(d.life.Context(), name); err == nil {
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
func (d *Daemon) joinNetworks(ctx context.Context, c *ctr.Container, pid int) (err error) {
	defer timed(d.metrics.NetworkAction, "allocate", &err)()
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
		ns.SandboxID, ns.SandboxKey = stringid.GenerateRandomID(), netnsPath(pid)
		_, err := d.networks.AttacherFor(mode).Attach(ctx, netnsPath(pid), berthnet.JoinOptions{ContainerID: c.ID, Pid: pid})
		return err
	}
	ns.SandboxID, ns.SandboxKey = stringid.GenerateRandomID(), netnsPath(pid)
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
	if err := d.publishPorts(ctx, c, d.gatewayFirst(c, names)); err != nil {
		return err
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

// gatewayFirst orders the container's networks names with its gateway's
// first.
func (d *Daemon) gatewayFirst(c *ctr.Container, names []string) []string {
	gw := d.gatewayNetwork(c)
	out := make([]string, 0, len(names))
	if slices.Contains(names, gw) {
		out = append(out, gw)
	}
	for _, n := range names {
		if n != gw {
			out = append(out, n)
		}
	}
	return out
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
	if h := c.Config.Hostname; !r.Predefined && h != "" && h != trimSlash(c.Name) && h != stringid.TruncateID(c.ID) && !slices.Contains(o.Aliases, h) {
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
		es.DNSNames = append(es.DNSNames, stringid.TruncateID(c.ID))
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

func (d *Daemon) logNetworkContainerEvent(action events.Action, r *berthnet.Record, containerID string) {
	d.events.Log(events.NetworkEventType, action, events.Actor{
		ID:         r.ID,
		Attributes: map[string]string{"container": containerID, "name": r.Name, "type": r.Driver},
	})
}

// cleanupNetwork leaves every network the container joined, stops its DNS
// server and unpublishes its ports. The caller holds c's lock.
func (d *Daemon) cleanupNetwork(c *ctr.Container) {
	if d.networks == nil {
		return
	}
	defer d.metrics.NetworkAction("release", time.Now())
	if err := d.networks.LeaveAll(d.life.teardown(), c.ID); err != nil {
		logrus.WithError(err).WithField("container", stringid.TruncateID(c.ID)).Warn("could not leave networks")
	}
	if c.NetworkSettings == nil {
		return
	}
	// dockerd keeps the networks with their configuration but drops the
	// addresses and ports of a stopped container.
	for name, es := range c.NetworkSettings.Networks {
		if es != nil && es.EndpointID != "" {
			if r, err := d.networks.Find(d.life.teardown(), name); err == nil {
				d.logNetworkContainerEvent(events.ActionDisconnect, r, c.ID)
			}
		}
		c.NetworkSettings.Networks[name] = d.configuredEndpoint(c, name)
	}
	c.NetworkSettings.Ports = network.PortMap{}
	c.NetworkSettings.SandboxKey = ""
	c.NetworkSettings.SandboxID = ""
}

// restoreContainerNetwork brings back what a daemon restart lost for a
// container: a running one gets its published ports and its embedded DNS
// server again (its endpoints and addresses are in the network store and
// its namespace kept them); a stopped one leaves any endpoint a crash left
// behind. The caller holds c's lock.
func (d *Daemon) restoreContainerNetwork(ctx context.Context, c *ctr.Container) error {
	if d.networks == nil {
		return nil
	}
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
	// An endpoint the container's record does not know is a connect the
	// last daemon did not get to save (it was not acknowledged): it goes,
	// or its address, veth and rules would stay for good.
	for id, name := range d.networks.JoinedNetworks(c.ID) {
		if _, known := c.NetworkSettings.Networks[name]; !known {
			logrus.WithFields(logrus.Fields{"container": stringid.TruncateID(c.ID), "network": name}).Info("leaving a network the container was not recorded to have joined")
			if err := d.networks.Leave(ctx, id, c.ID); err != nil {
				errs = append(errs, fmt.Errorf("leaving %s: %w", name, err))
			}
		}
	}
	// On the networks it is still joined to, with the host ports it had
	// (chosenPorts).
	joined := slices.DeleteFunc(d.joinNames(c), func(n string) bool {
		es := c.NetworkSettings.Networks[n]
		return es == nil || es.EndpointID == ""
	})
	if err := d.publishPorts(ctx, c, d.gatewayFirst(c, joined)); err != nil {
		errs = append(errs, fmt.Errorf("re-publishing ports: %w", err))
	}
	if err := d.startDNSIfNeeded(c); err != nil {
		errs = append(errs, err)
	}
	// Neighbours may have cached another MAC for these addresses while
	// the daemon was down; dockerd announces them again on restore.
	d.life.Go(func(context.Context) { d.networks.Readvertise(c.ID) })
	return errors.Join(errs...)
}
