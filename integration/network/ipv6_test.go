package network

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/network"

	"github.com/berthd/berth/integration/internal/harness"
)

// v6Subnet is a random unique-local /64 (never the host's fd00::/64).
func v6Subnet() netip.Prefix {
	return netip.MustParsePrefix(fmt.Sprintf("fd%02x:%04x:%04x:%04x::/64", 0x10+rand.IntN(0xe0), rand.IntN(1<<16), rand.IntN(1<<16), rand.IntN(1<<16)))
}

// v6Config is the network's IPv6 IPAM entry.
func v6Config(t *testing.T, nw network.Inspect) network.IPAMConfig {
	t.Helper()
	for _, c := range nw.IPAM.Config {
		if c.Subnet.Addr().Is6() {
			return c
		}
	}
	t.Fatalf("network %s has no IPv6 subnet: %+v", nw.Name, nw.IPAM.Config)
	return network.IPAMConfig{}
}

// v6Addr is a container's IPv6 address on a network.
func v6Addr(t *testing.T, dd *harness.Daemon, id, netName string) netip.Addr {
	t.Helper()
	es := ctrInspect(t, dd, id).NetworkSettings.Networks[netName]
	if es == nil || !es.GlobalIPv6Address.IsValid() {
		t.Fatalf("container %s has no IPv6 address on %s: %+v", id, netName, es)
	}
	return es.GlobalIPv6Address
}

// v6HostPort is the host port of a container port's binding on hostIP.
func v6HostPort(t *testing.T, dd *harness.Daemon, id, port, hostIP string) string {
	t.Helper()
	for p, bs := range ctrInspect(t, dd, id).NetworkSettings.Ports {
		if p.String() != port {
			continue
		}
		for _, b := range bs {
			if b.HostIP.String() == hostIP {
				return b.HostPort
			}
		}
	}
	t.Fatalf("container %s: no binding of %s on %s", id, port, hostIP)
	return ""
}

// v6HostAddrs lists the host's addresses inside p: a refused network
// must leave no bridge with its gateway behind. (Other work on the host
// adds and removes bridges at any moment, so the list of bridges itself
// cannot be compared.)
func v6HostAddrs(t *testing.T, p netip.Prefix) string {
	t.Helper()
	out, err := exec.Command("ip", "-o", "-6", "addr", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	var in []string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		for i := 0; i+1 < len(f); i++ {
			if f[i] != "inet6" {
				continue
			}
			if a, err := netip.ParsePrefix(f[i+1]); err == nil && p.Contains(a.Addr()) {
				in = append(in, f[1]+" "+f[i+1])
			}
		}
	}
	return strings.Join(in, ", ")
}

func v6Table(t *testing.T, dd *harness.Daemon) string {
	t.Helper()
	out, err := exec.Command("nft", "list", "table", "inet", dd.NftTable()).CombinedOutput()
	if err != nil {
		t.Fatalf("nft list table: %v %s", err, out)
	}
	return string(out)
}

