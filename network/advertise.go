package network

import (
	"fmt"
	"strconv"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/network/bridge"
	"github.com/berthd/berth/network/netif"
	"github.com/berthd/berth/pkg/stringid"
)

// Network options for the unsolicited ARP and neighbour advertisements
// of a new endpoint, as dockerd spells and bounds them.
const (
	OptAdvertiseAddrNMsgs = "com.docker.network.advertise_addr_nmsgs"
	OptAdvertiseAddrMs    = "com.docker.network.advertise_addr_ms"

	advertiseNMsgsDefault   = 3
	advertiseNMsgsMin       = 0
	advertiseNMsgsMax       = 3
	advertiseIntervalMinMs  = 100
	advertiseIntervalMaxMs  = 2000
	advertiseIntervalDefMs  = 1000
	bridgePortForwardingMax = 200 * time.Millisecond
)

// advertiseSettings reads the network's options; validateAdvertiseOpts has
// refused bad ones at create, so anything unreadable here is the default.
func advertiseSettings(opts map[string]string) (n int, interval time.Duration) {
	n, interval = advertiseNMsgsDefault, advertiseIntervalDefMs*time.Millisecond
	if v, err := strconv.Atoi(opts[OptAdvertiseAddrNMsgs]); err == nil && v >= advertiseNMsgsMin && v <= advertiseNMsgsMax {
		n = v
	}
	if v, err := strconv.Atoi(opts[OptAdvertiseAddrMs]); err == nil && v >= advertiseIntervalMinMs && v <= advertiseIntervalMaxMs {
		interval = time.Duration(v) * time.Millisecond
	}
	return n, interval
}

// validateAdvertiseOpts refuses the options with dockerd's messages.
func validateAdvertiseOpts(opts map[string]string) error {
	if s, ok := opts[OptAdvertiseAddrNMsgs]; ok {
		v, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("value for option %s %q must be an integer", OptAdvertiseAddrNMsgs, s)
		}
		if v < advertiseNMsgsMin || v > advertiseNMsgsMax {
			return fmt.Errorf("%s must be in the range %d to %d", OptAdvertiseAddrNMsgs, advertiseNMsgsMin, advertiseNMsgsMax)
		}
	}
	if s, ok := opts[OptAdvertiseAddrMs]; ok {
		v, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("value for option %s %q must be integer milliseconds", OptAdvertiseAddrMs, s)
		}
		if v < advertiseIntervalMinMs || v > advertiseIntervalMaxMs {
			return fmt.Errorf("%s must be in the range %d to %d", OptAdvertiseAddrMs, advertiseIntervalMinMs, advertiseIntervalMaxMs)
		}
	}
	return nil
}

// advertiseLocked announces ep's addresses from inside its namespace; the
// messages after the first stop when the endpoint leaves. Nothing here
// fails the join: neighbours still learn the address by asking. m.mu is
// held (Readvertise, the vlan drivers).
func (m *Manager) advertiseLocked(r *Record, ep *Endpoint) {
	if stop := startAdvert(r, ep); stop != nil {
		m.keepAdvertLocked(ep.ID, stop)
	}
}

// advertise is advertiseLocked for a bridge join, which does not hold
// m.mu: the wait for the bridge port to forward (up to
// bridgePortForwardingMax) and the first message happen outside the lock.
func (m *Manager) advertise(r *Record, ep *Endpoint) {
	stop := startAdvert(r, ep)
	if stop == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, joined := r.Endpoints[ep.ID]; !joined {
		close(stop) // it left meanwhile: its address may be another's now
		return
	}
	m.keepAdvertLocked(ep.ID, stop)
}

// startAdvert sends ep's first unsolicited ARP/NA and starts the rest; it
// returns the channel that stops them, or nil when none are sent.
func startAdvert(r *Record, ep *Endpoint) chan struct{} {
	n, interval := advertiseSettings(r.Options)
	if n == 0 || ep.NetnsPath == "" || len(ep.MAC) != 6 {
		return nil
	}
	if ep.HostIface != "" {
		bridge.WaitForwarding(ep.HostIface, bridgePortForwardingMax)
	}
	ns, err := netif.OpenContainer(ep.NetnsPath, 0)
	if err != nil {
		logrus.WithError(err).WithField("endpoint", stringid.TruncateID(ep.ID)).Debug("no unsolicited ARP/NA")
		return nil
	}
	defer ns.Close()
	stop := make(chan struct{})
	a := netif.Advert{IfName: ep.IfName, MAC: ep.MAC, IPv4: ep.IPv4.Addr(), IPv6: ep.IPv6.Addr(), Count: n, Interval: interval}
	if err := ns.Advertise(a, stop); err != nil {
		logrus.WithError(err).WithField("endpoint", stringid.TruncateID(ep.ID)).Debug("no unsolicited ARP/NA")
		close(stop)
		return nil
	}
	return stop
}

// keepAdvertLocked records the stop channel of an endpoint's messages.
func (m *Manager) keepAdvertLocked(epID string, stop chan struct{}) {
	if m.adverts == nil {
		m.adverts = map[string]chan struct{}{}
	}
	if old := m.adverts[epID]; old != nil {
		close(old)
	}
	m.adverts[epID] = stop
}

// stopAdvertLocked ends the messages still to be sent for an endpoint
// that leaves: its address may go to another container at once.
func (m *Manager) stopAdvertLocked(epID string) {
	if stop := m.adverts[epID]; stop != nil {
		close(stop)
		delete(m.adverts, epID)
	}
}

// Readvertise announces the addresses of a running container's endpoints
// again, for a daemon that took the container back after a restart
// (live-restore), as dockerd does when it restores the sandbox.
func (m *Manager) Readvertise(containerID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.nets {
		for _, e := range r.Endpoints {
			if e.ContainerID == containerID && e.IfName != "" {
				m.advertiseLocked(r, e)
			}
		}
	}
}
