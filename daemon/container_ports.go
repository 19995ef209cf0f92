package daemon

import (
	"context"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/sirupsen/logrus"

	ctr "github.com/berthd/berth/container"
	berthnet "github.com/berthd/berth/network"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/stringid"
)

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

// publishPorts publishes the container's ports on each of its networks,
// the gateway's first: the network manager maps them on the host through
// the endpoints that give the container its gateways and opens them on
// routed ones, as dockerd's driver does per endpoint. A port that one
// network chose (an ephemeral one, or one of a range) is the one asked of
// the next. Connect calls it for the new network alone: the others were
// given their new share of the ports when it joined.
func (d *Daemon) publishPorts(ctx context.Context, c *ctr.Container, names []string) error {
	reqs, err := portSpecs(c.Config, c.HostConfig)
	if err != nil {
		return err
	}
	// The host ports the container has: on its other networks (a
	// connect), or before the daemon restarted (a restore).
	reqs = chosenPorts(reqs, c.NetworkSettings.Ports)
	d.recordPorts(c)
	if len(reqs) == 0 {
		return nil
	}
	if drv := d.unmappedGatewayDriver(c); drv != "" {
		logrus.WithField("container", stringid.TruncateID(c.ID)).Warnf("%s driver does not support port mappings", drv)
		return nil
	}
	for _, name := range names {
		if _, err := d.publish(ctx, c.ID, name, chosenPorts(reqs, c.NetworkSettings.Ports)); err != nil {
			return err
		}
		d.recordPorts(c)
	}
	return nil
}

// recordPorts sets NetworkSettings.Ports as dockerd lists them: every
// exposed or bound port is a key, with what the container's endpoints
// publish, in the order they publish it (mapped families before routed
// ones, as in dockerd's inspect). A container whose gateway is a
// macvlan or ipvlan network, on the parent's wire with addresses of its
// own, lists none: dockerd maps nothing there and only warns.
func (d *Daemon) recordPorts(c *ctr.Container) {
	ports := network.PortMap{}
	c.NetworkSettings.Ports = ports
	if d.unmappedGatewayDriver(c) != "" {
		return
	}
	for p := range c.Config.ExposedPorts {
		ports[p] = nil
	}
	for p := range c.HostConfig.PortBindings {
		ports[p] = nil
	}
	for _, b := range d.networks.PortBindings(c.ID) {
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
}

// unmappedGatewayDriver names the driver of the container's gateway
// network when it maps no ports (macvlan, ipvlan); empty for a bridge.
func (d *Daemon) unmappedGatewayDriver(c *ctr.Container) string {
	gw := d.gatewayNetwork(c)
	if gw == "" {
		return ""
	}
	if r, err := d.networks.Find(context.Background(), gw); err == nil && r.Driver != berthnet.DriverBridge {
		return r.Driver
	}
	return ""
}

// chosenPorts fixes each request for an ephemeral port or a range to the
// host port the container already has for it (in ports, as recorded), so
// that every network, a network connected later and a restarted daemon
// publish the same one.
func chosenPorts(reqs []portRequest, ports network.PortMap) []portRequest {
	out := slices.Clone(reqs)
	for i, r := range out {
		if r.hostStart != 0 && r.hostEnd == r.hostStart {
			continue
		}
		for _, b := range ports[r.port] {
			hp, err := strconv.ParseUint(b.HostPort, 10, 16)
			if err != nil || hp == 0 || r.hostIP.IsValid() && b.HostIP != r.hostIP {
				continue
			}
			if r.hostStart != 0 && (uint16(hp) < r.hostStart || uint16(hp) > r.hostEnd) {
				continue
			}
			out[i].hostStart, out[i].hostEnd = uint16(hp), uint16(hp)
			break
		}
	}
	return out
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
