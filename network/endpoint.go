package network

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/network/bridge"
	"github.com/berthd/berth/network/netif"
	"github.com/berthd/berth/network/vlan"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/stringid"
)

// JoinOptions describe the container joining a network.
type JoinOptions struct {
	ContainerID string
	// Name is the container's name without the leading slash; it and
	// Aliases are what the embedded DNS answers for.
	Name    string
	Aliases []string
	// IPv4 and IPv6 are static addresses (--ip, --ip6); zero means any.
	IPv4, IPv6 netip.Addr
	// MAC overrides the address derived from the IPv4 address.
	MAC net.HardwareAddr
	// NetnsPath or Pid names the container's network namespace.
	NetnsPath string
	Pid       int
	// IfName is the device's name in the container
	// (com.docker.network.endpoint.ifname); empty takes the next free ethN.
	IfName string
	// Sysctls are the interface's sysctls, "net.X.Y.IFNAME.Z=V"
	// (com.docker.network.endpoint.sysctls).
	Sysctls []string
	// NoIPv6 gives the endpoint no IPv6 address on an IPv6 network: the
	// container or the interface has IPv6 turned off.
	NoIPv6 bool
	// GwPriority ranks the endpoint for the container's default gateway.
	GwPriority int
}

// Join gives the container an endpoint on a bridge network: addresses from
// IPAM, a veth pair with eth0 (eth1… for later networks) inside the
// namespace, and its gateway routes. The endpoint is persisted so that a
// restarted daemon knows it. On error nothing is kept.
//
// Only the bookkeeping holds the manager's lock: the link set-up and the
// writes of the addresses and the record (an fsync each) happen outside
// it, so that containers starting at once on one network do not queue
// behind each other's netlink calls and disks (a hundred concurrent
// `run --rm` did, seconds each). The endpoint is in the record from the
// start, which is what makes a concurrent join of the same container, a
// network removal, and the choice of its device name see it.
func (m *Manager) Join(ctx context.Context, term string, o JoinOptions) (*Endpoint, error) {
	if err := m.waitReady(ctx); err != nil {
		return nil, err
	}
	m.mu.Lock()
	r, ep, link, first, err := m.reserveEndpointLocked(term, o)
	m.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if link != nil {
		if err := bridge.Attach(*link); err != nil {
			m.unreserveEndpoint(r, ep)
			if o.IfName != "" && errors.Is(err, syscall.EEXIST) {
				// dockerd's words: it renames a device to the chosen name.
				err = fmt.Errorf("error renaming interface %q to %q: %w", ep.HostIface, o.IfName, syscall.EEXIST)
			}
			return nil, errdefs.System(fmt.Errorf("failed to set up container networking: %w", err))
		}
	}
	if err := errors.Join(m.ipam.Sync(r.ID), m.syncRecord(r.ID)); err != nil {
		// Undone as a leave would: the link, the addresses, the record.
		m.leave(context.WithoutCancel(ctx), r.ID, o.ContainerID, false)
		return nil, err
	}
	m.mu.Lock()
	if link != nil && !first {
		// The container's default gateway is chosen among all its
		// endpoints once this one is in (see gateway.go).
		m.regatewayLocked(o.ContainerID)
	}
	c := *ep
	m.mu.Unlock()
	if link != nil {
		m.advertise(r, &c)
	}
	return &c, nil
}

