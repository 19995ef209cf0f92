package daemon

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"

	ctr "github.com/berthd/berth/container"
	berthnet "github.com/berthd/berth/network"
	"github.com/berthd/berth/network/etchosts"
	"github.com/berthd/berth/network/resolvconf"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/stringid"
)

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
	p := d.resolvConfParams(mode, hc.DNS, hc.DNSSearch, hc.DNSOptions)
	if c.NetworkSettings != nil {
		for _, es := range c.NetworkSettings.Networks {
			if es != nil && es.GlobalIPv6Address.IsValid() {
				p.IPv6 = true
			}
		}
	}
	return resolvconf.Build(p)
}

// resolvConfParams starts a resolv.conf in mode from the host's file (or
// daemon.json's resolv-conf) and the given --dns, --dns-search and
// --dns-option, each of which falls back to the daemon's when empty.
func (d *Daemon) resolvConfParams(mode resolvconf.Mode, dns []netip.Addr, search, options []string) resolvconf.Params {
	cfg := d.Config()
	hostPath := resolvconf.HostPathFor(mode)
	if cfg.ResolvConf != "" {
		// daemon.json's resolv-conf stands for the host's file in every
		// mode, as dockerd's does.
		hostPath = cfg.ResolvConf
	}
	host, _ := os.ReadFile(hostPath)
	p := resolvconf.Params{Host: host, HostPath: hostPath, DNSSearch: search, DNSOptions: options, Mode: mode}
	p.DNS = append(p.DNS, dns...)
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
	return p
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
			logrus.WithError(err).WithField("container", stringid.TruncateID(c.ID)).Warn("skipping extra host")
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
		if r, err := d.networks.Find(d.life.Context(), berthnet.NameBridge); err == nil {
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
