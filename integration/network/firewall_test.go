package network

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/berthd/berth/integration/internal/harness"
)

// fwRuleCount counts the rules and set/map elements of a daemon's table:
// what must grow linearly with networks and ports.
func fwRuleCount(t *testing.T, dd *harness.Daemon) (rules, elems int) {
	t.Helper()
	out, err := exec.Command("nft", "list", "table", "inet", tableName(dd)).CombinedOutput()
	if err != nil {
		t.Fatalf("nft list table: %v %s", err, out)
	}
	inChain, inElems := false, false
	for _, line := range strings.Split(string(out), "\n") {
		l := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(l, "chain "):
			inChain = true
		case l == "}":
			inChain, inElems = false, false
		case inChain && l != "" && !strings.HasPrefix(l, "type "):
			rules++
		case strings.HasPrefix(l, "elements = {"):
			inElems = true
			fallthrough
		case inElems:
			elems += strings.Count(l, ",")
			if strings.HasSuffix(l, "}") {
				elems++
				inElems = false
			}
		}
	}
	return rules, elems
}

// fwCreateNet creates a network through the CLI and returns its ID; the
// bridge is removed on cleanup even if the daemon is gone.
func fwCreateNet(t *testing.T, dd *harness.Daemon, name string, args ...string) (string, error) {
	out, stderr, err := dd.Docker(append(append([]string{"network", "create"}, args...), name)...)
	if err != nil {
		return "", fmt.Errorf("%v: %s %s", err, out, stderr)
	}
	id := strings.TrimSpace(out)
	t.Cleanup(func() {
		if linkExists("br-" + id[:12]) {
			exec.Command("ip", "link", "del", "br-"+id[:12]).Run()
		}
	})
	return id, nil
}

// 300 user networks: every create and remove succeeds (no ENOBUFS from an
// oversized netlink batch) and the table grows by a constant number of
// rules and elements per network.
func TestFirewallThreeHundredNetworks(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 300 networks")
	}
	dd := harness.Fresh(t, harness.Options{Args: []string{"--default-address-pool", "base=10.160.0.0/12,size=24"}})
	t.Cleanup(func() { exec.Command("nft", "delete", "table", "inet", tableName(dd)).Run() })
	const n = 300
	prefix := uniq("fws")
	var ids []string
	type point struct{ nets, rules, elems int }
	var points []point
	var first, last time.Duration
	for i := 0; i < n; i++ {
		start := time.Now()
		id, err := fwCreateNet(t, dd, fmt.Sprintf("%s-%d", prefix, i))
		took := time.Since(start)
		if err != nil {
			t.Fatalf("network %d: %v", i+1, err)
		}
		if i < 20 {
			first += took
		}
		if i >= n-20 {
			last += took
		}
		ids = append(ids, id)
		if i+1 == 10 || i+1 == 100 || i+1 == n {
			r, e := fwRuleCount(t, dd)
			points = append(points, point{i + 1, r, e})
		}
	}
	t.Logf("create: first 20 took %v, last 20 took %v; table: %+v", first, last, points)
	// Linear: the same increment per network between every two points,
	// and a small one.
	per := func(a, b point) (float64, float64) {
		d := float64(b.nets - a.nets)
		return float64(b.rules-a.rules) / d, float64(b.elems-a.elems) / d
	}
	r1, e1 := per(points[0], points[1])
	r2, e2 := per(points[1], points[2])
	if r1 != r2 || e1 != e2 || r1 > 4 || e1 > 4 {
		t.Fatalf("table does not grow linearly: %+v (per network: %v/%v rules, %v/%v elements)", points, r1, r2, e1, e2)
	}
	first, last = 0, 0
	for i, id := range ids {
		start := time.Now()
		if out, stderr, err := dd.Docker("network", "rm", id); err != nil {
			t.Fatalf("rm network %d: %v %s %s", i+1, err, out, stderr)
		}
		took := time.Since(start)
		if i < 20 {
			first += took
		}
		if i >= n-20 {
			last += took
		}
	}
	t.Logf("remove: first 20 took %v, last 20 took %v", first, last)
	if tableExists(t, dd) {
		r, e := fwRuleCount(t, dd)
		if r != points[0].rules-10*int(r1) || e != points[0].elems-10*int(e1) {
			t.Fatalf("after removing every network: %d rules, %d elements", r, e)
		}
	}
}

