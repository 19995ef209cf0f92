package bridge

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/berthd/berth/network/internal/nettest"
)

// testMAC is the fixed MAC the tests give an endpoint on ip.
func testMAC(ip netip.Addr) net.HardwareAddr {
	b := ip.As4()
	return net.HardwareAddr{0x02, 0x42, b[0], b[1], b[2], b[3]}
}

// testSubnet picks a /24 that no host route or address uses, so the test
// bridge never shadows a real network.
func testSubnet(t *testing.T) netip.Prefix {
	for i := 0; i < 50; i++ {
		p := netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.0/24", 200+rand.IntN(50), rand.IntN(256)))
		if !HostConflict(p) {
			return p
		}
	}
	t.Fatal("no free test subnet")
	return netip.Prefix{}
}

func nth(p netip.Prefix, n int) netip.Addr {
	a := p.Addr()
	for i := 0; i < n; i++ {
		a = a.Next()
	}
	return a
}

// newBridge makes a bridge with the subnet's .1 as gateway, deleted at
// test end.
func newBridge(t *testing.T, mtu int) (string, netip.Prefix) {
	t.Helper()
	nettest.RequireRoot(t)
	name := nettest.Name("btb")
	nettest.CleanupLink(t, name)
	sub := testSubnet(t)
	if err := Ensure(Config{Name: name, MTU: mtu, Addrs: []netip.Prefix{netip.PrefixFrom(nth(sub, 1), 24)}}); err != nil {
		t.Fatal(err)
	}
	// Idempotent on a second call.
	if err := Ensure(Config{Name: name, MTU: mtu, Addrs: []netip.Prefix{netip.PrefixFrom(nth(sub, 1), 24)}}); err != nil {
		t.Fatal(err)
	}
	return name, sub
}

func attach(t *testing.T, br string, sub netip.Prefix, n int, ns nettest.Netns, mtu int) netip.Addr {
	t.Helper()
	ip := nth(sub, n)
	host := nettest.Name("vbt")
	nettest.CleanupLink(t, host)
	err := Attach(Veth{
		HostName:  host,
		Bridge:    br,
		NetnsPath: ns.Path,
		Addrs:     []netip.Prefix{netip.PrefixFrom(ip, 24)},
		Gateway4:  nth(sub, 1),
		MTU:       mtu,
		MAC:       testMAC(ip),
	})
	if err != nil {
		t.Fatal(err)
	}
	return ip
}