// A dual-stack network: addresses and gateways in inspect, names answered
// with AAAA records, ping6 by name, /etc/hosts and the interface's
// sysctls as dockerd sets them, ip6 masquerade.
func TestIPv6DualStack(t *testing.T) {
	withImages(t)
	sub := v6Subnet()
	n := uniq("ds")
	id := createNet(t, n, "--ipv6", "--subnet", sub.String())
	nw := inspect(t, n)
	if !nw.EnableIPv4 || !nw.EnableIPv6 || len(nw.IPAM.Config) != 2 || v6Config(t, nw).Subnet != sub {
		t.Fatalf("dual-stack network: %+v", nw.IPAM.Config)
	}
	gw6 := v6Config(t, nw).Gateway
	if gw6 != sub.Addr().Next() {
		t.Fatalf("IPv6 gateway %s, want the subnet's first address", gw6)
	}
	srv := uniq("srv")
	sid := runD(t, d, "--network", n, "--name", srv, img, "sleep", "300")
	es := ctrInspect(t, d, sid).NetworkSettings.Networks[n]
	if !sub.Contains(es.GlobalIPv6Address) || es.GlobalIPv6PrefixLen != 64 || es.IPv6Gateway != gw6 || !es.IPAddress.IsValid() {
		t.Fatalf("endpoint: %+v", es)
	}

	out := runRm(t, "--network", n, img, "sh", "-c",
		"nslookup -type=AAAA "+srv+" 127.0.0.11; ping -6 -c1 -W2 "+srv+"; echo disable_ipv6=$(cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6); ip -6 route; cat /etc/hosts")
	for _, want := range []string{
		es.GlobalIPv6Address.String(), // the AAAA answer and ping's target
		"1 packets received",
		"default via " + gw6.String(),
		"::1\tlocalhost ip6-localhost ip6-loopback",
		"ff02::2\tip6-allrouters",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("want %q in:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "disable_ipv6=0") {
		t.Fatalf("IPv6 is off on eth0 of a container with an IPv6 address:\n%s", out)
	}
	// The container's own /etc/hosts names it by both addresses.
	hosts := d.DockerT(t, "exec", sid, "cat", "/etc/hosts")
	if !strings.Contains(hosts, es.GlobalIPv6Address.String()+"\t") || !strings.Contains(hosts, es.IPAddress.String()+"\t") {
		t.Fatalf("/etc/hosts:\n%s", hosts)
	}
	// Outbound IPv6 is masqueraded per network, as dockerd 28 does.
	if tbl := v6Table(t, d); !strings.Contains(tbl, fmt.Sprintf(`ip6 saddr %s oifname != "br-%s" masquerade`, sub, id[:12])) {
		t.Fatalf("no ip6 masquerade for %s:\n%s", sub, tbl)
	}
}

// A container on an IPv4-only network has IPv6 off on its interface.
func TestIPv6OffWithoutIPv6Network(t *testing.T) {
	withImages(t)
	n := uniq("v4o")
	createNet(t, n)
	out := strings.TrimSpace(runRm(t, "--network", n, img, "sh", "-c", "cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6; ip -6 addr show dev eth0"))
	if out != "1" {
		t.Fatalf("eth0 of an IPv4-only container: %q", out)
	}
}

// An IPv6-only network (--ipv4=false): no IPv4 anywhere, names and ports
// over IPv6.
func TestIPv6Only(t *testing.T) {
	withImages(t)
	n := uniq("v6o")
	createNet(t, n, "--ipv4=false", "--ipv6")
	nw := inspect(t, n)
	if nw.EnableIPv4 || !nw.EnableIPv6 || len(nw.IPAM.Config) != 1 {
		t.Fatalf("IPv6-only network: ipv4 %v ipv6 %v %+v", nw.EnableIPv4, nw.EnableIPv6, nw.IPAM.Config)
	}
	gw6 := v6Config(t, nw).Gateway
	web := uniq("web")
	id := runD(t, d, "--network", n, "--name", web, "-p", "8080", img, httpd[0], httpd[1], httpd[2], httpd[3], httpd[4], httpd[5])
	es := ctrInspect(t, d, id).NetworkSettings.Networks[n]
	if es.IPAddress.IsValid() || !es.GlobalIPv6Address.IsValid() {
		t.Fatalf("endpoint on an IPv6-only network: %+v", es)
	}
	out := runRm(t, "--network", n, img, "sh", "-c", "ping -c1 -W2 "+web+" && "+ncGet(web, "8080", "/hostname"))
	if !strings.Contains(out, "1 packets received") || !strings.Contains(out, id[:12]) {
		t.Fatalf("by name over IPv6: %s", out)
	}
	// Only :: is published: there is no IPv4 address to publish to.
	ports := ctrInspect(t, d, id).NetworkSettings.Ports[network.MustParsePort("8080/tcp")]
	if len(ports) != 1 || ports[0].HostIP.String() != "::" {
		t.Fatalf("ports of an IPv6-only container: %+v", ports)
	}
	for _, host := range []string{"[::1]", "[" + gw6.String() + "]"} {
		if got := hostGet(t, "http://"+host+":"+ports[0].HostPort+"/hostname"); !strings.Contains(got, id[:12]) {
			t.Fatalf("%s:%s from the host: %q", host, ports[0].HostPort, got)
		}
	}
}

// Ports over IPv6: :: beside 0.0.0.0 with one port number, reached from
// the host through ::1 and the bridge's IPv6 address, a port on ::1 only
// (guarded like 127.0.0.1), `docker port` as dockerd prints it, and an
// IPv4-only container reached on :: through the userland proxy.
func TestIPv6PublishedPorts(t *testing.T) {
	withImages(t)
	n := uniq("p6")
	createNet(t, n, "--ipv6", "--subnet", v6Subnet().String())
	gw6 := v6Config(t, inspect(t, n)).Gateway
	loop := harness.FreePort(t)
	id := runD(t, d, "--network", n, "-p", "8080", "-p", fmt.Sprintf("[::1]:%d:8080", loop), img, httpd[0], httpd[1], httpd[2], httpd[3], httpd[4], httpd[5])
	p4, p6 := v6HostPort(t, d, id, "8080/tcp", "0.0.0.0"), v6HostPort(t, d, id, "8080/tcp", "::")
	if p4 != p6 {
		t.Fatalf("0.0.0.0:%s and [::]:%s: dockerd gives both one port", p4, p6)
	}
	out := d.DockerT(t, "port", id)
	for _, want := range []string{"8080/tcp -> 0.0.0.0:" + p4, "8080/tcp -> [::]:" + p6, fmt.Sprintf("8080/tcp -> [::1]:%d", loop)} {
		if !strings.Contains(out, want) {
			t.Fatalf("docker port: want %q in\n%s", want, out)
		}
	}
	for _, url := range []string{
		"http://127.0.0.1:" + p4,
		"http://[::1]:" + p6,
		"http://[" + gw6.String() + "]:" + p6,
		fmt.Sprintf("http://[::1]:%d", loop),
	} {
		if got := hostGet(t, url+"/hostname"); !strings.Contains(got, id[:12]) {
			t.Fatalf("GET %s: %q", url, got)
		}
	}
	tbl := v6Table(t, d)
	ctr6 := v6Addr(t, d, id, n)
	for _, want := range []string{
		fmt.Sprintf("tcp . %s : %s . 8080", p6, ctr6), // dnat6any
		fmt.Sprintf("::1 . tcp . %d", loop),           // loopback6
	} {
		if !strings.Contains(tbl, want) {
			t.Fatalf("want %q in the table:\n%s", want, tbl)
		}
	}
	// Hairpin over IPv6: a container reaches the port through the
	// bridge's address.
	if got := runRm(t, "--network", n, img, "sh", "-c", ncGet(gw6.String(), p6, "/hostname")); !strings.Contains(got, id[:12]) {
		t.Fatalf("hairpin over IPv6: %q", got)
	}

	// An IPv4-only container: :: is published too, through the proxy.
	v4n := uniq("p4")
	createNet(t, v4n)
	id4 := runD(t, d, "--network", v4n, "-p", "8080", img, httpd[0], httpd[1], httpd[2], httpd[3], httpd[4], httpd[5])
	q := v6HostPort(t, d, id4, "8080/tcp", "::")
	if got := hostGet(t, "http://[::1]:"+q+"/hostname"); !strings.Contains(got, id4[:12]) {
		t.Fatalf("IPv4-only container through [::1]:%s: %q", q, got)
	}

	// Stopped: every binding and element is gone.
	d.DockerT(t, "rm", "-f", id, id4)
	tbl = v6Table(t, d)
	if strings.Contains(tbl, ctr6.String()) || strings.Contains(tbl, fmt.Sprintf("::1 . tcp . %d", loop)) {
		t.Fatalf("IPv6 port elements left after removal:\n%s", tbl)
	}
}

// Bad IPv6 input gets dockerd's answer and leaves no bridge, rule or
// address behind; what dockerd accepts is accepted.
func TestIPv6CreateInput(t *testing.T) {
	withImages(t)
	a := v6Subnet()
	createNet(t, uniq("ova"), "--ipv6", "--subnet", a.String())
	rulesBefore := v6Table(t, d)
	inner := netip.PrefixFrom(a.Addr(), 80)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--ipv6", "--subnet", inner.String()}, "Pool overlaps with other one on this address space"},
		{[]string{"--ipv6", "--subnet", a.String()}, "Pool overlaps with other one on this address space"},
		{[]string{"--ipv6", "--subnet", "fe80::/80"}, "'fe80::/80' clashes with the Link-Local prefix 'fe80::/64'"},
		{[]string{"--ipv6", "--subnet", "ff05::/64"}, "multicast subnet 'ff05::/64' is not allowed"},
		{[]string{"--ipv6", "--subnet", "fd12:3456:789a:1::1/64"}, "invalid subnet fd12:3456:789a:1::1/64: it should be fd12:3456:789a:1::/64"},
	} {
		name := uniq("bad6")
		var refused netip.Prefix
		for i, arg := range tc.args {
			if arg == "--subnet" {
				refused = netip.MustParsePrefix(tc.args[i+1]).Masked()
			}
		}
		addrsBefore := v6HostAddrs(t, refused)
		msg := dockerErr(t, append(append([]string{"network", "create"}, tc.args...), name)...)
		if !strings.Contains(msg, tc.want) {
			t.Fatalf("%v: want %q, got %q", tc.args, tc.want, msg)
		}
		if _, _, err := d.Docker("network", "inspect", name); err == nil {
			t.Fatalf("%v: network %s exists after the error", tc.args, name)
		}
		if got := v6HostAddrs(t, refused); got != addrsBefore {
			t.Fatalf("%v: host addresses in %s changed:\nbefore %s\nafter  %s", tc.args, refused, addrsBefore, got)
		}
		if got := v6Table(t, d); got != rulesBefore {
			t.Fatalf("%v: rules changed:\nbefore\n%s\nafter\n%s", tc.args, rulesBefore, got)
		}
	}
	// A gateway outside the subnet (the CLI refuses it itself; the API
	// answers 400 with dockerd's message).
	gsub := v6Subnet()
	body := fmt.Sprintf(`{"Name":%q,"EnableIPv6":true,"IPAM":{"Config":[{"Subnet":%q,"Gateway":"fd00:dead::1"}]}}`, uniq("gw6"), gsub)
	if code, msg := httpDo(t, "POST", "/networks/create", body); code != 400 || !strings.Contains(msg, "invalid gateway fd00:dead::1: parent subnet "+gsub.String()+" doesn't contain this address") {
		t.Fatalf("gateway outside the subnet: %d %s", code, msg)
	}
	if got := v6Table(t, d); got != rulesBefore {
		t.Fatalf("rules changed by a refused gateway:\n%s", got)
	}
	// The refused overlapping subnet is still free for its owner: nothing
	// was half-allocated. A subnet longer than /64 is fine (dockerd 28
	// takes any length; addresses come from IPAM, not SLAAC).
	long := netip.PrefixFrom(v6Subnet().Addr(), 80)
	n80 := uniq("l80")
	createNet(t, n80, "--ipv6", "--subnet", long.String())
	id := runD(t, d, "--network", n80, img, "sleep", "300")
	if a6 := v6Addr(t, d, id, n80); !long.Contains(a6) {
		t.Fatalf("address %s outside %s", a6, long)
	}
	// --ipv6 with only an IPv4 subnet: the IPv6 one comes from the pool.
	sub4, _, _ := testSubnet()
	n4 := uniq("auto6")
	createNet(t, n4, "--ipv6", "--subnet", sub4)
	nw := inspect(t, n4)
	if len(nw.IPAM.Config) != 2 || nw.IPAM.Config[0].Subnet.String() != sub4 || v6Config(t, nw).Subnet.Bits() != 64 {
		t.Fatalf("--ipv6 with an IPv4 subnet: %+v", nw.IPAM.Config)
	}
}

