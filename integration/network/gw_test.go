package network

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/network"

	"github.com/berthd/berth/integration/internal/harness"
)

// Bridge gateway modes (com.docker.network.bridge.gateway_mode_ipv4/6),
// trusted_host_interfaces, --allow-direct-routing and
// --bridge-accept-fwmark, as moby's networking suite checks them.

const (
	gwOpt4 = "com.docker.network.bridge.gateway_mode_ipv4="
	gwOpt6 = "com.docker.network.bridge.gateway_mode_ipv6="
)

// gwServer runs a container on netName serving HTTP on ports 80 and 81,
// with extra run arguments (port publications).
func gwServer(t *testing.T, dd *harness.Daemon, netName string, extra ...string) string {
	t.Helper()
	args := append([]string{"--network", netName}, extra...)
	args = append(args, img, "sh", "-c", "httpd -p 80 -h /etc; httpd -p 81 -h /etc; exec sleep 300")
	return runD(t, dd, args...)
}

// gwReach reports whether a container on netName gets an HTTP answer
// from addr:port; one attempt of two seconds, since an unreachable port
// is the expected result as often as a reachable one.
func gwReach(t *testing.T, dd *harness.Daemon, netName, addr, port string) bool {
	t.Helper()
	out, _, _ := dd.Docker("run", "--rm", "--network", netName, img, "sh", "-c",
		fmt.Sprintf(`printf 'GET /hostname HTTP/1.0\r\n\r\n' | nc -w 2 %s %s`, addr, port))
	return strings.Contains(out, "HTTP/1.")
}

// gwPing reports whether a container on netName gets an answer to ping.
func gwPing(t *testing.T, dd *harness.Daemon, netName, addr string) bool {
	t.Helper()
	_, _, err := dd.Docker("run", "--rm", "--network", netName, img, "ping", "-c1", "-W2", addr)
	return err == nil
}

func gwCreate(t *testing.T, dd *harness.Daemon, name string, args ...string) {
	t.Helper()
	if dd == d {
		createNet(t, name, args...)
		return
	}
	freshNet(t, dd, name, args...)
	t.Cleanup(func() { dd.Docker("network", "rm", name) })
}

// A routed network is reached directly, on its opened ports and by ping,
// from a nat network; a nat network's containers are reached from other
// networks only through the host; nat-unprotected opens every port.
func TestGwModesBetweenNetworks(t *testing.T) {
	withImages(t)
	client, routed, natSrv, unprot := uniq("gwc"), uniq("gwr"), uniq("gwn"), uniq("gwu")
	gwCreate(t, d, client)
	gwCreate(t, d, routed, "-o", gwOpt4+"routed")
	gwCreate(t, d, natSrv)
	gwCreate(t, d, unprot, "-o", gwOpt4+"nat-unprotected")

	r := gwServer(t, d, routed, "-p", "80")
	rIP := ipOn(t, d, r, routed)
	if ports := ctrInspect(t, d, r).NetworkSettings.Ports[network.MustParsePort("80/tcp")]; len(ports) != 1 || ports[0].HostPort != "" {
		t.Errorf("routed port binding: %+v, want one with no host port", ports)
	}
	if !gwPing(t, d, client, rIP) {
		t.Error("nat → routed: no ping")
	}
	if !gwReach(t, d, client, rIP, "80") {
		t.Error("nat → routed: opened port not reached")
	}
	if gwReach(t, d, client, rIP, "81") {
		t.Error("nat → routed: port that is not opened reached")
	}

	n := gwServer(t, d, natSrv, "-p", "80")
	nIP := ipOn(t, d, n, natSrv)
	if gwPing(t, d, routed, nIP) {
		t.Error("routed → nat: ping answered")
	}
	if gwReach(t, d, routed, nIP, "80") || gwReach(t, d, client, nIP, "80") {
		t.Error("a nat network's published port reached directly from another network")
	}

	u := gwServer(t, d, unprot)
	uIP := ipOn(t, d, u, unprot)
	if !gwReach(t, d, client, uIP, "81") {
		t.Error("nat-unprotected: unpublished port not reached")
	}

	// No masquerade for the routed network.
	rs := ruleset(t)
	sub := gwSubnet(t, d, routed)
	if strings.Contains(rs, "ip saddr "+sub+" oifname") && strings.Contains(rs, "ip saddr "+sub+" oifname != ") {
		t.Errorf("routed network %s is masqueraded:\n%s", sub, rs)
	}
}

func gwSubnet(t *testing.T, dd *harness.Daemon, name string) string {
	t.Helper()
	out := dd.DockerT(t, "network", "inspect", name)
	var v []network.Inspect
	if err := json.Unmarshal([]byte(out), &v); err != nil || len(v) != 1 || len(v[0].IPAM.Config) == 0 {
		t.Fatalf("network inspect %s: %v\n%s", name, err, out)
	}
	return v[0].IPAM.Config[0].Subnet.String()
}

