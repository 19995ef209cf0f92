package network

import (
	"cmp"
	"slices"

	"github.com/sirupsen/logrus"
	"github.com/vishvananda/netlink"

	"github.com/berthd/berth/network/netif"
)

// gwCandidate is one of a container's endpoints, as the default gateway
// choice sees it.
type gwCandidate struct {
	ep       *Endpoint
	net      string
	internal bool
	// has4 and has6: the endpoint can carry the family's default route
	// (a gateway address, or an ipvlan l3 device route).
	has4, has6 bool
	device     bool
}

// gatewayOrder sorts a container's endpoints with the best default
// gateway first, as dockerd does: higher GwPriority, then not internal,
// then dual-stack before single-stack before none, then network name.
func gatewayOrder(a, b gwCandidate) int {
	if a.ep.GwPriority != b.ep.GwPriority {
		return cmp.Compare(b.ep.GwPriority, a.ep.GwPriority)
	}
	if a.internal != b.internal {
		if a.internal {
			return 1
		}
		return -1
	}
	count := func(c gwCandidate) int {
		n := 0
		if c.has4 {
			n++
		}
		if c.has6 {
			n++
		}
		return n
	}
	if ca, cb := count(a), count(b); ca != cb {
		return cmp.Compare(cb, ca)
	}
	return cmp.Compare(a.net, b.net)
}

// gatewaysLocked picks the container's IPv4 and IPv6 gateway endpoints:
// the first in gatewayOrder that has each family's route. Either may be
// nil.
func (m *Manager) gatewaysLocked(containerID string) (gw4, gw6 *gwCandidate) {
	var cands []gwCandidate
	for _, r := range m.nets {
		for _, e := range r.Endpoints {
			if e.ContainerID != containerID {
				continue
			}
			c := gwCandidate{ep: e, net: r.Name, internal: r.Internal,
				has4: e.Gateway4.IsValid(), has6: e.Gateway6.IsValid()}
			if isVlanDriver(r.Driver) && r.vlanConfig().deviceRouted() && !r.isolated() {
				c.device = true
				c.has4, c.has6 = e.IPv4.IsValid(), e.IPv6.IsValid()
			}
			cands = append(cands, c)
		}
	}
	slices.SortFunc(cands, gatewayOrder)
	for i := range cands {
		if cands[i].has4 && gw4 == nil {
			gw4 = &cands[i]
		}
		if cands[i].has6 && gw6 == nil {
			gw6 = &cands[i]
		}
	}
	return gw4, gw6
}

// GatewayNetwork names the network of the container's gateway endpoint
// (the IPv4 one's, else the IPv6 one's), where dockerd publishes its
// ports; empty when it has no gateway.
func (m *Manager) GatewayNetwork(containerID string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	gw4, gw6 := m.gatewaysLocked(containerID)
	if gw4 != nil {
		return gw4.net
	}
	if gw6 != nil {
		return gw6.net
	}
	return ""
}

// selectGatewayLocked points the container's default routes at its best
// gateway endpoints, after an endpoint joined or left. A route that
// cannot be added (the chosen interface is down, say) is logged, not
// returned: as with dockerd, the connect or disconnect itself stands.
func (m *Manager) selectGatewayLocked(containerID string) {
	var netnsPath string
	for _, r := range m.nets {
		for _, e := range r.Endpoints {
			if e.ContainerID == containerID && e.NetnsPath != "" {
				netnsPath = e.NetnsPath
			}
		}
	}
	if netnsPath == "" {
		return
	}
	ns, err := netif.OpenContainer(netnsPath, 0)
	if err != nil {
		logrus.WithError(err).WithField("container", shortContainerID(containerID)).Warn("cannot update the default gateway")
		return
	}
	defer ns.Close()
	gw4, gw6 := m.gatewaysLocked(containerID)
	for _, f := range []struct {
		family int
		c      *gwCandidate
	}{{netlink.FAMILY_V4, gw4}, {netlink.FAMILY_V6, gw6}} {
		var gw netif.Gateway
		if f.c != nil {
			gw = netif.Gateway{IfName: f.c.ep.IfName, Device: f.c.device, Via: f.c.ep.Gateway4}
			if f.family == netlink.FAMILY_V6 {
				gw.Via = f.c.ep.Gateway6
			}
		}
		if err := ns.SetDefaultRoute(f.family, gw); err != nil {
			logrus.WithError(err).WithField("container", shortContainerID(containerID)).Warn("failed to set the default gateway")
		}
	}
}

func shortContainerID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
