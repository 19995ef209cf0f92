package daemon

import (
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	ctr "github.com/berthd/berth/container"
	berthnet "github.com/berthd/berth/network"
)

// Endpoint driver options (EndpointSettings.DriverOpts) that dockerd reads
// itself, whatever the network's driver.
const (
	epOptIfName  = "com.docker.network.endpoint.ifname"
	epOptSysctls = "com.docker.network.endpoint.sysctls"
)

// endpointJoinOptions adds to o what the endpoint settings and the
// container's own sysctls say about its interface: its name, its sysctls,
// its gateway priority, and whether it gets an IPv6 address at all.
func endpointJoinOptions(o *berthnet.JoinOptions, cfg *network.EndpointSettings, hc *container.HostConfig) {
	// A container that turns IPv6 off everywhere has no IPv6 address on
	// any network, in inspect or in DNS, as with dockerd.
	o.NoIPv6 = hc != nil && strings.TrimSpace(hc.Sysctls["net.ipv6.conf.all.disable_ipv6"]) == "1"
	if cfg == nil {
		return
	}
	o.GwPriority = cfg.GwPriority
	o.IfName = cfg.DriverOpts[epOptIfName]
	o.Sysctls = endpointSysctls(cfg)
	for _, sc := range o.Sysctls {
		k, v, _ := strings.Cut(sc, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		if k == "net.ipv6.conf.ifname.disable_ipv6" && strings.TrimSpace(v) == "1" {
			o.NoIPv6 = true
		}
	}
}

func endpointSysctls(cfg *network.EndpointSettings) []string {
	s, ok := cfg.DriverOpts[epOptSysctls]
	if !ok || s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// endpointSysctlErrors checks the endpoint's interface sysctls at create,
// with dockerd's message for each bad one.
func endpointSysctlErrors(cfg *network.EndpointSettings) []error {
	var errs []error
	for _, sc := range endpointSysctls(cfg) {
		if err := berthnet.ValidateEndpointSysctl(sc); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// joinNames is networkNames with each network named by its name and
// listed once: NetworkMode may give a network by ID while EndpointsConfig
// keys its settings by name (moby#47441, as Watchtower creates
// containers), and dockerd then joins it once, under its name.
func (d *Daemon) joinNames(c *ctr.Container) []string {
	names := networkNames(c)
	if d.networks == nil {
		return names
	}
	seen := map[string]bool{}
	out := names[:0:0]
	for _, n := range names {
		if r, err := d.networks.Find(d.life.Context(), n); err == nil {
			n = r.Name
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// endpointConfigByID finds the endpoint settings of the network named
// name when EndpointsConfig keys them by another reference to it (its ID
// or a short ID).
func (d *Daemon) endpointConfigByID(c *ctr.Container, name string) *network.EndpointSettings {
	if d.networks == nil || c.NetworkConfig == nil {
		return nil
	}
	for key, cfg := range c.NetworkConfig.EndpointsConfig {
		if key == "default" || cfg == nil {
			continue
		}
		if r, err := d.networks.Find(d.life.Context(), key); err == nil && r.Name == name {
			return cfg
		}
	}
	return nil
}
