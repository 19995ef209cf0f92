package network

import (
	"net/netip"

	"github.com/berthd/berth/network/dns"
	"github.com/berthd/berth/network/resolvconf"
)

// StartDNS starts the embedded DNS server inside a container's namespace:
// it answers the names and aliases of containers sharing a user-defined
// network with it and forwards the rest to the upstreams of its
// resolv.conf (port 53), each from the namespace Build chose for it.
// Starting it twice for one container replaces the first.
func (m *Manager) StartDNS(containerID, netnsPath string, rc resolvconf.Result) error {
	ups := make([]dns.Upstream, 0, len(rc.Upstreams))
	for _, u := range rc.Upstreams {
		ups = append(ups, dns.Upstream{AddrPort: netip.AddrPortFrom(u.Addr, 53), InContainer: !u.HostNS})
	}
	m.StopDNS(containerID)
	srv, err := dns.Start(netnsPath, dns.Config{
		Lookup:    func(name string) []netip.Addr { return m.Resolve(containerID, name) },
		Upstreams: ups,
		Forward:   func() bool { return !m.internalOnly(containerID) },
		NdotsSet:  rc.NdotsSet,
	})
	if err != nil {
		return err
	}
	m.mu.Lock()
	if m.dns == nil {
		m.dns = map[string]*dns.Server{}
	}
	m.dns[containerID] = srv
	m.mu.Unlock()
	return nil
}

// StopDNS stops a container's embedded DNS server, if it has one.
func (m *Manager) StopDNS(containerID string) {
	m.mu.Lock()
	srv := m.dns[containerID]
	delete(m.dns, containerID)
	m.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// HasDNS reports whether the container's embedded DNS server runs.
func (m *Manager) HasDNS(containerID string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.dns[containerID] != nil
}

// internalOnly reports whether every network the container is on is
// internal; it is asked per query, so connecting the container to a
// non-internal network (or disconnecting it) takes effect at once.
func (m *Manager) internalOnly(containerID string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	found := false
	for _, r := range m.nets {
		for _, e := range r.Endpoints {
			if e.ContainerID != containerID {
				continue
			}
			if !r.isolated() {
				return false
			}
			found = true
		}
	}
	return found
}
