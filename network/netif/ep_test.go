package netif

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/network/internal/nettest"
)

func TestSysctlPath(t *testing.T) {
	for in, want := range map[string]string{
		"net.ipv4.conf.IFNAME.forwarding=0":      "/proc/sys/net/ipv4/conf/eth1.5/forwarding",
		"net.ipv6.conf.ifname.disable_ipv6 = 1":  "/proc/sys/net/ipv6/conf/eth1.5/disable_ipv6",
		"net.mpls.conf.IFNAME.input=1":           "/proc/sys/net/mpls/conf/eth1.5/input",
		"net.ipv4.neigh.IFNAME.base_reachable=1": "/proc/sys/net/ipv4/neigh/eth1.5/base_reachable",
	} {
		got, _, err := SysctlPath(in, "eth1.5")
		if err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"net.ipv4.conf.eth0.forwarding=0", "net.ipv4.ip_forward=1", "kernel.x.y.IFNAME.z=1", "net.ipx.conf.IFNAME.a=1", "net.ipv4.conf.IFNAME.forwarding"} {
		if _, _, err := SysctlPath(bad, "eth0"); err == nil || !strings.Contains(err.Error(), "unrecognised network interface sysctl") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

// The endpoint's sysctls land on its own interface, in its namespace.
func TestSetSysctlsOnTheInterface(t *testing.T) {
	ns, n := openWithEth0(t)
	for _, v := range []string{"0", "1", "0"} {
		if err := n.SetSysctls("eth0", []string{"net.ipv4.conf.IFNAME.forwarding=" + v}); err != nil {
			t.Fatal(err)
		}
		if out, _ := ns.Exec("sysctl", "-n", "net.ipv4.conf.eth0.forwarding"); out != v {
			t.Fatalf("forwarding = %q, want %s", out, v)
		}
	}
	if err := n.SetSysctls("eth0", []string{"net.ipv4.conf.IFNAME.no_such_thing=1"}); err == nil {
		t.Fatal("an unknown sysctl was accepted")
	}
}

// Failing to turn IPv6 off is an error, with dockerd's message (moby's
// suite stands in a read-only /proc/sys with DOCKER_TEST_RO_DISABLE_IPV6).
func TestSetIPv6OffFailureIsAnError(t *testing.T) {
	_, n := openWithEth0(t)
	roDisableIPv6 = true
	defer func() { roDisableIPv6 = false }()
	err := n.SetIPv6(Config{Name: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix("10.251.81.2/24")}})
	if err == nil || !strings.Contains(err.Error(), "failed to disable IPv6 on container's interface eth0") {
		t.Fatalf("got %v", err)
	}
	// Turning it on is not affected.
	if err := n.SetIPv6(Config{Name: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix("fd00:81::2/64")}}); err != nil {
		t.Fatal(err)
	}
}

// secondIf adds eth1 to the namespace, up, with addr.
func secondIf(t *testing.T, ns nettest.Netns, n *Netns, addr string) {
	t.Helper()
	la := netlink.NewLinkAttrs()
	la.Name = nettest.Name("bnif")
	nettest.CleanupLink(t, la.Name)
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "eth1", PeerNamespace: n.Fd()}); err != nil {
		t.Fatal(err)
	}
	if l, err := netlink.LinkByName(la.Name); err == nil {
		netlink.LinkSetUp(l)
	}
	if err := n.Configure(Config{Name: "eth1", Addrs: []netip.Prefix{netip.MustParsePrefix(addr)}}); err != nil {
		t.Fatal(err)
	}
}

// The default route moves between a container's interfaces as its gateway
// endpoint changes, and a route that cannot be added leaves none.
func TestSetDefaultRouteMoves(t *testing.T) {
	ns, n := openWithEth0(t)
	c := Config{Name: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix("10.251.82.2/24")}, Gateway4: netip.MustParseAddr("10.251.82.1")}
	if err := n.SetIPv6(c); err != nil {
		t.Fatal(err)
	}
	if err := n.Configure(c); err != nil {
		t.Fatal(err)
	}
	secondIf(t, ns, n, "10.251.83.2/24")
	route := func() string {
		out, _ := ns.Exec("ip", "-4", "route", "show", "default")
		return out
	}
	if err := n.SetDefaultRoute(netlink.FAMILY_V4, Gateway{IfName: "eth1", Via: netip.MustParseAddr("10.251.83.1")}); err != nil {
		t.Fatal(err)
	}
	if r := route(); r != "default via 10.251.83.1 dev eth1" {
		t.Fatalf("after the move: %q", r)
	}
	// Asking again changes nothing.
	if err := n.SetDefaultRoute(netlink.FAMILY_V4, Gateway{IfName: "eth1", Via: netip.MustParseAddr("10.251.83.1")}); err != nil || route() != "default via 10.251.83.1 dev eth1" {
		t.Fatalf("again: %v %q", err, route())
	}
	if _, err := ns.Exec("ip", "link", "set", "eth0", "down"); err != nil {
		t.Fatal(err)
	}
	if err := n.SetDefaultRoute(netlink.FAMILY_V4, Gateway{IfName: "eth0", Via: netip.MustParseAddr("10.251.82.1")}); err == nil {
		t.Fatal("a route through a device that is down was added")
	}
	if r := route(); r != "" {
		t.Fatalf("the old route stayed: %q", r)
	}
	if err := n.SetDefaultRoute(netlink.FAMILY_V4, Gateway{}); err != nil || route() != "" {
		t.Fatalf("no gateway: %v %q", err, route())
	}
}

