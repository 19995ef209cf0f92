package firewall

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/network/bridge"
	"github.com/berthd/berth/network/internal/nettest"
)

type testNet struct {
	bridge string
	subnet netip.Prefix
}

func (n testNet) addr(i int) netip.Addr {
	a := n.subnet.Addr()
	for ; i > 0; i-- {
		a = a.Next()
	}
	return a
}

func newNet(t *testing.T) testNet {
	t.Helper()
	var sub netip.Prefix
	for i := 0; i < 50 && !sub.IsValid(); i++ {
		p := netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.0/24", 200+rand.IntN(50), rand.IntN(256)))
		if !bridge.HostConflict(p) {
			sub = p
		}
	}
	n := testNet{bridge: nettest.Name("btf"), subnet: sub}
	nettest.CleanupLink(t, n.bridge)
	if err := bridge.Ensure(bridge.Config{Name: n.bridge, Addrs: []netip.Prefix{netip.PrefixFrom(n.addr(1), 24)}}); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n testNet) join(t *testing.T, i int) nettest.Netns {
	t.Helper()
	ns := nettest.NewNetns(t)
	host := nettest.Name("vbf")
	nettest.CleanupLink(t, host)
	if err := bridge.Attach(bridge.Veth{HostName: host, Bridge: n.bridge, NetnsPath: ns.Path,
		Addrs: []netip.Prefix{netip.PrefixFrom(n.addr(i), 24)}, Gateway4: n.addr(1), Hairpin: true}); err != nil {
		t.Fatal(err)
	}
	return ns
}

// ruleset is the host's ruleset with, of all berth tables, only this
// package's test tables (named berthtest…).
func ruleset(t *testing.T, own string) string { return nettest.Ruleset(t, own) }

func newFirewall(t *testing.T) *Firewall {
	t.Helper()
	nettest.RequireRoot(t)
	nettest.RequireTool(t, "nft", "nftables")
	f := New(nettest.Name("berthtest"))
	t.Cleanup(func() { DeleteTable(f.Table()); DeleteTable(UserTable(f.Table())) })
	return f
}

