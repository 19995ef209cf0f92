package network

import (
	"net/netip"

	"github.com/sirupsen/logrus"
)

// hostFamilies are the host address families whose published ports an
// endpoint maps: those it is the container's gateway for.
type hostFamilies struct{ v4, v6 bool }

func (f hostFamilies) has(hostIP netip.Addr) bool {
	if hostIP.Is6() {
		return f.v6
	}
	return f.v4
}

// hostFamiliesLocked says what ep maps on the host, by dockerd's rule
// (the bridge driver's ProgramExternalConnectivity): IPv4 if it is the
// container's IPv4 gateway; IPv6 if it is the IPv6 gateway, or the IPv4
// one when the container has no IPv6 gateway (host IPv6 addresses are then
// proxied to its IPv4 address). An endpoint that is neither maps nothing:
// another endpoint's network carries the container's ports.
func (m *Manager) hostFamiliesLocked(containerID string, ep *Endpoint) hostFamilies {
	gw4, gw6 := m.gatewaysLocked(containerID)
	is := func(c *gwCandidate) bool { return c != nil && c.ep.ID == ep.ID }
	return hostFamilies{v4: is(gw4), v6: is(gw6) || gw6 == nil && is(gw4)}
}

// regatewayLocked follows an endpoint of the container joining or
// leaving while it runs: its default routes go to its best gateway
// endpoints, and its port mappings with them. An endpoint that joins maps
// nothing until the container code publishes the ports on it.
func (m *Manager) regatewayLocked(containerID string) {
	m.selectGatewayLocked(containerID)
	m.movePortsLocked(containerID)
}

// movePortsLocked follows a change of the container's gateway endpoints
// (an endpoint joined or left): every publication whose endpoint's host
// families changed is published again with the new ones. All of them are
// taken down first, so that a port a family leaves on one endpoint is
// free for the endpoint it moves to; an ephemeral port keeps its number
// where it can. What cannot be published again is logged, as dockerd
// logs a gateway it fails to move after a disconnect.
func (m *Manager) movePortsLocked(containerID string) {
	type endpointOn struct {
		r  *Record
		ep *Endpoint
	}
	eps := map[string]endpointOn{}
	for _, r := range m.nets {
		for _, e := range r.Endpoints {
			if e.ContainerID == containerID {
				eps[r.ID] = endpointOn{r, e}
			}
		}
	}
	type move struct {
		pub  *publication
		fams hostFamilies
	}
	var moves []move
	for _, pub := range m.pubs[containerID] {
		at, ok := eps[pub.net]
		if !ok {
			continue
		}
		if fams := m.hostFamiliesLocked(containerID, at.ep); fams != pub.fams {
			moves = append(moves, move{pub, fams})
		}
	}
	if len(moves) == 0 {
		return
	}
	log := logrus.WithField("container", shortContainerID(containerID))
	moving := map[*publication]bool{}
	for _, mv := range moves {
		moving[mv.pub] = true
	}
	if err := m.unpublishLocked(containerID, func(p *publication) bool { return moving[p] }); err != nil {
		log.WithError(err).Warn("removing port mappings of a former gateway endpoint")
	}
	for _, mv := range moves {
		at := eps[mv.pub.net]
		pub, err := m.publishLocked(at.r, at.ep, mv.pub.specs, mv.pub.ports, mv.fams)
		if err != nil {
			log.WithError(err).WithField("network", at.r.Name).Warn("moving port mappings to the new gateway endpoint")
			continue
		}
		if m.pubs == nil {
			m.pubs = map[string][]*publication{}
		}
		m.pubs[containerID] = append(m.pubs[containerID], pub)
		m.syncRouteLocalnetLocked(at.r.Bridge)
	}
}
