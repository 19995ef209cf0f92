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
	bindings []PortBinding
	rules    []firewall.Port
	// holds keeps each host port bound, so that no other process takes it
	// while it is published and a second publication gets dockerd's
	// "address already in use" error.
	holds []io.Closer
}

// Publish reserves the host ports of a container's endpoint on a network
// and DNATs them to the container. It is all or nothing.
func (m *Manager) Publish(ctx context.Context, term, containerID string, specs []PortSpec) ([]PortBinding, error) {
	return m.publish(ctx, term, containerID, specs, false)
}

// OpenRouted opens the ports on a container's endpoint that does not give
// it its gateway: only a family in gateway mode routed has anything to
// open there (the ports are reachable on the container's address), as in
// dockerd; nothing is mapped on the host.
func (m *Manager) OpenRouted(ctx context.Context, term, containerID string, specs []PortSpec) ([]PortBinding, error) {
	return m.publish(ctx, term, containerID, specs, true)
}

func (m *Manager) publish(ctx context.Context, term, containerID string, specs []PortSpec, openOnly bool) ([]PortBinding, error) {
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
		if openOnly {
			return nil, nil
		}
		// macvlan and ipvlan endpoints are reached on their own address.
		return nil, errdefs.InvalidParameterf("%s driver does not support port mappings", r.Driver)
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
	pub := &publication{}
	fail := func(err error) ([]PortBinding, error) {
		for _, h := range pub.holds {
			h.Close()
		}
		return nil, err
	}
	for _, s := range specs {
		if s.Proto == "" {
			s.Proto = "tcp"
		}
		if !s.HostIP.IsValid() {
			// The network's host_binding_ipv4 (--ip for the default bridge).
			s.HostIP = r.hostBinding()
		}
		s.HostIP = s.HostIP.Unmap()
		targets := m.bindTargets(r, ep, s.HostIP)
		if openOnly {
			targets = slices.DeleteFunc(targets, func(tg bindTarget) bool { return !tg.open })
		}
		var err error
		for try := 0; ; try++ {
			nh, nb, nr := len(pub.holds), len(pub.bindings), len(pub.rules)
			err = m.publishOne(r, ep, s, targets, pub)
			if err == nil || s.HostPort != 0 || try == 10 || !errors.Is(err, syscall.EADDRINUSE) {
				break
			}
			// An ephemeral port free for IPv4 was taken for IPv6: start
			// again with another, as every family shares one port number.
			for _, h := range pub.holds[nh:] {
				h.Close()
			}
			pub.holds, pub.bindings, pub.rules = pub.holds[:nh], pub.bindings[:nb], pub.rules[:nr]
		}
		if err != nil {
			return fail(err)
		}
	}
	if m.fw != nil {
		if err := m.fw.AddPorts(pub.rules...); err != nil {
			return fail(errdefs.System(err))
		}
	}
	if m.pubs == nil {
		m.pubs = map[string][]*publication{}
	}
	m.pubs[containerID] = append(m.pubs[containerID], pub)
	m.syncRouteLocalnetLocked(r.Bridge)
	return append([]PortBinding(nil), pub.bindings...), nil
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
// same port number on each.
func (m *Manager) publishOne(r *Record, ep *Endpoint, s PortSpec, targets []bindTarget, pub *publication) error {
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
			return errdefs.Conflict(fmt.Errorf("failed to set up container networking: driver failed programming external connectivity on endpoint %s (%s): Bind for %s failed: port is already allocated",
				ep.Name, ep.ID, netip.AddrPortFrom(tg.hostIP, port)))
		}
		got, hold, err := reservePort(s.Proto, tg.hostIP, port)
		if err != nil {
			return errdefs.Conflict(fmt.Errorf("failed to set up container networking: driver failed programming external connectivity on endpoint %s (%s): failed to bind host port for %s:%s/%s: %w",
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
	return nil
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
	var errs []error
	bridges := map[string]bool{}
	for _, pub := range m.pubs[containerID] {
		if m.fw != nil {
			errs = append(errs, m.fw.RemovePorts(pub.rules...))
		}
		for _, h := range pub.holds {
			h.Close()
		}
		for _, rl := range pub.rules {
			bridges[rl.Bridge] = true
		}
	}
	delete(m.pubs, containerID)
	for b := range bridges {
		m.syncRouteLocalnetLocked(b)
	}
	return errors.Join(errs...)
}

// UnpublishOn removes what a container published or opened on one
// network (docker network disconnect of a network that is not its
// gateway's).
func (m *Manager) UnpublishOn(ctx context.Context, containerID, term string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.findLocked(term)
	if err != nil || r.Bridge == "" {
		return err
	}
	var keep []*publication
	var errs []error
	for _, pub := range m.pubs[containerID] {
		if !slices.ContainsFunc(pub.rules, func(p firewall.Port) bool { return p.Bridge == r.Bridge }) {
			keep = append(keep, pub)
			continue
		}
		if m.fw != nil {
			errs = append(errs, m.fw.RemovePorts(pub.rules...))
		}
		for _, h := range pub.holds {
			h.Close()
		}
	}
	if len(keep) == 0 {
		delete(m.pubs, containerID)
	} else {
		m.pubs[containerID] = keep
	}
	m.syncRouteLocalnetLocked(r.Bridge)
	return errors.Join(errs...)
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