// The default bridge with --ipv6 and --fixed-cidr-v6, and an IPv6
// default-address-pools entry that user networks draw from.
func TestIPv6DefaultBridge(t *testing.T) {
	fixed := v6Subnet()
	pool := netip.PrefixFrom(v6Subnet().Addr(), 56)
	dd := harness.Fresh(t, harness.Options{Args: poolArgs}, "--ipv6", "--fixed-cidr-v6", fixed.String(),
		"--default-address-pool", "base="+pool.String()+",size=64")
	dd.LoadTestImages(t)
	br := dd.DockerT(t, "network", "inspect", "-f", "{{.EnableIPv6}} {{range .IPAM.Config}}{{.Subnet}} {{end}}", "bridge")
	if !strings.HasPrefix(br, "true ") || !strings.Contains(br, fixed.String()) {
		t.Fatalf("default bridge: %s", br)
	}
	id := runD(t, dd, img, "sleep", "300")
	a6 := v6Addr(t, dd, id, "bridge")
	if !fixed.Contains(a6) {
		t.Fatalf("address %s outside --fixed-cidr-v6 %s", a6, fixed)
	}
	out := dd.DockerT(t, "exec", id, "ping", "-6", "-c1", "-W2", fixed.Addr().Next().String())
	if !strings.Contains(out, "1 packets received") {
		t.Fatalf("ping6 the default bridge's gateway: %s", out)
	}
	name := uniq("pool6")
	dd.DockerT(t, "network", "create", "--ipv6", name)
	t.Cleanup(func() { dd.Docker("network", "rm", name) })
	sub := dd.DockerT(t, "network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", name)
	var got6 netip.Prefix
	for _, f := range strings.Fields(sub) {
		if p, err := netip.ParsePrefix(f); err == nil && p.Addr().Is6() {
			got6 = p
		}
	}
	if !got6.IsValid() || got6.Bits() != 64 || !pool.Contains(got6.Addr()) {
		t.Fatalf("IPv6 subnet %v not from the pool %s (%s)", got6, pool, sub)
	}

	// The default bridge follows the flags of each start, as dockerd's
	// does: without --ipv6 it loses its IPv6 subnet and address, with
	// another --fixed-cidr-v6 it takes that one.
	dd.DockerT(t, "rm", "-f", id)
	brDev := dd.Bridge
	for _, want := range []netip.Prefix{{}, v6Subnet()} {
		var args []string
		if want.IsValid() {
			args = []string{"--ipv6", "--fixed-cidr-v6", want.String()}
		}
		if err := dd.Restart(false, args...); err != nil {
			t.Fatal(err)
		}
		got := dd.DockerT(t, "network", "inspect", "-f", "{{.EnableIPv6}} {{range .IPAM.Config}}{{.Subnet}} {{end}}", "bridge")
		if want.IsValid() != strings.HasPrefix(got, "true ") || strings.Contains(got, fixed.String()) ||
			want.IsValid() && !strings.Contains(got, want.String()) {
			t.Fatalf("default bridge after a restart with %v: %s", args, got)
		}
		if a := v6HostAddrs(t, fixed); a != "" {
			t.Fatalf("the old --fixed-cidr-v6 gateway stayed on %s: %s", brDev, a)
		}
	}

	// dockerd refuses a multicast or link-local --fixed-cidr-v6 at start.
	bad := harness.Options{Args: append(append([]string{}, poolArgs...), "--ipv6", "--fixed-cidr-v6", "fe80::/80")}
	bd, err := harness.New(bad)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bd.Cleanup)
	if err := bd.Start(); err == nil {
		t.Fatal("berthd started with --fixed-cidr-v6 fe80::/80")
	}
	if log := bd.Log(); !strings.Contains(log, "invalid fixed-cidr-v6") {
		t.Fatalf("log of the refused start:\n%s", log)
	}
}