// 1,000 ports published on one container go into the map in bounded
// batches, work, and all leave with the container.
func TestFirewallThousandPorts(t *testing.T) {
	withImages(t)
	base := 20000 + rand.IntN(30000)
	var p0 int
	for ; base < 60000; base += 1000 {
		if fwPortsFree(base, 1000) {
			p0 = base
			break
		}
	}
	if p0 == 0 {
		t.Skip("no free range of 1000 ports")
	}
	rng := fmt.Sprintf("%d-%d:%d-%d", p0, p0+999, 8000, 8999)
	id := runD(t, d, "-p", rng, img, "httpd", "-f", "-p", "8500", "-h", "/etc")
	if got := hostGet(t, fmt.Sprintf("http://127.0.0.1:%d/hostname", p0+500)); !strings.Contains(got, id[:12]) {
		t.Fatalf("port %d: %q", p0+500, got)
	}
	out, _ := exec.Command("nft", "list", "map", "inet", tableName(d), "dnat4any").CombinedOutput()
	if c := strings.Count(string(out), ": "+ipOn(t, d, id, "bridge")+" . "); c != 1000 {
		t.Fatalf("%d map elements for the container, want 1000", c)
	}
	d.DockerT(t, "rm", "-f", id)
	out, _ = exec.Command("nft", "list", "map", "inet", tableName(d), "dnat4any").CombinedOutput()
	if strings.Contains(string(out), fmt.Sprintf(" . %d : ", p0+500)) {
		t.Fatalf("ports left after the container went:\n%s", out)
	}
}

func fwPortsFree(base, n int) bool {
	for p := base; p < base+n; p++ {
		l, err := net.Listen("tcp4", "0.0.0.0:"+strconv.Itoa(p))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}

// fwNeighbour is a network namespace joined to the host by a veth pair: a
// stand-in for another host on the LAN, routing the containers' subnets
// through this host.
type fwNeighbour struct {
	ns             string
	hostIP, peerIP netip.Addr
}

func fwNewNeighbour(t *testing.T, routes ...string) fwNeighbour {
	t.Helper()
	tag := fmt.Sprintf("%06x", rand.IntN(1<<24))
	nb := fwNeighbour{ns: "fwnb" + tag}
	hostIf, peerIf := "fwh"+tag, "fwp"+tag
	// 198.18.0.0/15 is the benchmarking range: never a real neighbour.
	o := 4 * rand.IntN(1<<14)
	nb.hostIP = netip.AddrFrom4([4]byte{198, 18 + byte(o>>16&1), byte(o >> 8), byte(o&0xff) + 1})
	nb.peerIP = nb.hostIP.Next()
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", nb.ns).Run()
		exec.Command("ip", "link", "del", hostIf).Run()
	})
	cmds := [][]string{
		{"ip", "netns", "add", nb.ns},
		{"ip", "link", "add", hostIf, "type", "veth", "peer", "name", peerIf, "netns", nb.ns},
		{"ip", "addr", "add", nb.hostIP.String() + "/30", "dev", hostIf},
		{"ip", "link", "set", hostIf, "up"},
		{"ip", "-n", nb.ns, "addr", "add", nb.peerIP.String() + "/30", "dev", peerIf},
		{"ip", "-n", nb.ns, "link", "set", peerIf, "up"},
		// A neighbour that aims at the host's 127.0.0.1 (the kernel sends
		// to a loopback address on a wire only with route_localnet).
		{"ip", "netns", "exec", nb.ns, "sysctl", "-qw", "net.ipv4.conf." + peerIf + ".route_localnet=1"},
		{"ip", "-n", nb.ns, "route", "add", "127.0.0.1/32", "via", nb.hostIP.String(), "dev", peerIf},
	}
	for _, r := range routes {
		cmds = append(cmds, []string{"ip", "-n", nb.ns, "route", "add", r, "via", nb.hostIP.String(), "dev", peerIf})
	}
	for _, c := range cmds {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", c, err, out)
		}
	}
	return nb
}

// get fetches /hostname over HTTP from inside the neighbour: the response,
// or nc's complaint.
func (nb fwNeighbour) get(host string, port int) string {
	cmd := exec.Command("ip", "netns", "exec", nb.ns, "busybox", "nc", "-w", "2", host, strconv.Itoa(port))
	cmd.Stdin = strings.NewReader("GET /hostname HTTP/1.0\r\n\r\n")
	out, _ := cmd.CombinedOutput()
	return string(out)
}

