package network

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"syscall"

	"github.com/berthd/berth/network/firewall"
	"github.com/berthd/berth/pkg/errdefs"
)

// PortSpec is one -p/-P request for a container's endpoint.
type PortSpec struct {
	// Proto is tcp, udp or sctp.
	Proto string
	// HostIP is where to publish; zero means every IPv4 address.
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
		// macvlan and ipvlan endpoints are reached on their own address.
		return nil, errdefs.InvalidParameterf("%s driver does not support port mappings", r.Driver)
	}
	var ep *Endpoint
	for _, e := range r.Endpoints {
		if e.ContainerID == containerID {
			ep = e
		}
	}
	if ep == nil || !ep.IPv4.IsValid() {
		return nil, errdefs.NotFoundf("container %s has no IPv4 endpoint on network %s", containerID, r.Name)
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
		hostIP := s.HostIP
		if !hostIP.IsValid() {
			hostIP = netip.IPv4Unspecified()
		}
		if s.HostPort != 0 && m.allocatedLocked(s.Proto, hostIP, s.HostPort, pub) {
			return fail(errdefs.Conflict(fmt.Errorf("failed to set up container networking: driver failed programming external connectivity on endpoint %s (%s): Bind for %s:%d failed: port is already allocated",
				ep.Name, ep.ID, hostIP, s.HostPort)))
		}
		port, hold, err := reservePort(s.Proto, hostIP, s.HostPort)
		if err != nil {
			return fail(errdefs.Conflict(fmt.Errorf("failed to set up container networking: driver failed programming external connectivity on endpoint %s (%s): failed to bind host port for %s:%d:%s:%d/%s: %w",
				ep.Name, ep.ID, hostIP, s.HostPort, ep.IPv4.Addr(), s.ContainerPort, s.Proto, err)))
		}
		if hold != nil {
			pub.holds = append(pub.holds, hold)
		}
		s.HostPort = port
		b := PortBinding{PortSpec: s, ContainerIP: ep.IPv4.Addr()}
		pub.bindings = append(pub.bindings, b)
		pub.rules = append(pub.rules, firewall.Port{Proto: s.Proto, HostIP: s.HostIP, HostPort: port, Bridge: r.Bridge,
			ContainerIP: ep.IPv4.Addr(), ContainerPort: s.ContainerPort})
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
		return bip == ip || bip.IsUnspecified() || ip.IsUnspecified()
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

// reservePort binds the host port (the kernel picks one for port 0) and
// returns the socket to hold it. SCTP ports are not reserved: the port
// must be given.
func reservePort(proto string, ip netip.Addr, port uint16) (uint16, io.Closer, error) {
	addr := net.JoinHostPort(ip.String(), strconv.Itoa(int(port)))
	switch proto {
	case "tcp":
		l, err := net.Listen("tcp4", addr)
		if err != nil {
			return 0, nil, unwrapSyscall(err)
		}
		return uint16(l.Addr().(*net.TCPAddr).Port), l, nil
	case "udp":
		c, err := net.ListenPacket("udp4", addr)
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
