package vlan

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/berthd/berth/network/internal/nettest"
	"github.com/berthd/berth/network/netif"
)

func TestParseSubInterfaceMessages(t *testing.T) {
	nettest.RequireRoot(t)
	missing := nettest.Name("bvno")
	for name, want := range map[string]string{
		missing:         "invalid subinterface vlan name " + missing + ", example formatting is eth0.10",
		"lo.1.2":        "required interface name format is: name.vlan_id, ex. eth0.10 for vlan 10, instead received lo.1.2",
		"lo.ten":        "unable to parse a valid vlan id from: ten (ex. eth0.10 for vlan 10)",
		missing + ".10": "-o parent interface was not found on the host: " + missing,
		"lo.0":          "vlan id must be between 1-4094, received: 0",
		"lo.4095":       "vlan id must be between 1-4094, received: 4095",
	} {
		_, _, err := ParseSubInterface(name)
		if err == nil || err.Error() != want {
			t.Errorf("ParseSubInterface(%q) = %v, want %q", name, err, want)
		}
		if err := CheckParent(name, false); err == nil || err.Error() != want {
			t.Errorf("CheckParent(%q) = %v", name, err)
		}
	}
	if lower, id, err := ParseSubInterface("lo.4094"); err != nil || lower != "lo" || id != 4094 {
		t.Fatalf("lo.4094: %s %d %v", lower, id, err)
	}
	// An existing device, and a dummy berth will make, need no parsing.
	if err := CheckParent("lo", false); err != nil {
		t.Fatal(err)
	}
	if err := CheckParent("dm-0123456789ab", true); err != nil {
		t.Fatal(err)
	}
}

func TestModesAndMAC(t *testing.T) {
	for _, m := range []string{"", "bridge", "private", "vepa", "passthru"} {
		if _, ok := MacvlanMode(m); !ok {
			t.Errorf("macvlan mode %q refused", m)
		}
	}
	for _, m := range []string{"", "l2", "l3", "l3s"} {
		if _, ok := IPvlanMode(m); !ok {
			t.Errorf("ipvlan mode %q refused", m)
		}
	}
	for _, f := range []string{"", "bridge", "private", "vepa"} {
		if _, ok := IPvlanFlag(f); !ok {
			t.Errorf("ipvlan flag %q refused", f)
		}
	}
	if _, ok := MacvlanMode("source"); ok {
		t.Error("macvlan mode source accepted (dockerd refuses it)")
	}
	if _, ok := IPvlanMode("l4"); ok {
		t.Error("ipvlan mode l4 accepted")
	}
}

// vethParent makes an up veth pair to stand in for a NIC: it takes
// macvlan ports on every kernel that has macvlan, where dummy links are
// often left out.
func vethParent(t *testing.T) string {
	t.Helper()
	nettest.RequireRoot(t)
	name := nettest.Name("bvp")
	nettest.CleanupLink(t, name)
	if out, err := exec.Command("ip", "link", "add", name, "type", "veth", "peer", "name", name+"x").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	exec.Command("ip", "link", "set", name+"x", "up").Run()
	exec.Command("ip", "link", "set", name, "up").Run()
	return name
}

func TestMacvlanModesBetweenNamespaces(t *testing.T) {
	busybox := nettest.RequireTool(t, "busybox", "busybox-static")
	for mode, reach := range map[string]bool{"bridge": true, "private": false} {
		t.Run(mode, func(t *testing.T) {
			parent := vethParent(t)
			a, b := nettest.NewNetns(t), nettest.NewNetns(t)
			ipA, ipB := netip.MustParseAddr("10.251.77.2"), netip.MustParseAddr("10.251.77.3")
			gw := netip.MustParseAddr("10.251.77.1")
			for _, x := range []struct {
				ns nettest.Netns
				ip netip.Addr
			}{{a, ipA}, {b, ipB}} {
				l := Link{Kind: Macvlan, Parent: parent, Mode: mode, NetnsPath: x.ns.Path, IfName: "eth0",
					Addrs: []netip.Prefix{netip.PrefixFrom(x.ip, 24)}, Gateway4: gw, MAC: netif.RandomMAC()}
				if err := Attach(l); err != nil {
					t.Fatal(err)
				}
			}
			out, _ := a.Exec("ip", "-d", "link", "show", "eth0")
			if !strings.Contains(out, "macvlan mode "+mode) {
				t.Fatalf("eth0 in a:\n%s", out)
			}
			out, _ = a.Exec("ip", "route", "show", "default")
			if !strings.Contains(out, "default via 10.251.77.1 dev eth0") {
				t.Fatalf("default route: %q", out)
			}
			out, err := a.Exec(busybox, "ping", "-c1", "-W1", ipB.String())
			if (err == nil) != reach {
				t.Fatalf("a → b in mode %s: %v\n%s", mode, err, out)
			}
			// The host namespace has no trace of the ports.
			if out, _ := exec.Command("ip", "-o", "link", "show", "type", "macvlan").CombinedOutput(); strings.Contains(string(out), "@"+parent) {
				t.Fatalf("a macvlan port in the host namespace:\n%s", out)
			}
			if err := Detach(a.Path, 0, "eth0"); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Exec("ip", "link", "show", "eth0"); err == nil {
				t.Fatal("eth0 survived Detach")
			}
			if err := Detach(a.Path, 0, "eth0"); err != nil {
				t.Fatalf("second Detach: %v", err)
			}
		})
	}
}

func TestAttachFailureLeavesNothing(t *testing.T) {
	parent := vethParent(t)
	ns := nettest.NewNetns(t)
	// An address the kernel refuses (a prefix longer than the family)
	// fails after the device was made.
	bad := Link{Kind: Macvlan, Parent: parent, NetnsPath: ns.Path, IfName: "eth0",
		Addrs: []netip.Prefix{netip.PrefixFrom(netip.MustParseAddr("10.251.78.2"), 24)}, Gateway4: netip.MustParseAddr("10.9.9.9")}
	if err := Attach(bad); err == nil {
		t.Fatal("a gateway outside the subnet was accepted")
	}
	if _, err := ns.Exec("ip", "link", "show", "eth0"); err == nil {
		t.Fatal("a failed Attach left eth0")
	}
	if err := Attach(Link{Kind: Macvlan, Parent: nettest.Name("bvno"), NetnsPath: ns.Path}); err == nil ||
		!strings.Contains(err.Error(), "was not found on the host") {
		t.Fatalf("missing parent: %v", err)
	}
}

func TestDeleteParentOnlyWhatBerthMakes(t *testing.T) {
	parent := vethParent(t)
	// A veth is neither a dummy nor a VLAN link: never deleted.
	if err := DeleteParent(parent, false); err == nil {
		t.Fatal("DeleteParent removed a veth")
	}
	if err := DeleteParent(parent, true); err == nil || !Exists(parent) {
		t.Fatal("DeleteParent removed a veth as a dummy")
	}
	if err := DeleteParent(nettest.Name("bvno"), false); err != nil {
		t.Fatalf("missing parent: %v", err)
	}
}
