package network

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"syscall"

	"github.com/berthd/berth/network/firewall"
	"github.com/berthd/berth/network/portproxy"
	"github.com/berthd/berth/pkg/errdefs"
)

// PortSpec is one -p/-P request for a container's endpoint.
type PortSpec struct {
	// Proto is tcp, udp or sctp.
	Proto string
	// HostIP is where to publish; zero means every address of each
	// family the container has ("0.0.0.0" and "::", as dockerd does).
	HostIP netip.Addr
	// HostPort 0 asks the kernel for an ephemeral port (-P, or -p with
	// no host port).
	HostPort      uint16
	ContainerPort uint16
}

// PortBinding is a published port as it ended up.
type PortBinding struct {
	PortSpec
	ContainerIP netip.Addr
	// nat is false for a binding only the userland proxy carries.
	nat bool
}

type publication struct {
	// net is the ID of the network whose endpoint carries it.
	net string
	// specs are the requests as asked and ports the host port each got
	// (0 where none was bound): when the endpoint's gateway role changes
	// they are published again, the ephemeral ones on the same port.
	specs []PortSpec
	ports []uint16
	// fams are the host address families mapped (see hostFamiliesLocked).
	fams     hostFamilies
	bindings []PortBinding
	rules    []firewall.Port
	// holds keeps each host port bound, so that no other process takes it
	// while it is published and a second publication gets dockerd's
	// "address already in use" error.
	holds []io.Closer
}

// Publish programs a container's ports on its endpoint on a network, as
// dockerd's bridge driver does for each endpoint: host ports of the
// families the endpoint is the container's gateway for are reserved and
// DNATed (or proxied) to it, and a family in gateway mode routed has its
// ports opened on the container's address whatever the gateway. When the
// container's gateways change (network connect or disconnect), the
// manager moves what is mapped (see movePortsLocked). Macvlan and ipvlan
// endpoints, reached on their own addresses, map nothing. It is all or
// nothing.
func (m *Manager) Publish(ctx context.Context, term, containerID string, specs []PortSpec) ([]PortBinding, error) {
	if err := m.waitReady(ctx); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.findLocked(term)
	if err != nil {
		return nil, err
	}
	if r.Bridge == "" {
		return nil, nil
	}
	var ep *Endpoint
	for _, e := range r.Endpoints {
		if e.ContainerID == containerID {
			ep = e
		}
	}
	if ep == nil || !ep.IPv4.IsValid() && !ep.IPv6.IsValid() {
		return nil, errdefs.NotFoundf("container %s has no endpoint on network %s", containerID, r.Name)
	}
	pub, err := m.publishLocked(r, ep, specs, nil, m.hostFamiliesLocked(containerID, ep))
	if err != nil {
		return nil, err
	}
	if m.pubs == nil {
		m.pubs = map[string][]*publication{}
	}
	m.pubs[containerID] = append(m.pubs[containerID], pub)
	m.syncRouteLocalnetLocked(r.Bridge)
	return append([]PortBinding(nil), pub.bindings...), nil
}