func ping(ns nettest.Netns, busybox string, to netip.Addr) error {
	out, err := ns.Exec(busybox, "ping", "-c", "1", "-W", "1", to.String())
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

func TestIsolationBetweenBridgesAndTeardown(t *testing.T) {
	f := newFirewall(t)
	busybox := nettest.RequireTool(t, "busybox", "busybox-static")
	before := ruleset(t, f.Table())
	a, b := newNet(t), newNet(t)
	nsA, nsA2, nsB := a.join(t, 2), a.join(t, 3), b.join(t, 2)

	for _, n := range []testNet{a, b} {
		if err := f.SetNetwork(Network{ID: n.bridge, Bridge: n.bridge, Subnets: []netip.Prefix{n.subnet}, ICC: true, Masquerade: true}); err != nil {
			t.Fatal(err)
		}
	}
	rs := ruleset(t, f.Table())
	if !strings.Contains(rs, "table inet "+f.Table()) || !strings.Contains(rs, `"`+a.bridge+`" . "`+a.bridge+`"`) || !strings.Contains(rs, "masquerade") {
		t.Fatalf("rules not in berth's table:\n%s", rs)
	}
	if err := ping(nsA, busybox, a.addr(3)); err != nil {
		t.Fatalf("same bridge must reach: %v", err)
	}
	if err := ping(nsA, busybox, b.addr(2)); err == nil {
		t.Fatal("namespace on bridge a reached bridge b")
	}
	if err := ping(nsB, busybox, a.addr(2)); err == nil {
		t.Fatal("namespace on bridge b reached bridge a")
	}

	// icc=false stops traffic between containers of one bridge.
	if err := f.SetNetwork(Network{ID: a.bridge, Bridge: a.bridge, Subnets: []netip.Prefix{a.subnet}, ICC: false, Masquerade: true}); err != nil {
		t.Fatal(err)
	}
	if err := ping(nsA, busybox, a.addr(3)); err == nil {
		t.Fatal("icc=false still lets containers talk")
	}
	_ = nsA2

	if err := f.RemoveNetwork(a.bridge); err != nil {
		t.Fatal(err)
	}
	if err := f.RemoveNetwork(b.bridge); err != nil {
		t.Fatal(err)
	}
	if after := ruleset(t, f.Table()); after != before {
		t.Fatalf("ruleset differs after teardown:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if ok, _ := TableExists(f.Table()); ok {
		t.Fatal("table still exists")
	}
}

func TestInternalNetwork(t *testing.T) {
	f := newFirewall(t)
	busybox := nettest.RequireTool(t, "busybox", "busybox-static")
	a, b := newNet(t), newNet(t)
	nsA := a.join(t, 2)
	// Network b has no rules of its own here; a's internal rule alone must
	// stop a reaching it.
	if err := f.SetNetwork(Network{ID: "a", Bridge: a.bridge, Subnets: []netip.Prefix{a.subnet}, Internal: true, ICC: true}); err != nil {
		t.Fatal(err)
	}
	b.join(t, 2)
	if err := ping(nsA, busybox, b.addr(2)); err == nil {
		t.Fatal("internal network reached outside its bridge")
	}
}

func TestPublishedPortFromLoopbackAndHairpin(t *testing.T) {
	f := newFirewall(t)
	busybox := nettest.RequireTool(t, "busybox", "busybox-static")
	n := newNet(t)
	ns := n.join(t, 2)
	if err := bridge.SetRouteLocalnet(n.bridge, true); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("hello from netns\n"), 0o644)
	srv := exec.Command("ip", "netns", "exec", ns.Name, busybox, "httpd", "-f", "-p", "8080", "-h", dir)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })

	hostPort := uint16(20000 + rand.IntN(20000))
	p := Port{Proto: "tcp", HostPort: hostPort, Bridge: n.bridge, ContainerIP: n.addr(2), ContainerPort: 8080}
	if err := f.SetNetwork(Network{ID: "n", Bridge: n.bridge, Subnets: []netip.Prefix{n.subnet}, ICC: true, Masquerade: true}); err != nil {
		t.Fatal(err)
	}
	if err := f.AddPorts(p); err != nil {
		t.Fatal(err)
	}
	rs := ruleset(t, f.Table())
	if !strings.Contains(rs, fmt.Sprintf("tcp . %d : %s . 8080", hostPort, n.addr(2))) {
		t.Fatalf("no DNAT rule:\n%s", rs)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", hostPort)
	var body string
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		body, err = get(url)
		if err == nil {
			break
		}
	}
	if err != nil || !strings.Contains(body, "hello from netns") {
		t.Fatalf("GET %s from the host: %v %q", url, err, body)
	}
	// Hairpin: the container reaches its own published port through the
	// gateway address.
	// (busybox nc, not wget: Debian's static wget crashes in its resolver.)
	cmd := exec.Command("ip", "netns", "exec", ns.Name, busybox, "nc", "-w", "3", n.addr(1).String(), fmt.Sprint(hostPort))
	cmd.Stdin = strings.NewReader("GET / HTTP/1.0\r\n\r\n")
	outb, err := cmd.CombinedOutput()
	out := string(outb)
	if err != nil || !strings.Contains(out, "hello from netns") {
		t.Fatalf("hairpin: %v %s", err, out)
	}
	if err := f.RemovePorts(p); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(ruleset(t, f.Table()), fmt.Sprintf(" . %d : ", hostPort)) {
		t.Fatal("DNAT rule left after RemovePorts")
	}
	if err := f.Remove(); err != nil {
		t.Fatal(err)
	}
	if ok, _ := TableExists(f.Table()); ok {
		t.Fatal("table left after Remove")
	}
}