// A family in gateway mode routed maps no host port: inspect shows its
// binding without one, after the mapped family's.
func TestGwRoutedBindingsInInspect(t *testing.T) {
	withImages(t)
	for _, tc := range []struct {
		gw4, gw6 string
		want     string
	}{
		{"nat", "routed", "0.0.0.0:8080 :::"},
		{"routed", "nat", ":::8080 0.0.0.0:"},
	} {
		name := uniq("gwi")
		createNet(t, name, "--ipv6", "-o", gwOpt4+tc.gw4, "-o", gwOpt6+tc.gw6)
		id := runD(t, d, "--network", name, "-p", "8080:80", img, "sleep", "300")
		var got []string
		for _, b := range ctrInspect(t, d, id).NetworkSettings.Ports[network.MustParsePort("80/tcp")] {
			got = append(got, b.HostIP.String()+":"+b.HostPort)
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("ipv4 %s, ipv6 %s: bindings %q, want %q", tc.gw4, tc.gw6, got, tc.want)
		}
		d.Docker("rm", "-f", id)
	}
	_, stderr, err := d.Docker("network", "create", "-o", gwOpt4+"bogus", uniq("gwbad"))
	if err == nil || !strings.Contains(stderr, "unknown gateway mode bogus") {
		t.Errorf("bad gateway mode: %v %s", err, stderr)
	}
	_, stderr, err = d.Docker("network", "create", "-o", gwOpt4+"isolated", uniq("gwbad"))
	if err == nil || !strings.Contains(stderr, "gateway mode 'isolated' can only be used for an internal network") {
		t.Errorf("isolated, not internal: %v %s", err, stderr)
	}
}

// A container whose gateway is a nat network keeps its published ports
// open on the address it has on a routed network too.
func TestGwRoutedNonGatewayEndpoint(t *testing.T) {
	withImages(t)
	client, natNet, routed := uniq("gwc"), uniq("gwn"), uniq("gwr")
	gwCreate(t, d, client)
	gwCreate(t, d, natNet)
	gwCreate(t, d, routed, "-o", gwOpt4+"routed")
	id := runD(t, d, "--network", "name="+natNet+",gw-priority=1", "--network", routed, "-p", "80", img,
		"sh", "-c", "httpd -p 80 -h /etc; exec sleep 300")
	if !gwReach(t, d, client, ipOn(t, d, id, routed), "80") {
		t.Error("published port not open on the routed, non-gateway endpoint")
	}
	if gwReach(t, d, client, ipOn(t, d, id, natNet), "80") {
		t.Error("published port reached directly on the nat endpoint")
	}

	// A routed network connected later opens the ports too, until it is
	// disconnected.
	later := uniq("gwr")
	gwCreate(t, d, later, "-o", gwOpt4+"routed")
	d.DockerT(t, "network", "connect", later, id)
	ip := ipOn(t, d, id, later)
	if !gwReach(t, d, client, ip, "80") {
		t.Error("published port not open on a routed network connected later")
	}
	d.DockerT(t, "network", "disconnect", later, id)
	rs := ruleset(t)
	if strings.Contains(rs, ip+" . tcp . 80") {
		t.Errorf("port still open on %s after disconnect:\n%s", ip, rs)
	}
	if !gwReach(t, d, client, ipOn(t, d, id, routed), "80") {
		t.Error("disconnecting one routed network closed the port on another")
	}
}

// --allow-direct-routing lets other networks address a nat network's
// published ports directly (not its other ports); a trusted host
// interface does the same for one network; --bridge-accept-fwmark lets
// marked packets reach any port.
func TestGwDirectRoutingAndFwMark(t *testing.T) {
	dd := harness.Fresh(t, harness.Options{Args: poolArgs}, "--allow-direct-routing", "--bridge-accept-fwmark=2/3")
	dd.LoadTestImages(t)
	client, srv := uniq("gwc"), uniq("gwn")
	gwCreate(t, dd, client, "-o", "com.docker.network.bridge.name="+client)
	gwCreate(t, dd, srv)
	id := gwServer(t, dd, srv, "-p", "80")
	ip := ipOn(t, dd, id, srv)
	if !gwReach(t, dd, client, ip, "80") {
		t.Error("--allow-direct-routing: published port not reached directly")
	}
	if gwReach(t, dd, client, ip, "81") {
		t.Error("--allow-direct-routing: unpublished port reached")
	}
	mark := uniq("berthgwmark")
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(fmt.Sprintf("table inet %s {\n chain raw {\n  type filter hook prerouting priority raw\n  iifname %q mark set 0xe\n }\n}\n", mark, client))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("nft", "delete", "table", "inet", mark).Run() })
	if !gwReach(t, dd, client, ip, "81") {
		t.Error("--bridge-accept-fwmark: marked packet to an unpublished port dropped")
	}
}