// publishLocked reserves and programs specs on ep for the host families
// fams. pin, when given, holds a host port for each spec that asked for
// an ephemeral one: the port it had on the endpoint it moves from, taken
// again if it is free.
func (m *Manager) publishLocked(r *Record, ep *Endpoint, specs []PortSpec, pin []uint16, fams hostFamilies) (*publication, error) {
	pub := &publication{net: r.ID, specs: slices.Clone(specs), fams: fams}
	fail := func(err error) (*publication, error) {
		closeAll(pub.holds)
		return nil, err
	}
	for i, s := range specs {
		if s.Proto == "" {
			s.Proto = "tcp"
		}
		if !s.HostIP.IsValid() {
			// The network's host_binding_ipv4 (--ip for the default bridge).
			s.HostIP = r.hostBinding()
		}
		s.HostIP = s.HostIP.Unmap()
		targets := slices.DeleteFunc(m.bindTargets(r, ep, s.HostIP), func(tg bindTarget) bool {
			return !tg.open && !fams.has(tg.hostIP)
		})
		if i < len(pin) && s.HostPort == 0 {
			s.HostPort = pin[i]
		}
		var port uint16
		var err error
		for try := 0; ; try++ {
			nh, nb, nr := len(pub.holds), len(pub.bindings), len(pub.rules)
			if port, err = m.publishOne(r, ep, s, targets, pub); err == nil {
				break
			}
			closeAll(pub.holds[nh:])
			pub.holds, pub.bindings, pub.rules = pub.holds[:nh], pub.bindings[:nb], pub.rules[:nr]
			if specs[i].HostPort != 0 || try == 10 {
				break // a port the user chose is that port or nothing
			}
			if s.HostPort != 0 {
				// The pinned port is taken: any will do, as for a new one.
				s.HostPort = 0
				continue
			}
			if !errors.Is(err, syscall.EADDRINUSE) {
				break
			}
			// An ephemeral port free for IPv4 was taken for IPv6: start
			// again with another, as every family shares one port number.
		}
		if err != nil {
			return fail(err)
		}
		pub.ports = append(pub.ports, port)
	}
	if m.fw != nil {
		if err := m.fw.AddPorts(pub.rules...); err != nil {
			return fail(errdefs.System(err))
		}
	}
	return pub, nil
}

func closeAll(cs []io.Closer) {
	for _, c := range cs {
		c.Close()
	}
}

// bindTarget is one host address a port is published on and the
// container address it leads to; nat is false where only the userland
// proxy can carry it (an IPv6 host address to an IPv4-only container).
type bindTarget struct {
	hostIP, ctrIP netip.Addr
	nat           bool
	// open is gateway mode routed: the container's port is opened to
	// direct access and nothing is bound or DNATed on the host.
	open bool
}

// bindTargets follows dockerd: with no host address a port is published
// on 0.0.0.0 for the container's IPv4 address and on :: for its IPv6
// address; an IPv4-only container gets :: too, through the userland
// proxy, unless that is off (or the host has no IPv6). A host address
// of a family the container lacks publishes nothing. A family in gateway
// mode routed maps nothing on the host: its binding only opens the port,
// and comes after the mapped ones, as in dockerd's inspect.
func (m *Manager) bindTargets(r *Record, ep *Endpoint, hostIP netip.Addr) []bindTarget {
	out := m.natTargets(r, ep, hostIP)
	for _, v6 := range []bool{false, true} {
		a := ep.IPv4.Addr()
		h := netip.IPv4Unspecified()
		if v6 {
			a, h = ep.IPv6.Addr(), netip.IPv6Unspecified()
		}
		if !a.IsValid() || r.gwMode(v6) != GwModeRouted || hostIP.IsValid() && hostIP.Is6() != v6 {
			continue
		}
		if hostIP.IsValid() {
			h = hostIP
		}
		out = append(out, bindTarget{hostIP: h, ctrIP: a, open: true})
	}
	return out
}

// natTargets are bindTargets' host bindings, of the families not routed.
func (m *Manager) natTargets(r *Record, ep *Endpoint, hostIP netip.Addr) []bindTarget {
	v4, v6 := ep.IPv4.Addr(), ep.IPv6.Addr()
	routed4, routed6 := r.gwMode(false) == GwModeRouted, r.gwMode(true) == GwModeRouted
	var out []bindTarget
	if v4.IsValid() && !routed4 && (!hostIP.IsValid() || hostIP.Is4()) {
		h := hostIP
		if !h.IsValid() {
			h = netip.IPv4Unspecified()
		}
		out = append(out, bindTarget{hostIP: h, ctrIP: v4, nat: true})
	}
	if v6.IsValid() && routed6 || !v6.IsValid() && routed4 {
		// Nothing mapped on IPv6 host addresses: the family is routed,
		// or the proxy would lead to a routed IPv4 address.
		return out
	}
	if !hostIP.IsValid() || hostIP.Is6() {
		h := hostIP
		if !h.IsValid() {
			if !ipv6Listenable() {
				return out
			}
			h = netip.IPv6Unspecified()
		}
		switch {
		case v6.IsValid() && m.cfg.NoIPv6NAT:
			// --ip6tables=false: no DNAT for IPv6; the proxy, if any.
			if m.cfg.UserlandProxy {
				out = append(out, bindTarget{hostIP: h, ctrIP: v6})
			}
		case v6.IsValid():
			out = append(out, bindTarget{hostIP: h, ctrIP: v6, nat: true})
		case v4.IsValid() && m.cfg.UserlandProxy:
			out = append(out, bindTarget{hostIP: h, ctrIP: v4})
		}
	}
	return out
}