func get(url string) (string, error) {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestBadPort(t *testing.T) {
	f := New("unused")
	if err := f.AddPorts(Port{Proto: "icmp"}); err == nil {
		t.Fatal("icmp accepted")
	}
}

// nftCount is the number of rules and set or map elements in a table.
func nftCount(t *testing.T, table string) (rules, elems int) {
	t.Helper()
	out, err := exec.Command("nft", "-j", "list", "table", "inet", table).Output()
	if err != nil {
		t.Fatalf("nft list table: %v", err)
	}
	rules = strings.Count(string(out), `{"rule":`)
	// Elements are listed per set; count them with the plain listing.
	plain, _ := exec.Command("nft", "list", "table", "inet", table).Output()
	for _, block := range strings.Split(string(plain), "elements = {")[1:] {
		block = block[:strings.Index(block, "}")]
		elems += strings.Count(block, ",") + 1
	}
	return rules, elems
}

// Hundreds of networks and a thousand ports: no netlink batch overflows
// (ENOBUFS), the table grows linearly, and a whole rewrite (after the
// table vanished) brings every element back.
func TestScaleAndRewrite(t *testing.T) {
	f := newFirewall(t)
	const nets = 300
	var r100, e100 int
	for i := 0; i < nets; i++ {
		n := Network{ID: fmt.Sprint(i), Bridge: fmt.Sprintf("bts%d", i), ICC: true, Masquerade: true,
			Subnets: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 201, byte(i >> 8), byte(i)}), 32)}}
		if err := f.SetNetwork(n); err != nil {
			t.Fatalf("network %d: %v", i, err)
		}
		if i == 99 {
			r100, e100 = nftCount(t, f.Table())
		}
	}
	// Per network: masquerade, hairpin and the guard against direct
	// access; two set elements.
	if r, e := nftCount(t, f.Table()); r-r100 != 3*(nets-100) || e-e100 != 2*(nets-100) {
		t.Fatalf("not linear: 100 networks %d rules %d elements, %d networks %d rules %d elements", r100, e100, nets, r, e)
	}
	var ports []Port
	for i := 0; i < 1000; i++ {
		p := Port{Proto: "tcp", HostPort: uint16(30000 + i), Bridge: "bts0", ContainerIP: netip.MustParseAddr("10.201.0.0"), ContainerPort: uint16(i + 1)}
		if i%2 == 1 {
			p.HostIP = netip.MustParseAddr("127.0.0.1")
		}
		ports = append(ports, p)
	}
	if err := f.AddPorts(ports...); err != nil {
		t.Fatalf("1000 ports: %v", err)
	}
	r, e := nftCount(t, f.Table())
	if err := DeleteTable(f.Table()); err != nil {
		t.Fatal(err)
	}
	// The next change finds the table gone and writes everything again.
	if err := f.RemovePorts(ports[0]); err != nil {
		t.Fatal(err)
	}
	// Its DNAT element and its open-port element.
	if r2, e2 := nftCount(t, f.Table()); r2 != r || e2 != e-2 {
		t.Fatalf("after the rewrite: %d rules %d elements, want %d and %d", r2, e2, r, e-2)
	}
	if err := f.RemoveNetwork("0"); err != nil {
		t.Fatal(err)
	}
	// Its two set elements, its three rules, and every port: 499 on every
	// address, 500 on 127.0.0.1 (a map and a set element each), and an
	// open-port element each.
	if r2, e2 := nftCount(t, f.Table()); r2 != r-3 || e2 != e-2-2-499-1000-999 {
		t.Fatalf("removing a network with 999 ports left %d rules %d elements, want %d and %d", r2, e2, r-3, e-2-2-499-1000-999)
	}
	for i := 1; i < nets; i++ {
		if err := f.RemoveNetwork(fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	if ok, _ := TableExists(f.Table()); ok {
		t.Fatal("table left after the last network")
	}
}

// SIGHUP's Reconcile puts back a table that was deleted or flushed.
func TestReconcile(t *testing.T) {
	f := newFirewall(t)
	if err := f.SetNetwork(Network{ID: "r", Bridge: "btr0", ICC: true, Subnets: []netip.Prefix{netip.MustParsePrefix("10.202.0.0/24")}}); err != nil {
		t.Fatal(err)
	}
	if again, err := f.Reconcile(); again || err != nil {
		t.Fatalf("intact table rewritten: %v %v", again, err)
	}
	want := ruleset(t, f.Table())
	for _, how := range [][]string{{"delete", "table"}, {"flush", "table"}} {
		if out, err := exec.Command("nft", append(how, "inet", f.Table())...).CombinedOutput(); err != nil {
			t.Fatalf("nft %v: %v %s", how, err, out)
		}
		if again, err := f.Reconcile(); !again || err != nil {
			t.Fatalf("after nft %v: %v %v", how, again, err)
		}
		if got := ruleset(t, f.Table()); got != want {
			t.Fatalf("after nft %v and Reconcile:\n%s\nwant:\n%s", how, got, want)
		}
	}
}

// The administrators' table is made once and then left alone: the rules
// and chains they added stay.
func TestUserTableLeftAlone(t *testing.T) {
	f := newFirewall(t)
	user := UserTable(f.Table())
	if err := EnsureUserTable(f.Table()); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][]string{
		{"add", "rule", "inet", user, "forward", "tcp", "dport", "9", "drop"},
		{"add", "chain", "inet", user, "mine"},
	} {
		if out, err := exec.Command("nft", c...).CombinedOutput(); err != nil {
			t.Fatalf("nft %v: %v %s", c, err, out)
		}
	}
	if err := EnsureUserTable(f.Table()); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("nft", "list", "table", "inet", user).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "chain mine") || !strings.Contains(string(out), "tcp dport 9 drop") {
		t.Fatalf("the administrators' table was changed: %v\n%s", err, out)
	}
}