// reserveEndpointLocked checks a join, takes its addresses and puts the
// endpoint in the record, in memory. For a bridge network it returns the
// link to set up, which the caller does without the lock, and whether it
// is the container's first endpoint (the one whose gateway it takes); the
// other drivers set up their links here. m.mu is held.
func (m *Manager) reserveEndpointLocked(term string, o JoinOptions) (r *Record, ep *Endpoint, link *bridge.Veth, first bool, err error) {
	r, err = m.findLocked(term)
	if err != nil {
		return nil, nil, nil, false, err
	}
	if !HasEndpoints(r.Driver) {
		return nil, nil, nil, false, errdefs.InvalidParameterf("network %s (driver %s) has no endpoints; use its mode instead", r.Name, r.Driver)
	}
	for _, e := range r.Endpoints {
		if e.ContainerID == o.ContainerID {
			return nil, nil, nil, false, errdefs.Forbidden(fmt.Errorf("endpoint with name %s already exists in network %s", o.Name, r.Name))
		}
	}
	if o.IPv6.IsValid() && !r.EnableIPv6 {
		return nil, nil, nil, false, errdefs.InvalidParameterf("invalid IPv6 address %s: network %s does not have IPv6 enabled", o.IPv6, r.Name)
	}
	epID := stringid.GenerateRandomID()
	ep = &Endpoint{ID: epID, NetworkID: r.ID, ContainerID: o.ContainerID, Name: o.Name, Aliases: slices.Clone(o.Aliases),
		NetnsPath: o.NetnsPath, GwPriority: o.GwPriority}
	release := func() { m.ipam.Unreserve(r.ID, epID) }
	for _, s := range m.ipam.Subnets(r.ID) {
		want := o.IPv4
		if s.Is6() {
			want = o.IPv6
		}
		if (s.Is6() && (ep.IPv6.IsValid() || o.NoIPv6)) || (!s.Is6() && ep.IPv4.IsValid()) {
			continue
		}
		if want.IsValid() && !s.Prefix.Contains(want) {
			continue
		}
		p, err := m.ipam.Reserve(r.ID, s.Is6(), want, epID)
		if err != nil {
			release()
			return nil, nil, nil, false, err
		}
		if s.Is6() {
			ep.IPv6, ep.Gateway6 = p, s.Gateway
		} else {
			ep.IPv4, ep.Gateway4 = p, s.Gateway
		}
	}
	if o.IPv4.IsValid() && ep.IPv4.Addr() != o.IPv4 || o.IPv6.IsValid() && ep.IPv6.Addr() != o.IPv6 {
		release()
		return nil, nil, nil, false, errdefs.InvalidParameterf("Invalid address: It does not belong to any of this network's subnets")
	}
	if r.Internal {
		// An internal network has no way out, so no default route.
		ep.Gateway4, ep.Gateway6 = netip.Addr{}, netip.Addr{}
	}
	if isVlanDriver(r.Driver) || isRemoteDriver(r.Driver) {
		join := m.joinVlanLocked
		if isRemoteDriver(r.Driver) {
			join = m.joinRemoteLocked
		}
		joined, err := join(r, ep, o, release)
		return r, joined, nil, false, err
	}
	ep.MAC = o.MAC
	if len(ep.MAC) == 0 {
		ep.MAC = netif.RandomMAC()
	}
	ep.MTU, _ = strconv.Atoi(r.Options[OptMTU])
	if ep.MTU == 0 {
		ep.MTU = m.cfg.MTU
	}
	ep.HostIface = "veth" + epID[:7]
	ep.IfName = m.ifNameLocked(o)
	v := bridge.Veth{HostName: ep.HostIface, Bridge: r.Bridge, NetnsPath: o.NetnsPath, Pid: o.Pid,
		IfName: ep.IfName, MTU: ep.MTU, MAC: ep.MAC,
		Gateway4: ep.Gateway4, Gateway6: ep.Gateway6, Hairpin: !m.cfg.UserlandProxy, Sysctls: o.Sysctls}
	for _, p := range []netip.Prefix{ep.IPv4, ep.IPv6} {
		if p.IsValid() {
			v.Addrs = append(v.Addrs, p)
		}
	}
	first = m.containerEndpointCountLocked(o.ContainerID) == 0
	if !first {
		// Not the container's first network: its default gateway is
		// chosen among all its endpoints once this one is in.
		v.Gateway4, v.Gateway6 = netip.Addr{}, netip.Addr{}
	}
	r.Endpoints[epID] = ep
	m.touchRecordLocked(r)
	return r, ep, &v, first, nil
}