// Across a daemon crash (live-restore) a container keeps both bindings of
// a port, each for its own family, and both still answer.
func TestIPv6PortsSurviveRestart(t *testing.T) {
	dd := harness.Fresh(t, harness.Options{Args: poolArgs, Config: `{"live-restore": true}`})
	dd.LoadTestImages(t)
	n := uniq("r6")
	freshNet(t, dd, n, "--ipv6", "--subnet", v6Subnet().String())
	id := runD(t, dd, "--network", n, "-p", "8080", img, httpd[0], httpd[1], httpd[2], httpd[3], httpd[4], httpd[5])
	before := dd.DockerT(t, "port", id)
	p4, p6 := v6HostPort(t, dd, id, "8080/tcp", "0.0.0.0"), v6HostPort(t, dd, id, "8080/tcp", "::")
	hostGet(t, "http://[::1]:"+p6+"/hostname")
	if err := dd.Restart(true); err != nil {
		t.Fatal(err)
	}
	if after := dd.DockerT(t, "port", id); after != before {
		t.Fatalf("docker port changed across a restart:\n%s\n%s", before, after)
	}
	for _, url := range []string{"http://127.0.0.1:" + p4, "http://[::1]:" + p6} {
		if got := hostGet(t, url+"/hostname"); !strings.Contains(got, id[:12]) {
			t.Fatalf("GET %s after restart: %q", url, got)
		}
	}
	if tbl := v6Table(t, dd); !strings.Contains(tbl, fmt.Sprintf("tcp . %s : %s . 8080", p6, v6Addr(t, dd, id, n))) {
		t.Fatalf("IPv6 DNAT not restored:\n%s", tbl)
	}
	dd.DockerT(t, "rm", "-f", id)
}