// The firewall guarantees of dockerd, probed from a neighbour host and
// from containers.
func TestFirewallGuarantees(t *testing.T) {
	withImages(t)
	harness.Require(t, exec.Command("busybox", "true").Run() == nil, "busybox on the host")
	netA, netB := uniq("fwa"), uniq("fwb")
	createNet(t, netA)
	createNet(t, netB)
	pPub, pLoop := harness.FreePort(t), harness.FreePort(t)
	web := runD(t, d, "--network", netA, "-p", fmt.Sprintf("%d:8080", pPub), "-p", fmt.Sprintf("127.0.0.1:%d:8080", pLoop),
		img, "sh", "-c", "httpd -p 8081 -h /etc; exec httpd -f -p 8080 -h /etc")
	webIP := ipOn(t, d, web, netA)
	subnetA := inspect(t, netA).IPAM.Config[0].Subnet.String()
	gwB := inspect(t, netB).IPAM.Config[0].Gateway.String()
	nb := fwNewNeighbour(t, subnetA)
	// The published port answers first, so a failing probe below is the
	// firewall and not a slow start.
	if got := hostGet(t, fmt.Sprintf("http://127.0.0.1:%d/hostname", pLoop)); !strings.Contains(got, web[:12]) {
		t.Fatalf("loopback-published port from the host: %q", got)
	}

	t.Run("published port from a neighbour", func(t *testing.T) {
		if got := nb.get(nb.hostIP.String(), pPub); !strings.Contains(got, web[:12]) {
			t.Fatalf("neighbour cannot reach the published port %s:%d: %q", nb.hostIP, pPub, got)
		}
	})
	t.Run("drop remote loopback", func(t *testing.T) {
		if got := nb.get("127.0.0.1", pLoop); strings.Contains(got, web[:12]) {
			t.Fatalf("a neighbour reached the port published on 127.0.0.1:%d: %q", pLoop, got)
		}
	})
	t.Run("drop direct access", func(t *testing.T) {
		for _, p := range []int{8080, 8081} {
			if got := nb.get(webIP, p); strings.Contains(got, web[:12]) {
				t.Fatalf("a neighbour reached the container's port %s:%d directly: %q", webIP, p, got)
			}
		}
	})
	t.Run("isolation between networks", func(t *testing.T) {
		out, _, _ := d.Docker("run", "--rm", "--network", netB, img, "sh", "-c",
			fmt.Sprintf("printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc -w 2 %s 8080; echo; printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc -w 2 %s %d", webIP, gwB, pPub))
		// The other network's container itself is out of reach; its
		// published port, through the host, is not (as with dockerd).
		if strings.Count(out, web[:12]) != 1 {
			t.Fatalf("from %s: want only the published port to answer, got %q", netB, out)
		}
	})
	t.Run("host loopback services", func(t *testing.T) {
		// A service on the host's 127.0.0.1 and a container that routes
		// 127.0.0.1 to its gateway (it has NET_ADMIN in its own namespace,
		// which is all such an attack needs).
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Write([]byte("host-secret\n"))
				c.Close()
			}
		}()
		port := l.Addr().(*net.TCPAddr).Port
		gwA := inspect(t, netA).IPAM.Config[0].Gateway.String()
		probe := runD(t, d, "--network", netA, img, "sleep", "300")
		pid := strconv.Itoa(ctrInspect(t, d, probe).State.Pid)
		for _, c := range [][]string{
			// 127.0.0.1 must not be the probe's own address either, or
			// the host's answers would be martians to it.
			{"ip", "addr", "del", "127.0.0.1/8", "dev", "lo"},
			{"ip", "route", "add", "127.0.0.1/32", "via", gwA},
			{"sysctl", "-qw", "net.ipv4.conf.all.route_localnet=1"},
		} {
			if out, err := exec.Command("nsenter", append([]string{"-t", pid, "-n"}, c...)...).CombinedOutput(); err != nil {
				t.Fatalf("%v: %v %s", c, err, out)
			}
		}
		out, _, _ := d.Docker("exec", probe, "sh", "-c", fmt.Sprintf("ip route get 127.0.0.1; nc -w 2 127.0.0.1 %d </dev/null", port))
		if strings.Contains(out, "host-secret") {
			t.Fatalf("a container reached the host's 127.0.0.1:%d: %q", port, out)
		}
		if !strings.Contains(out, "via "+gwA) {
			t.Fatalf("the probe did not route 127.0.0.1 to the gateway: %q", out)
		}
	})
	t.Run("icc=false", func(t *testing.T) {
		netC := uniq("fwc")
		createNet(t, netC, "-o", "com.docker.network.bridge.enable_icc=false")
		srv := runD(t, d, "--network", netC, img, "httpd", "-f", "-p", "8080", "-h", "/etc")
		ip := ipOn(t, d, srv, netC)
		out, _, _ := d.Docker("run", "--rm", "--network", netC, img, "sh", "-c", "printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc -w 2 "+ip+" 8080")
		if strings.Contains(out, srv[:12]) {
			t.Fatalf("icc=false: a container reached another on its network: %q", out)
		}
	})
	t.Run("internal", func(t *testing.T) {
		netI := uniq("fwi")
		createNet(t, netI, "--internal")
		gwI := inspect(t, netI).IPAM.Config[0].Gateway.String()
		// With a default route of its own making, an internal network's
		// container still reaches nothing beyond its bridge.
		out, _, _ := d.Docker("run", "--rm", "--network", netI, "--cap-add", "NET_ADMIN", img, "sh", "-c",
			fmt.Sprintf("ip route add default via "+gwI+"; printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc -w 2 %s %d; printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc -w 2 %s 8080", nb.peerIP, pPub, webIP))
		if strings.Contains(out, web[:12]) {
			t.Fatalf("an internal network's container got out: %q", out)
		}
		// Nor does anything get in from a neighbour.
		srv := runD(t, d, "--network", netI, img, "httpd", "-f", "-p", "8080", "-h", "/etc")
		ip := ipOn(t, d, srv, netI)
		if out, err := exec.Command("ip", "-n", nb.ns, "route", "add", inspect(t, netI).IPAM.Config[0].Subnet.String(), "via", nb.hostIP.String()).CombinedOutput(); err != nil {
			t.Fatalf("route to the internal network: %v %s", err, out)
		}
		if got := nb.get(ip, 8080); strings.Contains(got, srv[:12]) {
			t.Fatalf("a neighbour reached a container on an internal network: %q", got)
		}
	})
	t.Run("administrator's chain", func(t *testing.T) {
		// What berth offers instead of DOCKER-USER: the administrator's
		// own table, with a base chain before berth's. Its drop is final,
		// and berth's changes leave it alone.
		admin := fmt.Sprintf("fwadmin%06x", rand.IntN(1<<24))
		t.Cleanup(func() { exec.Command("nft", "delete", "table", "inet", admin).Run() })
		script := fmt.Sprintf("table inet %s {\n chain forward {\n  type filter hook forward priority filter - 10; policy accept;\n  ip saddr %s tcp dport 8080 drop\n }\n}\n", admin, nb.peerIP)
		cmd := exec.Command("nft", "-f", "-")
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nft -f: %v %s", err, out)
		}
		before, _ := exec.Command("nft", "list", "table", "inet", admin).CombinedOutput()
		if got := nb.get(nb.hostIP.String(), pPub); strings.Contains(got, web[:12]) {
			t.Fatalf("the administrator's drop did not hold: %q", got)
		}
		// Berth changes its table; the administrator's stays as it was.
		createNet(t, uniq("fwx"))
		after, _ := exec.Command("nft", "list", "table", "inet", admin).CombinedOutput()
		if string(after) != string(before) {
			t.Fatalf("berth changed the administrator's table:\n%s\nwas:\n%s", after, before)
		}
		exec.Command("nft", "delete", "table", "inet", admin).Run()
		if got := nb.get(nb.hostIP.String(), pPub); !strings.Contains(got, web[:12]) {
			t.Fatalf("published port after the administrator's table went: %q", got)
		}
	})
	t.Run("no route_localnet with the userland proxy", func(t *testing.T) {
		// The host reached netA's ports through 127.0.0.1 above, but
		// through the ports' own sockets (the proxy), as with dockerd:
		// no bridge routes loopback addresses (see
		// TestFirewallLoopbackWithoutUserlandProxy for the NAT path).
		for _, c := range []struct {
			net  string
			want string
		}{{netA, "0"}, {netB, "0"}} {
			b, err := os.ReadFile("/proc/sys/net/ipv4/conf/br-" + inspect(t, c.net).ID[:12] + "/route_localnet")
			if err != nil || strings.TrimSpace(string(b)) != c.want {
				t.Fatalf("route_localnet on %s's bridge: %v %q, want %s", c.net, err, b, c.want)
			}
		}
	})
}

