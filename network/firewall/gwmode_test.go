package firewall

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthd/berth/network/internal/nettest"
)

// serve runs busybox httpd in ns on each port until the test ends.
func serve(t *testing.T, ns nettest.Netns, busybox string, ports ...int) {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("hello from netns\n"), 0o644)
	for _, p := range ports {
		srv := exec.Command("ip", "netns", "exec", ns.Name, busybox, "httpd", "-f", "-p", fmt.Sprint(p), "-h", dir)
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	}
}

// reach reports whether ns gets an answer from http://to:port/.
func reach(ns nettest.Netns, busybox string, to netip.Addr, port int) bool {
	cmd := exec.Command("ip", "netns", "exec", ns.Name, busybox, "nc", "-w", "2", to.String(), fmt.Sprint(port))
	cmd.Stdin = strings.NewReader("GET / HTTP/1.0\r\n\r\n")
	out, _ := cmd.CombinedOutput()
	return strings.Contains(string(out), "hello from netns")
}

// Gateway modes, trusted interfaces, --allow-direct-routing and
// --bridge-accept-fwmark, seen from a container on another bridge.
func TestGatewayModes(t *testing.T) {
	f := newFirewall(t)
	busybox := nettest.RequireTool(t, "busybox", "busybox-static")
	a, b := newNet(t), newNet(t)
	nsA, nsB := a.join(t, 2), b.join(t, 2)
	serve(t, nsA, busybox, 8080, 8081)
	netA := Network{ID: "a", Bridge: a.bridge, Subnets: []netip.Prefix{a.subnet}, Gateways: []netip.Addr{a.addr(1)}, ICC: true, Masquerade: true}
	netB := Network{ID: "b", Bridge: b.bridge, Subnets: []netip.Prefix{b.subnet}, Gateways: []netip.Addr{b.addr(1)}, ICC: true, Masquerade: true}
	if err := f.SetNetworks(netA, netB); err != nil {
		t.Fatal(err)
	}
	set := func(n Network) {
		t.Helper()
		if err := f.SetNetwork(n); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what string, ping0, open, closed bool) {
		t.Helper()
		if got := ping(nsB, busybox, a.addr(2)) == nil; got != ping0 {
			t.Errorf("%s: ping from another bridge: got %v, want %v", what, got, ping0)
		}
		if got := reach(nsB, busybox, a.addr(2), 8080); got != open {
			t.Errorf("%s: published port from another bridge: got %v, want %v", what, got, open)
		}
		if got := reach(nsB, busybox, a.addr(2), 8081); got != closed {
			t.Errorf("%s: unpublished port from another bridge: got %v, want %v", what, got, closed)
		}
	}

	// nat: a published port is reached through the host, never directly.
	pub := Port{Proto: "tcp", HostPort: 28080, Bridge: a.bridge, ContainerIP: a.addr(2), ContainerPort: 8080}
	if err := f.AddPorts(pub); err != nil {
		t.Fatal(err)
	}
	check("nat", false, false, false)
	if !reach(nsB, busybox, b.addr(1), 28080) {
		t.Error("nat: published port not reached through the host's address")
	}
	// A trusted host interface may address containers directly, to their
	// published ports only.
	a2 := netA
	a2.Trusted = []string{b.bridge}
	set(a2)
	check("nat, trusted", false, true, false)
	if err := f.RemovePorts(pub); err != nil {
		t.Fatal(err)
	}

	// routed: ICMP and the opened port pass, nothing is masqueraded, and
	// a routed network's containers do not reach a nat network's.
	a2 = netA
	a2.Routed4 = true
	set(a2)
	open := Port{Proto: "tcp", HostIP: netip.IPv4Unspecified(), Bridge: a.bridge, ContainerIP: a.addr(2), ContainerPort: 8080, OpenOnly: true}
	if err := f.AddPorts(open); err != nil {
		t.Fatal(err)
	}
	check("routed", true, true, false)
	if ping(nsA, busybox, b.addr(2)) == nil {
		t.Error("routed: reached a nat network's container")
	}
	rs := ruleset(t, f.Table())
	if strings.Contains(rs, fmt.Sprintf("ip saddr %s oifname != %q masquerade", a.subnet, a.bridge)) {
		t.Errorf("routed network masqueraded:\n%s", rs)
	}
	if !strings.Contains(rs, fmt.Sprintf("ip saddr %s oifname != %q masquerade", b.subnet, b.bridge)) {
		t.Errorf("nat network not masqueraded:\n%s", rs)
	}
	if err := f.RemovePorts(open); err != nil {
		t.Fatal(err)
	}
	check("routed, port closed again", true, false, false)

	// nat-unprotected: every port.
	a2 = netA
	a2.Unprotected4 = true
	set(a2)
	check("nat-unprotected", true, true, true)

	// --bridge-accept-fwmark: marked packets pass, whatever the port.
	set(netA)
	if err := f.SetOptions(Options{AllowDirectRouting: true, AcceptFwMark: "2/3"}); err != nil {
		t.Fatal(err)
	}
	check("nat, direct routing allowed, no mark", false, false, false)
	mark := nettest.Name("berthtestmark")
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(fmt.Sprintf("table inet %s {\n chain raw {\n  type filter hook prerouting priority raw\n  iifname %q mark set 0xe\n }\n}\n", mark, b.bridge))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("nft", "delete", "table", "inet", mark).Run() })
	check("nat, direct routing allowed, marked", true, true, true)
}

func TestParseFwMark(t *testing.T) {
	for in, want := range map[string][2]uint32{
		"2":         {2, 0xffffffff},
		"2/3":       {2, 3},
		"0x10/0xf0": {16, 240},
	} {
		m, k, err := ParseFwMark(in)
		if err != nil || m != want[0] || k != want[1] {
			t.Errorf("%s: got %d/%d %v, want %d/%d", in, m, k, err, want[0], want[1])
		}
	}
	for _, bad := range []string{"", "x", "1/y", "4294967296"} {
		if _, _, err := ParseFwMark(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
