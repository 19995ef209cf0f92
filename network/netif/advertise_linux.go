package netif

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// Advert is the unsolicited ARP and neighbour advertisements that announce
// an interface's addresses, as dockerd sends them when a container joins a
// network or a restarted daemon takes it back: an address is often reused
// within seconds by a new container with a new random MAC, and neighbours
// would otherwise keep sending to the old one until their caches expire.
type Advert struct {
	IfName string
	MAC    net.HardwareAddr
	// IPv4 gets a gratuitous ARP request, IPv6 an unsolicited neighbour
	// advertisement to all nodes (override flag set); either may be zero.
	IPv4, IPv6 netip.Addr
	// Count messages (of each kind) are sent, Interval apart.
	Count    int
	Interval time.Duration
}

// Advertise sends the first messages now and the others in the
// background, until stop is closed. The sockets are made inside the
// namespace, so the sends go out of the container's interface whatever
// thread runs them. A failure to send is logged, never fatal: neighbours
// still learn the address by asking.
func (n *Netns) Advertise(a Advert, stop <-chan struct{}) error {
	if a.Count <= 0 || len(a.MAC) != 6 || (!a.IPv4.IsValid() && !a.IPv6.IsValid()) {
		return nil
	}
	link, err := n.h.LinkByName(a.IfName)
	if err != nil {
		return err
	}
	idx := link.Attrs().Index
	var fds []advertSocket
	err = n.Do(func() error {
		if a.IPv4.IsValid() {
			s, err := newARPSocket(idx, a.MAC, a.IPv4)
			if err != nil {
				return err
			}
			fds = append(fds, s)
		}
		if a.IPv6.IsValid() {
			s, err := newNASocket(idx, a.MAC, a.IPv6)
			if err != nil {
				return err
			}
			fds = append(fds, s)
		}
		return nil
	})
	if err != nil {
		for _, s := range fds {
			s.close()
		}
		return err
	}
	log := logrus.WithFields(logrus.Fields{"iface": a.IfName, "mac": a.MAC.String()})
	send := func() bool {
		ok := true
		for _, s := range fds {
			if err := s.send(); err != nil {
				log.WithError(err).Debug("unsolicited ARP/NA not sent")
				ok = false
			}
		}
		return ok
	}
	closeAll := func() {
		for _, s := range fds {
			s.close()
		}
	}
	if !send() || a.Count == 1 {
		closeAll()
		return nil
	}
	go func() {
		defer closeAll()
		t := time.NewTicker(a.Interval)
		defer t.Stop()
		for range a.Count - 1 {
			select {
			case <-stop:
				return
			case <-t.C:
				if !send() {
					return
				}
			}
		}
	}()
	return nil
}

type advertSocket struct {
	fd  int
	pkt []byte
	to  unix.Sockaddr
}

func (s advertSocket) send() error { return unix.Sendto(s.fd, s.pkt, 0, s.to) }
func (s advertSocket) close()      { unix.Close(s.fd) }

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// newARPSocket prepares a gratuitous ARP request: sender and target
// protocol address both ip, target hardware address zero, broadcast.
func newARPSocket(ifIndex int, mac net.HardwareAddr, ip netip.Addr) (advertSocket, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ARP)))
	if err != nil {
		return advertSocket{}, fmt.Errorf("ARP socket: %w", err)
	}
	ip4 := ip.Unmap().As4()
	pkt := []byte{0, 1, 0x08, 0x00, 6, 4, 0, 1}
	pkt = append(pkt, mac...)
	pkt = append(pkt, ip4[:]...)
	pkt = append(pkt, 0, 0, 0, 0, 0, 0)
	pkt = append(pkt, ip4[:]...)
	to := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: ifIndex, Halen: 6}
	copy(to.Addr[:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	return advertSocket{fd: fd, pkt: pkt, to: to}, nil
}

// newNASocket prepares an unsolicited neighbour advertisement for ip to
// all nodes, with the target link-layer address option; the kernel fills
// in the checksum of an ICMPv6 raw socket.
func newNASocket(ifIndex int, mac net.HardwareAddr, ip netip.Addr) (advertSocket, error) {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6)
	if err != nil {
		return advertSocket{}, fmt.Errorf("ICMPv6 socket: %w", err)
	}
	fail := func(err error) (advertSocket, error) {
		unix.Close(fd)
		return advertSocket{}, err
	}
	// Neighbour discovery messages must arrive with hop limit 255.
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, 255); err != nil {
		return fail(err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifIndex); err != nil {
		return fail(err)
	}
	src := &unix.SockaddrInet6{Addr: ip.As16()}
	if ip.IsLinkLocalUnicast() {
		src.ZoneId = uint32(ifIndex)
	}
	if err := unix.Bind(fd, src); err != nil {
		return fail(fmt.Errorf("bind %s: %w", ip, err))
	}
	a := ip.As16()
	pkt := []byte{136, 0, 0, 0, 0x20, 0, 0, 0}
	pkt = append(pkt, a[:]...)
	pkt = append(pkt, 2, 1)
	pkt = append(pkt, mac...)
	allNodes := netip.MustParseAddr("ff02::1").As16()
	return advertSocket{fd: fd, pkt: pkt, to: &unix.SockaddrInet6{Addr: allNodes, ZoneId: uint32(ifIndex)}}, nil
}
