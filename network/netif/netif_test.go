package netif

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/berthd/berth/network/internal/nettest"
)

func TestOpenContainerRefusesHostNamespace(t *testing.T) {
	nettest.RequireRoot(t)
	if _, err := OpenContainer("/proc/self/ns/net", 0); err == nil ||
		!strings.Contains(err.Error(), "host's network namespace") {
		t.Fatalf("host namespace: %v", err)
	}
	if _, err := OpenContainer("", 0); err == nil {
		t.Fatal("no path and no pid was accepted")
	}
}

// eth0In creates a veth pair whose inner end is eth0, made directly
// inside the namespace as the drivers make theirs.
func eth0In(t *testing.T, n *Netns) {
	t.Helper()
	la := netlink.NewLinkAttrs()
	la.Name = nettest.Name("bnif")
	nettest.CleanupLink(t, la.Name)
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "eth0", PeerNamespace: n.Fd()}); err != nil {
		t.Fatal(err)
	}
}

// openWithEth0 opens a throw-away namespace that has an eth0 to configure.
func openWithEth0(t *testing.T) (nettest.Netns, *Netns) {
	t.Helper()
	nettest.RequireRoot(t)
	nettest.RequireTool(t, "ip", "iproute2")
	ns := nettest.NewNetns(t)
	n, err := OpenContainer(ns.Path, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	eth0In(t, n)
	return ns, n
}

func TestConfigureAddressesRoutesAndIPv6(t *testing.T) {
	ns, n := openWithEth0(t)
	c := Config{Name: "eth0",
		Addrs:    []netip.Prefix{netip.MustParsePrefix("10.251.79.2/24"), netip.MustParsePrefix("fd00:79::2/64")},
		Gateway4: netip.MustParseAddr("10.251.79.1"), Gateway6: netip.MustParseAddr("fd00:79::1")}
	if err := n.SetIPv6(c); err != nil {
		t.Fatal(err)
	}
	if err := n.Configure(c); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"ip", "-4", "route", "show", "default"},
		{"ip", "-6", "route", "show", "default"},
		{"ip", "addr", "show", "eth0"},
		{"ip", "link", "show", "lo"},
	} {
		out, err := ns.Exec(args...)
		if err != nil {
			t.Fatalf("%v: %v: %s", args, err, out)
		}
		for _, want := range map[string][]string{
			"-4":   {"via 10.251.79.1"},
			"-6":   {"via fd00:79::1"},
			"addr": {"10.251.79.2/24", "fd00:79::2/64", "nodad", "UP"},
			"link": {"UP"},
		}[args[1]] {
			if !strings.Contains(out, want) {
				t.Errorf("%v: no %q in %s", args, want, out)
			}
		}
	}
	if out, _ := ns.Exec("sysctl", "-n", "net.ipv6.conf.eth0.disable_ipv6"); out != "0" {
		t.Errorf("disable_ipv6 on eth0 = %q, want 0", out)
	}
}

func TestConfigureDeviceRoutesAndIPv4Only(t *testing.T) {
	ns, n := openWithEth0(t)
	c := Config{Name: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix("10.251.80.2/24")}, DeviceRoute4: true, DeviceRoute6: true}
	if err := n.SetIPv6(c); err != nil {
		t.Fatal(err)
	}
	if out, _ := ns.Exec("sysctl", "-n", "net.ipv6.conf.eth0.disable_ipv6"); out != "1" {
		t.Errorf("an IPv4-only interface keeps IPv6 on: disable_ipv6 = %q", out)
	}
	// With IPv6 off on the device the v6 device route cannot be added:
	// Configure must fail and delete the device.
	if err := n.Configure(c); err == nil {
		t.Fatal("a v6 route on a device with IPv6 off was accepted")
	}
	if _, err := ns.Exec("ip", "link", "show", "eth0"); err == nil {
		t.Fatal("a failed Configure left eth0")
	}
	eth0In(t, n)
	c.DeviceRoute6 = false
	if err := n.Configure(c); err != nil {
		t.Fatal(err)
	}
	if out, err := ns.Exec("ip", "-4", "route", "show", "default"); err != nil || !strings.Contains(out, "dev eth0") || strings.Contains(out, "via") {
		t.Errorf("device route: %v: %s", err, out)
	}
}