func TestAttachGivesEth0WithAddressRouteMTUAndMAC(t *testing.T) {
	br, sub := newBridge(t, 1400)
	ns := nettest.NewNetns(t)
	ip := attach(t, br, sub, 2, ns, 1400)

	out, err := ns.Exec("ip", "-o", "addr", "show", "dev", "eth0")
	if err != nil || !strings.Contains(out, ip.String()+"/24") {
		t.Fatalf("eth0 address: %v %s", err, out)
	}
	out, _ = ns.Exec("ip", "-o", "link", "show", "dev", "eth0")
	if !strings.Contains(out, "mtu 1400") || !strings.Contains(out, testMAC(ip).String()) || !strings.Contains(out, "UP") {
		t.Fatalf("eth0 link: %s", out)
	}
	out, _ = ns.Exec("ip", "route", "show", "default")
	if !strings.Contains(out, "default via "+nth(sub, 1).String()+" dev eth0") {
		t.Fatalf("default route: %q", out)
	}
	out, _ = ns.Exec("ip", "-o", "link", "show", "dev", "lo")
	if !strings.Contains(out, "UP") {
		t.Fatalf("lo not up: %s", out)
	}
	ports, err := BridgePorts(br)
	if err != nil || len(ports) != 1 {
		t.Fatalf("bridge ports %v %v", ports, err)
	}
	if err := Detach(ports[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := ns.Exec("ip", "link", "show", "eth0"); err == nil {
		t.Fatal("eth0 survived Detach")
	}
	if err := Detach(ports[0]); err != nil {
		t.Fatalf("second Detach: %v", err)
	}
}

func TestTwoNamespacesOnOneBridgePing(t *testing.T) {
	busybox := nettest.RequireTool(t, "busybox", "busybox-static")
	br, sub := newBridge(t, 0)
	a, b := nettest.NewNetns(t), nettest.NewNetns(t)
	ipA := attach(t, br, sub, 2, a, 0)
	ipB := attach(t, br, sub, 3, b, 0)
	if out, err := a.Exec(busybox, "ping", "-c", "1", "-W", "2", ipB.String()); err != nil {
		t.Fatalf("a → b: %v\n%s", err, out)
	}
	if out, err := b.Exec(busybox, "ping", "-c", "1", "-W", "2", ipA.String()); err != nil {
		t.Fatalf("b → a: %v\n%s", err, out)
	}
	// The gateway (the bridge itself) answers too.
	if out, err := a.Exec(busybox, "ping", "-c", "1", "-W", "2", nth(sub, 1).String()); err != nil {
		t.Fatalf("a → gateway: %v\n%s", err, out)
	}
}

func TestAttachByPidAndIPv6(t *testing.T) {
	br, sub := newBridge(t, 0)
	v6 := netip.MustParsePrefix("fd5b:e27:1::/64")
	gw6 := netip.MustParseAddr("fd5b:e27:1::1")
	if err := Ensure(Config{Name: br, Addrs: []netip.Prefix{netip.PrefixFrom(gw6, 64)}}); err != nil {
		t.Fatal(err)
	}
	ns := nettest.NewNetns(t)
	// A process inside the namespace stands in for a container's init.
	cmd := nsSleeper(t, ns)
	host := nettest.Name("vbt")
	nettest.CleanupLink(t, host)
	ip6 := netip.MustParseAddr("fd5b:e27:1::2")
	err := Attach(Veth{
		HostName: host, Bridge: br, Pid: cmd,
		Addrs:    []netip.Prefix{netip.PrefixFrom(nth(sub, 5), 24), netip.PrefixFrom(ip6, 64)},
		Gateway4: nth(sub, 1), Gateway6: gw6,
	})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := ns.Exec("ip", "-6", "route", "show", "default")
	if !strings.Contains(out, "via "+gw6.String()) {
		t.Fatalf("v6 default route: %q", out)
	}
	out, _ = ns.Exec("ip", "-o", "-6", "addr", "show", "dev", "eth0")
	if !strings.Contains(out, ip6.String()+"/64") {
		t.Fatalf("v6 address: %s", out)
	}
	_ = v6
}

func TestDeleteMissingIsNoError(t *testing.T) {
	nettest.RequireRoot(t)
	if err := Delete(nettest.Name("nobr")); err != nil {
		t.Fatal(err)
	}
	if err := Detach(nettest.Name("noveth")); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultRouteDevs6(t *testing.T) {
	for _, dev := range DefaultRouteDevs6() {
		if !Exists(dev) {
			t.Fatalf("%s: not a device", dev)
		}
	}
}

// Ensuring from a snapshot is Ensure: a bridge in it keeps its one
// address, a missing one is made, and an address the snapshot lacks is
// added.
func TestSnapshotEnsure(t *testing.T) {
	name, sub := newBridge(t, 0)
	gw := netip.PrefixFrom(nth(sub, 1), 24)
	missing := nettest.Name("btb")
	nettest.CleanupLink(t, missing)
	sub2 := testSubnet(t)
	snap, err := TakeSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	extra := netip.PrefixFrom(nth(sub, 2), 24)
	if err := snap.Ensure(Config{Name: name, Addrs: []netip.Prefix{gw, extra}}); err != nil {
		t.Fatal(err)
	}
	if err := snap.Ensure(Config{Name: missing, Addrs: []netip.Prefix{netip.PrefixFrom(nth(sub2, 1), 24)}}); err != nil {
		t.Fatal(err)
	}
	for br, want := range map[string][]netip.Prefix{name: {gw, extra}, missing: {netip.PrefixFrom(nth(sub2, 1), 24)}} {
		got := IPv4Addrs(br)
		if len(got) != len(want) {
			t.Fatalf("%s: addresses %v, want %v", br, got, want)
		}
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Fatalf("%s: addresses %v, want %v", br, got, want)
			}
		}
	}
}