// ipv6Listenable reports whether the host can listen on IPv6 at all
// (dockerd's netutils.IsV6Listenable).
var ipv6Listenable = sync.OnceValue(func() bool {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	l.Close()
	return true
})

// publishOne reserves one spec's host port on every target, with the
// same port number on each, and returns it (0 when nothing was bound).
func (m *Manager) publishOne(r *Record, ep *Endpoint, s PortSpec, targets []bindTarget, pub *publication) (uint16, error) {
	port := s.HostPort
	for _, tg := range targets {
		if tg.open {
			b := s
			b.HostIP, b.HostPort = tg.hostIP, 0
			pub.bindings = append(pub.bindings, PortBinding{PortSpec: b, ContainerIP: tg.ctrIP})
			pub.rules = append(pub.rules, firewall.Port{Proto: s.Proto, HostIP: tg.hostIP, Bridge: r.Bridge,
				ContainerIP: tg.ctrIP, ContainerPort: s.ContainerPort, OpenOnly: true})
			continue
		}
		if port != 0 && m.allocatedLocked(s.Proto, tg.hostIP, port, pub) {
			return 0, errdefs.Conflict(fmt.Errorf("failed to set up container networking: driver failed programming external connectivity on endpoint %s (%s): Bind for %s failed: port is already allocated",
				ep.Name, ep.ID, netip.AddrPortFrom(tg.hostIP, port)))
		}
		got, hold, err := reservePort(s.Proto, tg.hostIP, port)
		if err != nil {
			return 0, errdefs.Conflict(fmt.Errorf("failed to set up container networking: driver failed programming external connectivity on endpoint %s (%s): failed to bind host port for %s:%s/%s: %w",
				ep.Name, ep.ID, netip.AddrPortFrom(tg.hostIP, port), netip.AddrPortFrom(tg.ctrIP, s.ContainerPort), s.Proto, err))
		}
		port = got
		if hold != nil {
			if m.cfg.UserlandProxy {
				// Connections NAT does not take (from ::1, to an
				// IPv4-only container, or from the container itself)
				// reach this socket.
				hold = proxyOn(hold, netip.AddrPortFrom(tg.ctrIP, s.ContainerPort))
			}
			pub.holds = append(pub.holds, hold)
		}
		b := s
		b.HostIP, b.HostPort = tg.hostIP, port
		pub.bindings = append(pub.bindings, PortBinding{PortSpec: b, ContainerIP: tg.ctrIP, nat: tg.nat})
		if tg.nat {
			pub.rules = append(pub.rules, firewall.Port{Proto: s.Proto, HostIP: tg.hostIP, HostPort: port, Bridge: r.Bridge,
				ContainerIP: tg.ctrIP, ContainerPort: s.ContainerPort})
		}
	}
	return port, nil
}

func proxyOn(hold io.Closer, target netip.AddrPort) io.Closer {
	switch h := hold.(type) {
	case net.Listener:
		return portproxy.TCP(h, target)
	case net.PacketConn:
		return portproxy.UDP(h, target)
	}
	return hold
}