// capture collects what arrives on a host device for d.
func capture(t *testing.T, dev string, d time.Duration) (arps, nas [][]byte) {
	t.Helper()
	link, err := netlink.LinkByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: link.Attrs().Index}); err != nil {
		t.Fatal(err)
	}
	tv := unix.NsecToTimeval(int64(50 * time.Millisecond))
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	buf := make([]byte, 2048)
	for end := time.Now().Add(d); time.Now().Before(end); {
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			continue
		}
		ll := from.(*unix.SockaddrLinklayer)
		pkt := append([]byte(nil), buf[:n]...)
		switch htons(ll.Protocol) {
		case unix.ETH_P_ARP:
			arps = append(arps, pkt)
		case unix.ETH_P_IPV6:
			if len(pkt) > 40 && pkt[6] == unix.IPPROTO_ICMPV6 && pkt[40] == 136 {
				nas = append(nas, pkt[40:])
			}
		}
	}
	return arps, nas
}

// A new interface announces its addresses: gratuitous ARP requests and
// unsolicited neighbour advertisements, Count of each, until stopped.
func TestAdvertiseSendsARPAndNA(t *testing.T) {
	nettest.RequireRoot(t)
	ns := nettest.NewNetns(t)
	n, err := OpenContainer(ns.Path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	host := nettest.Name("bnad")
	nettest.CleanupLink(t, host)
	la := netlink.NewLinkAttrs()
	la.Name = host
	mac := net.HardwareAddr{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "eth0", PeerNamespace: n.Fd(), PeerHardwareAddr: mac}); err != nil {
		t.Fatal(err)
	}
	l, _ := netlink.LinkByName(host)
	netlink.LinkSetUp(l)
	c := Config{Name: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix("10.251.84.2/24"), netip.MustParsePrefix("fd00:84::2/64")}}
	if err := n.SetIPv6(c); err != nil {
		t.Fatal(err)
	}
	if err := n.Configure(c); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)

	for _, tc := range []struct {
		count int
		stop  bool
		want  int
	}{{count: 2, want: 2}, {count: 3, stop: true, want: 1}} {
		stop := make(chan struct{})
		done := make(chan struct{})
		var arps, nas [][]byte
		// Long enough for every message a count allows to arrive on a
		// loaded machine (there cannot be more than count); the stopped
		// case checks that none comes after the first.
		window := 700 * time.Millisecond
		if !tc.stop {
			window = time.Duration(tc.count)*300*time.Millisecond + 2*time.Second
		}
		go func() {
			arps, nas = capture(t, host, window)
			close(done)
		}()
		time.Sleep(50 * time.Millisecond)
		a := Advert{IfName: "eth0", MAC: mac, IPv4: netip.MustParseAddr("10.251.84.2"), IPv6: netip.MustParseAddr("fd00:84::2"), Count: tc.count, Interval: 300 * time.Millisecond}
		if err := n.Advertise(a, stop); err != nil {
			t.Fatal(err)
		}
		if tc.stop {
			close(stop)
		}
		<-done
		gotARP, gotNA := 0, 0
		for _, p := range arps {
			// Request, sender = target = 10.251.84.2, from mac, target MAC zero.
			if len(p) == 28 && p[7] == 1 && net.HardwareAddr(p[8:14]).String() == mac.String() &&
				net.IP(p[14:18]).String() == "10.251.84.2" && net.IP(p[24:28]).String() == "10.251.84.2" {
				gotARP++
			}
		}
		for _, p := range nas {
			if len(p) == 32 && p[4] == 0x20 && netip.AddrFrom16([16]byte(p[8:24])).String() == "fd00:84::2" &&
				p[24] == 2 && net.HardwareAddr(p[26:32]).String() == mac.String() {
				gotNA++
			}
		}
		if gotARP != tc.want || gotNA != tc.want {
			t.Fatalf("count %d stop %v: %d ARPs, %d NAs, want %d each", tc.count, tc.stop, gotARP, gotNA, tc.want)
		}
		if !tc.stop {
			close(stop)
		}
	}
}