// trusted_host_interfaces: traffic from those interfaces may address a
// nat network's containers directly, on their published ports.
func TestGwTrustedHostInterfaces(t *testing.T) {
	withImages(t)
	client, srv := uniq("gwc"), uniq("gwn")
	gwCreate(t, d, client, "-o", "com.docker.network.bridge.name="+client)
	gwCreate(t, d, srv, "-o", "com.docker.network.bridge.trusted_host_interfaces=lo:"+client)
	id := gwServer(t, d, srv, "-p", "80")
	ip := ipOn(t, d, id, srv)
	if !gwReach(t, d, client, ip, "80") {
		t.Error("trusted interface: published port not reached directly")
	}
	if gwReach(t, d, client, ip, "81") {
		t.Error("trusted interface: unpublished port reached")
	}
}

// gwInICCSet reports whether any berth table's icc set (bridges whose
// containers may talk to each other) holds the bridge dev; a bridge with
// icc=false is in the noicc set instead.
func gwInICCSet(rs, dev string) bool {
	pair := fmt.Sprintf("%q . %q", dev, dev)
	for _, block := range strings.Split(rs, "set icc {")[1:] {
		if end := strings.Index(block, "}"); end >= 0 && strings.Contains(block[:end], pair) {
			return true
		}
	}
	return false
}

// Gateway mode isolated (internal networks only) puts no address on the
// bridge, not even IPv6 link-local; a /31 internal network with
// inhibit_ipv4 keeps both addresses for containers.
func TestGwIsolatedAndInhibitIPv4(t *testing.T) {
	withImages(t)
	name := uniq("gwiso")
	br := "br-" + name
	createNet(t, name, "--internal", "--ipv6", "-o", gwOpt4+"isolated", "-o", gwOpt6+"isolated",
		"-o", "com.docker.network.bridge.name="+br)
	if out, _ := exec.Command("ip", "-o", "addr", "show", "dev", br).CombinedOutput(); strings.TrimSpace(string(out)) != "" {
		t.Errorf("isolated bridge has addresses:\n%s", out)
	}
	peer := uniq("gwp")
	runD(t, d, "--network", name, "--name", peer, img, "sleep", "300")
	for _, fam := range []string{"-4", "-6"} {
		if out, _, err := d.Docker("run", "--rm", "--network", name, img, "ping", fam, "-c1", "-W3", peer); err != nil {
			t.Errorf("isolated, ping %s: %v %s", fam, err, out)
		}
	}

	p2p := uniq("gwp2p")
	_, _, octets := testSubnet()
	createNet(t, p2p, "--internal", "--subnet", octets+".0/31", "-o", "com.docker.network.bridge.inhibit_ipv4=true")
	other := uniq("gwp")
	runD(t, d, "--network", p2p, "--name", other, img, "sleep", "300")
	if out, _, err := d.Docker("run", "--rm", "--network", p2p, img, "ping", "-c1", "-W3", other); err != nil {
		t.Errorf("/31 with inhibit_ipv4: %v %s", err, out)
	}
	_, stderr, err := d.Docker("network", "create", "-o", "com.docker.network.bridge.inhibit_ipv4=maybe", uniq("gwbad"))
	if err == nil || !strings.Contains(stderr, "inhibit_ipv4") {
		t.Errorf("bad inhibit_ipv4: %v %s", err, stderr)
	}
}

// With the userland proxy (the default), a container reaches its own
// published port through the host's address: its connection is not
// DNATed back into its own bridge port (which has no hairpin mode then)
// but taken by the proxy, as with dockerd.
func TestGwOwnPublishedPortThroughProxy(t *testing.T) {
	withImages(t)
	name := uniq("gwown")
	createNet(t, name)
	id := runD(t, d, "--network", name, "-p", "80", img, "httpd", "-f", "-p", "80", "-h", "/etc")
	var hostPort string
	for _, b := range ctrInspect(t, d, id).NetworkSettings.Ports[network.MustParsePort("80/tcp")] {
		if b.HostIP.Is4() {
			hostPort = b.HostPort
		}
	}
	gw := strings.TrimSuffix(strings.TrimSpace(d.DockerT(t, "network", "inspect", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}", name)), "\n")
	out, _, err := d.Docker("exec", id, "sh", "-c", ncGet(gw, hostPort, "/hostname"))
	if err != nil || !strings.Contains(out, "HTTP/1.") {
		t.Fatalf("own published port through %s:%s: %v %s", gw, hostPort, err, out)
	}
}