// allocatedLocked reports whether a port is already published by a
// container of this daemon (or earlier in the same request), which dockerd
// reports as "port is already allocated" rather than a bind error.
func (m *Manager) allocatedLocked(proto string, ip netip.Addr, port uint16, pending *publication) bool {
	overlaps := func(b PortBinding) bool {
		if b.Proto != proto || b.HostPort != port {
			return false
		}
		bip := b.HostIP
		if !bip.IsValid() {
			bip = netip.IPv4Unspecified()
		}
		// IPv6 sockets are IPV6_V6ONLY: :: and 0.0.0.0 do not overlap.
		return bip.Is6() == ip.Is6() && (bip == ip || bip.IsUnspecified() || ip.IsUnspecified())
	}
	for _, pubs := range m.pubs {
		for _, p := range pubs {
			for _, b := range p.bindings {
				if overlaps(b) {
					return true
				}
			}
		}
	}
	for _, b := range pending.bindings {
		if overlaps(b) {
			return true
		}
	}
	return false
}

// Unpublish removes every published port of a container.
func (m *Manager) Unpublish(ctx context.Context, containerID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.unpublishLocked(containerID, func(*publication) bool { return true })
}

// unpublishLocked removes the container's publications that drop says.
func (m *Manager) unpublishLocked(containerID string, drop func(*publication) bool) error {
	var keep []*publication
	var errs []error
	bridges := map[string]bool{}
	for _, pub := range m.pubs[containerID] {
		if !drop(pub) {
			keep = append(keep, pub)
			continue
		}
		errs = append(errs, m.closePublicationLocked(pub))
		for _, rl := range pub.rules {
			bridges[rl.Bridge] = true
		}
	}
	if len(keep) == 0 {
		delete(m.pubs, containerID)
	} else {
		m.pubs[containerID] = keep
	}
	for b := range bridges {
		m.syncRouteLocalnetLocked(b)
	}
	return errors.Join(errs...)
}

// closePublicationLocked frees a publication's host ports and rules.
func (m *Manager) closePublicationLocked(pub *publication) error {
	closeAll(pub.holds)
	if m.fw == nil {
		return nil
	}
	return m.fw.RemovePorts(pub.rules...)
}

// PortBindings are what the container has published on all its
// endpoints, in the order they were published: dockerd lists every
// endpoint's in NetworkSettings.Ports.
func (m *Manager) PortBindings(containerID string) []PortBinding {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []PortBinding
	for _, pub := range m.pubs[containerID] {
		out = append(out, pub.bindings...)
	}
	return out
}

// reservePort binds the host port (the kernel picks one for port 0) and
// returns the socket to hold it. SCTP ports are not reserved: the port
// must be given.
func reservePort(proto string, ip netip.Addr, port uint16) (uint16, io.Closer, error) {
	addr := net.JoinHostPort(ip.String(), strconv.Itoa(int(port)))
	fam := "4"
	if ip.Is6() {
		// Go sets IPV6_V6ONLY on "tcp6"/"udp6" sockets, so :: leaves
		// 0.0.0.0 to the IPv4 binding.
		fam = "6"
	}
	switch proto {
	case "tcp":
		l, err := net.Listen("tcp"+fam, addr)
		if err != nil {
			return 0, nil, unwrapSyscall(err)
		}
		return uint16(l.Addr().(*net.TCPAddr).Port), l, nil
	case "udp":
		c, err := net.ListenPacket("udp"+fam, addr)
		if err != nil {
			return 0, nil, unwrapSyscall(err)
		}
		return uint16(c.LocalAddr().(*net.UDPAddr).Port), c, nil
	case "sctp":
		if port == 0 {
			return 0, nil, errors.New("sctp ports must be given explicitly")
		}
		return port, nil, nil
	}
	return 0, nil, fmt.Errorf("unsupported protocol %q", proto)
}

// unwrapSyscall turns "listen tcp4 0.0.0.0:80: bind: address already in
// use" into dockerd's short "address already in use".
func unwrapSyscall(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}