// With --userland-proxy=false the host's connections to 127.0.0.1 are
// DNATed, as dockerd's hairpin mode does: route_localnet is on only for a
// bridge with such a port, and only while it has one.
func TestFirewallLoopbackWithoutUserlandProxy(t *testing.T) {
	dd := harness.Fresh(t, harness.Options{Args: poolArgs}, "--userland-proxy=false")
	dd.LoadTestImages(t)
	netA, netB := uniq("fwla"), uniq("fwlb")
	idA, idB := freshNet(t, dd, netA), freshNet(t, dd, netB)
	port := harness.FreePort(t)
	web := runD(t, dd, "--network", netA, "-p", fmt.Sprintf("%d:8080", port), img, "httpd", "-f", "-p", "8080", "-h", "/etc")
	if got := hostGet(t, fmt.Sprintf("http://127.0.0.1:%d/hostname", port)); !strings.Contains(got, web[:12]) {
		t.Fatalf("published port through 127.0.0.1 without the proxy: %q", got)
	}
	localnet := func(id string) string {
		b, _ := os.ReadFile("/proc/sys/net/ipv4/conf/br-" + id[:12] + "/route_localnet")
		return strings.TrimSpace(string(b))
	}
	if a, b := localnet(idA), localnet(idB); a != "1" || b != "0" {
		t.Fatalf("route_localnet: %s's bridge %q (want 1), %s's %q (want 0)", netA, a, netB, b)
	}
	dd.DockerT(t, "rm", "-f", web)
	if a := localnet(idA); a != "0" {
		t.Fatalf("route_localnet on %s's bridge after its port went: %q, want 0", netA, a)
	}
}