// unreserveEndpoint undoes reserveEndpointLocked for a link that could not
// be set up: the endpoint and its addresses go, in memory and then on
// disk (a concurrent join's write may have carried them there).
func (m *Manager) unreserveEndpoint(r *Record, ep *Endpoint) {
	m.mu.Lock()
	delete(r.Endpoints, ep.ID)
	m.touchRecordLocked(r)
	m.ipam.Unreserve(r.ID, ep.ID)
	m.mu.Unlock()
	if err := errors.Join(m.ipam.Sync(r.ID), m.syncRecord(r.ID)); err != nil {
		logrus.WithError(err).WithField("network", r.Name).Warn("could not record an endpoint's removal")
	}
}

func (m *Manager) containerEndpointCountLocked(containerID string) int {
	n := 0
	for _, r := range m.nets {
		for _, e := range r.Endpoints {
			if e.ContainerID == containerID {
				n++
			}
		}
	}
	return n
}

// ifNameLocked is the device name a new endpoint gets in the container:
// the one asked for, or the next free ethN.
func (m *Manager) ifNameLocked(o JoinOptions) string {
	if o.IfName != "" {
		return o.IfName
	}
	return m.nextIfNameLocked(o.ContainerID)
}

// nextIfNameLocked is the first ethN the container has no device of, as
// dockerd picks it: after a disconnect, the next connect takes the freed
// name instead of one a later network's device already has (which failed
// with "file exists"). Endpoints recorded before names were kept count as
// eth0, eth1… in order, as they were named then.
func (m *Manager) nextIfNameLocked(containerID string) string {
	used, n, unnamed := map[string]bool{}, 0, false
	for _, r := range m.nets {
		for _, e := range r.Endpoints {
			if e.ContainerID != containerID {
				continue
			}
			n++
			if e.IfName == "" {
				unnamed = true
			}
			used[e.IfName] = true
		}
	}
	if unnamed {
		return "eth" + strconv.Itoa(n)
	}
	for i := 0; ; i++ {
		if name := "eth" + strconv.Itoa(i); !used[name] {
			return name
		}
	}
}

// Leave removes the container's endpoint from a network: the veth pair, its
// addresses and the record. Leaving a network the container is not on is
// not an error, so cleanup can repeat.
func (m *Manager) Leave(ctx context.Context, term, containerID string) error {
	return m.leave(ctx, term, containerID, false)
}

// leave removes the endpoint; with background set (the container's process
// is gone, so its namespace and the veth names in it die with it) the veth
// pair is deleted after leave returns.
func (m *Manager) leave(ctx context.Context, term, containerID string, background bool) error {
	m.waitReady(ctx)
	m.mu.Lock()
	r, left, err := m.leaveLocked(term, containerID, background)
	m.mu.Unlock()
	if err != nil || !left {
		return err
	}
	// The writes happen outside the lock, as Join's do.
	return errors.Join(m.ipam.Sync(r.ID), m.syncRecord(r.ID))
}