// A daemon that stops removes the administrators' table only if it is
// still empty.
func TestUserTableRemovedOnlyWhenUnused(t *testing.T) {
	f := newFirewall(t)
	user := UserTable(f.Table())
	exists := func() bool {
		ok, err := TableExists(user)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if err := EnsureUserTable(f.Table()); err != nil {
		t.Fatal(err)
	}
	if err := f.Remove(); err != nil {
		t.Fatal(err)
	}
	if exists() {
		t.Fatal("an unused administrators' table outlived Remove")
	}
	if err := EnsureUserTable(f.Table()); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("nft", "add", "rule", "inet", user, "forward", "tcp", "dport", "9", "drop").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	if err := f.Remove(); err != nil {
		t.Fatal(err)
	}
	if !exists() {
		t.Fatal("Remove deleted the administrators' table holding a rule")
	}
}

// newNet6 is a bridge with an IPv6 unique-local /64 (never the host's
// own prefix) and, unlike newNet, no IPv4 address.
func newNet6(t *testing.T) testNet {
	t.Helper()
	var sub netip.Prefix
	for i := 0; i < 50 && !sub.IsValid(); i++ {
		p := netip.MustParsePrefix(fmt.Sprintf("fd%02x:%04x:%04x::/64", 0x10+rand.IntN(0xe0), rand.IntN(1<<16), rand.IntN(1<<16)))
		if !bridge.HostConflict(p) {
			sub = p
		}
	}
	n := testNet{bridge: nettest.Name("btf6"), subnet: sub}
	nettest.CleanupLink(t, n.bridge)
	if err := bridge.Ensure(bridge.Config{Name: n.bridge, Addrs: []netip.Prefix{netip.PrefixFrom(n.addr(1), 64)}}); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n testNet) join6(t *testing.T, i int) nettest.Netns {
	t.Helper()
	ns := nettest.NewNetns(t)
	host := nettest.Name("vbf")
	nettest.CleanupLink(t, host)
	if err := bridge.Attach(bridge.Veth{HostName: host, Bridge: n.bridge, NetnsPath: ns.Path,
		Addrs: []netip.Prefix{netip.PrefixFrom(n.addr(i), 64)}, Gateway6: n.addr(1), Hairpin: true}); err != nil {
		t.Fatal(err)
	}
	return ns
}

// IPv6 ports: published on every address (reached through the bridge's
// own address, which is local to the host) and on one host address; one
// on ::1 is guarded and never DNATed; hairpin and masquerade work as for
// IPv4.
func TestPublishedPortIPv6(t *testing.T) {
	f := newFirewall(t)
	busybox := nettest.RequireTool(t, "busybox", "busybox-static")
	n := newNet6(t)
	ns := n.join6(t, 2)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("hello from netns6\n"), 0o644)
	srv := exec.Command("ip", "netns", "exec", ns.Name, busybox, "httpd", "-f", "-p", "[::]:8080", "-h", dir)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })

	if err := f.SetNetwork(Network{ID: "n6", Bridge: n.bridge, Subnets: []netip.Prefix{n.subnet}, ICC: true, Masquerade: true}); err != nil {
		t.Fatal(err)
	}
	base := uint16(20000 + rand.IntN(20000))
	anyPort := Port{Proto: "tcp", HostIP: netip.IPv6Unspecified(), HostPort: base, Bridge: n.bridge, ContainerIP: n.addr(2), ContainerPort: 8080}
	onePort := Port{Proto: "tcp", HostIP: n.addr(1), HostPort: base + 1, Bridge: n.bridge, ContainerIP: n.addr(2), ContainerPort: 8080}
	loopPort := Port{Proto: "tcp", HostIP: netip.IPv6Loopback(), HostPort: base + 2, Bridge: n.bridge, ContainerIP: n.addr(2), ContainerPort: 8080}
	if err := f.AddPorts(anyPort, onePort, loopPort); err != nil {
		t.Fatal(err)
	}
	rs := ruleset(t, f.Table())
	for _, want := range []string{
		fmt.Sprintf("tcp . %d : %s . 8080", base, n.addr(2)),
		fmt.Sprintf("%s . tcp . %d : %s . 8080", n.addr(1), base+1, n.addr(2)),
		fmt.Sprintf("::1 . tcp . %d", base+2),
		"ip6 daddr != ::1",
		fmt.Sprintf("ip6 saddr %s", n.subnet),
	} {
		if !strings.Contains(rs, want) {
			t.Fatalf("no %q in the ruleset:\n%s", want, rs)
		}
	}
	if strings.Contains(rs, fmt.Sprintf("tcp . %d : ", base+2)) {
		t.Fatalf("a port on ::1 is DNATed (the kernel drops such packets):\n%s", rs)
	}
	for _, port := range []uint16{base, base + 1} {
		url := fmt.Sprintf("http://[%s]:%d/", n.addr(1), port)
		var body string
		var err error
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if body, err = get(url); err == nil {
				break
			}
		}
		if err != nil || !strings.Contains(body, "hello from netns6") {
			t.Fatalf("GET %s from the host: %v %q", url, err, body)
		}
	}
	cmd := exec.Command("ip", "netns", "exec", ns.Name, busybox, "nc", "-w", "3", n.addr(1).String(), fmt.Sprint(base))
	cmd.Stdin = strings.NewReader("GET / HTTP/1.0\r\n\r\n")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "hello from netns6") {
		t.Fatalf("hairpin over IPv6: %v %s", err, out)
	}
	if err := f.RemovePorts(anyPort, onePort, loopPort); err != nil {
		t.Fatal(err)
	}
	rs = ruleset(t, f.Table())
	for _, p := range []uint16{base, base + 1, base + 2} {
		if strings.Contains(rs, fmt.Sprintf("tcp . %d", p)) {
			t.Fatalf("port %d left after RemovePorts:\n%s", p, rs)
		}
	}
}

func TestPortFamilies(t *testing.T) {
	f := New("unused")
	v4, v6 := netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("fd12::2")
	for _, p := range []Port{
		{Proto: "tcp", HostPort: 1, ContainerIP: v6},
		{Proto: "tcp", HostIP: netip.IPv6Unspecified(), HostPort: 1, ContainerIP: v4},
		{Proto: "tcp", HostIP: netip.IPv4Unspecified(), HostPort: 1, ContainerIP: v6},
		{Proto: "tcp", HostPort: 1},
	} {
		if err := f.AddPorts(p); err == nil {
			t.Fatalf("%+v accepted", p)
		}
	}
}