// fwDNSUpstream is a resolver on a loopback address of the host that
// answers everything with 192.0.2.99 and counts the queries it gets.
func fwDNSUpstream(t *testing.T) (netip.Addr, func() int) {
	t.Helper()
	var pc net.PacketConn
	var addr netip.Addr
	for i := 0; i < 20 && pc == nil; i++ {
		addr = netip.AddrFrom4([4]byte{127, 0, byte(100 + rand.IntN(100)), byte(2 + rand.IntN(250))})
		pc, _ = net.ListenPacket("udp4", addr.String()+":53")
	}
	if pc == nil {
		t.Skip("no free loopback address for a test resolver")
	}
	queries := make(chan struct{}, 100)
	srv := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, q *mdns.Msg) {
		queries <- struct{}{}
		m := new(mdns.Msg)
		m.SetReply(q)
		if len(q.Question) == 1 && q.Question[0].Qtype == mdns.TypeA {
			m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: q.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 5}, A: net.IPv4(192, 0, 2, 99)})
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return addr, func() int { return len(queries) }
}

// CVE-2024-29018: the embedded DNS server forwards to the host's own
// resolvers from the host's namespace, so for a container that is only on
// internal networks it must not forward to them; on a normal network it
// does. (--dns servers are asked from the container's namespace instead:
// dns_resolv_test.go.)
func TestFirewallInternalNetworkNoDNSForwarding(t *testing.T) {
	withImages(t)
	up, count := fwDNSUpstream(t)
	rc := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(rc, []byte("nameserver "+up.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_TEST_RESOLV_CONF_PATH", rc)
	dd := harness.Fresh(t, harness.Options{Args: poolArgs})
	dd.LoadTestImages(t)
	netI, netN := uniq("fwdi"), uniq("fwdn")
	for _, a := range [][]string{{netI, "--internal"}, {netN}} {
		dd.DockerT(t, append([]string{"network", "create"}, a...)...)
		t.Cleanup(func() { dd.Docker("network", "rm", a[0]) })
	}
	out, _, _ := dd.Docker("run", "--rm", "--network", netN, img, "nslookup", "exfil.example", "127.0.0.11")
	if !strings.Contains(out, "192.0.2.99") {
		t.Fatalf("a normal network's container does not get forwarded answers: %q", out)
	}
	before := count()
	out, _, _ = dd.Docker("run", "--rm", "--network", netI, img, "nslookup", "exfil.example", "127.0.0.11")
	if strings.Contains(out, "192.0.2.99") || count() != before {
		t.Fatalf("an internal network's container had its query forwarded (%d queries): %q", count()-before, out)
	}
}

// Rules come back after someone else removes berth's table: on SIGHUP,
// and on the next network change, each with a log line.
func TestFirewallRestoredAfterFlush(t *testing.T) {
	dd := harness.Fresh(t, harness.Options{Args: poolArgs})
	t.Cleanup(func() { exec.Command("nft", "delete", "table", "inet", tableName(dd)).Run() })
	a, err := fwCreateNet(t, dd, uniq("fwr"))
	if err != nil {
		t.Fatal(err)
	}
	want := `"br-` + a[:12] + `"`
	if !strings.Contains(ruleset(t), want) {
		t.Fatal("no rules for the network")
	}
	// `nft flush ruleset` would take every other table on this shared
	// host with it; deleting berth's table is the same event for berth.
	flush := func() {
		if out, err := exec.Command("nft", "delete", "table", "inet", tableName(dd)).CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, out)
		}
	}
	flush()
	if err := dd.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(ruleset(t), want) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(ruleset(t), want) {
		t.Fatalf("rules not restored on SIGHUP:\n%s", dd.LogTail(20))
	}
	if !strings.Contains(dd.Log(), "re-applying berth's rules") {
		t.Fatal("no log line for the restore")
	}
	flush()
	b, err := fwCreateNet(t, dd, uniq("fwr"))
	if err != nil {
		t.Fatal(err)
	}
	rs := ruleset(t)
	if !strings.Contains(rs, want) || !strings.Contains(rs, `"br-`+b[:12]+`"`) {
		t.Fatalf("rules not restored on the next change:\n%s", rs)
	}
	for _, id := range []string{a, b} {
		dd.DockerT(t, "network", "rm", id)
	}
}