// leaveLocked removes the endpoint from memory and the host (see leave),
// and reports whether there was one. m.mu is held.
func (m *Manager) leaveLocked(term, containerID string, background bool) (*Record, bool, error) {
	r, err := m.findLocked(term)
	if err != nil {
		return nil, false, err
	}
	for id, e := range r.Endpoints {
		if e.ContainerID != containerID {
			continue
		}
		if isRemoteDriver(r.Driver) {
			m.leaveRemoteLocked(r, e, background)
		} else if isVlanDriver(r.Driver) {
			// A container's macvlan or ipvlan device dies with its
			// namespace; only a running container's needs deleting.
			if !background {
				if err := vlan.Detach(e.NetnsPath, 0, e.IfName); err != nil {
					return nil, false, err
				}
			}
		} else if background {
			// Deleting a device waits for an RCU grace period in the
			// kernel (milliseconds, on the path of every container exit
			// and `run --rm`). The host name is unique to this endpoint
			// and the container's end dies with its namespace, so nothing
			// needs the pair gone first.
			m.detaching.Add(1)
			go func(name string) {
				defer m.detaching.Done()
				if err := bridge.Detach(name); err != nil {
					logrus.WithError(err).WithField("veth", name).Warn("could not delete a container's veth")
				}
			}(e.HostIface)
		} else if err := bridge.Detach(e.HostIface); err != nil {
			return nil, false, err
		}
		m.stopAdvertLocked(id)
		// What the container published or opened on this network's
		// address goes with the endpoint.
		if err := m.unpublishLocked(containerID, func(p *publication) bool { return p.net == r.ID }); err != nil {
			logrus.WithError(err).WithField("container", shortContainerID(containerID)).Warn("unpublishing ports")
		}
		// The endpoint goes from memory even when its release cannot
		// be written (a full or read-only data-root): kept, it would
		// hold its address for good, its container being stopped or
		// removed regardless. The next write of either file carries
		// the change; a restart before that finds the endpoint of a
		// container that is gone and leaves it then
		// (LeaveGoneContainers).
		m.ipam.Unreserve(r.ID, id)
		delete(r.Endpoints, id)
		m.touchRecordLocked(r)
		if !background {
			// The container lives on: if this endpoint was its gateway,
			// the next best takes over, with its ports.
			m.regatewayLocked(containerID)
		}
		return r, true, nil
	}
	return r, false, nil
}

// EndpointContainers lists the containers that have an endpoint on some
// network.
func (m *Manager) EndpointContainers() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	set := map[string]bool{}
	for _, r := range m.nets {
		for _, e := range r.Endpoints {
			set[e.ContainerID] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// Resolve answers the embedded DNS for a container: the addresses of every
// endpoint named name (container name, alias, or short ID) on the
// user-defined networks the asking container shares with it. The default
// bridge has no name resolution, as in dockerd.
func (m *Manager) Resolve(containerID, name string) []netip.Addr {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []netip.Addr
	for _, r := range m.nets {
		if r.Predefined {
			continue
		}
		member := false
		for _, e := range r.Endpoints {
			if e.ContainerID == containerID {
				member = true
			}
		}
		if !member {
			continue
		}
		for _, e := range r.Endpoints {
			if !endpointAnswers(e, name) {
				continue
			}
			for _, p := range []netip.Prefix{e.IPv4, e.IPv6} {
				if p.IsValid() {
					out = append(out, p.Addr())
				}
			}
		}
	}
	return out
}

func endpointAnswers(e *Endpoint, name string) bool {
	if strings.EqualFold(e.Name, name) || len(e.ContainerID) >= 12 && strings.EqualFold(e.ContainerID[:12], name) {
		return true
	}
	for _, a := range e.Aliases {
		if strings.EqualFold(a, name) {
			return true
		}
	}
	return false
}

// LeaveAll is the container code's one teardown call: it stops the
// container's DNS server, unpublishes its ports and leaves every network it
// is on. Like Leave it can repeat, e.g. for a container found dead after a
// daemon crash, whose veths the kernel already removed with its namespace.
// It is for a container whose process is gone: the veth pairs are deleted
// in the background (WaitDetached waits for them).
func (m *Manager) LeaveAll(ctx context.Context, containerID string) error {
	m.StopDNS(containerID)
	errs := []error{m.Unpublish(ctx, containerID)}
	for id := range m.JoinedNetworks(containerID) {
		errs = append(errs, m.leave(ctx, id, containerID, true))
	}
	return errors.Join(errs...)
}

// JoinedNetworks maps the ID of every network holding an endpoint of
// containerID to the network's name.
func (m *Manager) JoinedNetworks(containerID string) map[string]string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	nets := map[string]string{}
	for id, r := range m.nets {
		for _, e := range r.Endpoints {
			if e.ContainerID == containerID {
				nets[id] = r.Name
				break
			}
		}
	}
	return nets
}