// Administrators' rules go in berth's "-user" table (its DOCKER-USER):
// berth makes it with an empty forward chain that runs before its own,
// and never flushes it, through network changes, a rewrite of its own
// table after a flush, and a daemon restart.
func TestFirewallUserTableSurvives(t *testing.T) {
	harness.Require(t, exec.Command("busybox", "true").Run() == nil, "busybox on the host")
	dd := harness.Fresh(t, harness.Options{Args: poolArgs})
	dd.LoadTestImages(t)
	user := tableName(dd) + "-user"
	t.Cleanup(func() { exec.Command("nft", "delete", "table", "inet", user).Run() })
	if _, err := fwCreateNet(t, dd, uniq("fwu")); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("nft", "list", "table", "inet", user).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "hook forward priority filter - 1; policy accept;") {
		t.Fatalf("no administrators' table after the first network: %v\n%s", err, out)
	}
	port := harness.FreePort(t)
	web := runD(t, dd, "-p", fmt.Sprintf("%d:8080", port), img, "httpd", "-f", "-p", "8080", "-h", "/etc")
	nb := fwNewNeighbour(t)
	reach := func() bool { return strings.Contains(nb.get(nb.hostIP.String(), port), web[:12]) }
	waitFor := func(want bool, what string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for reach() != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: published port reachable=%v, want %v\n%s", what, !want, want, dd.LogTail(20))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor(true, "before any administrator's rule")
	if out, err := exec.Command("nft", "add", "rule", "inet", user, "forward", "tcp", "dport", "8080", "drop").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	waitFor(false, "with the administrator's drop")

	if _, err := fwCreateNet(t, dd, uniq("fwu")); err != nil {
		t.Fatal(err)
	}
	waitFor(false, "after another network was created")
	if out, err := exec.Command("nft", "delete", "table", "inet", tableName(dd)).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	if err := dd.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	waitFor(false, "after berth rewrote its flushed table")
	if err := dd.Restart(false); err != nil {
		t.Fatal(err)
	}
	dd.DockerT(t, "start", web)
	waitFor(false, "after a daemon restart")
	if out, err := exec.Command("nft", "flush", "chain", "inet", user, "forward").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	waitFor(true, "after the administrator removed the rule")
}
