package network

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/network"

	"github.com/berthd/berth/integration/internal/harness"
)

// gwPortsState is what the host maps for a container's published port
// 8080/tcp: its bindings in inspect and the container addresses the
// firewall's DNAT elements for the host port lead to.
func gwPortsState(t *testing.T, id, hostPort string, ctrAddrs ...string) (ports []string, dnatTo []string) {
	t.Helper()
	for _, b := range ctrInspect(t, d, id).NetworkSettings.Ports[network.MustParsePort("8080/tcp")] {
		ports = append(ports, b.HostIP.String()+":"+b.HostPort)
	}
	tbl := v6Table(t, d)
	for _, a := range ctrAddrs {
		if strings.Contains(tbl, fmt.Sprintf("tcp . %s : %s . 8080", hostPort, a)) {
			dnatTo = append(dnatTo, a)
		}
	}
	return ports, dnatTo
}

// A container's published ports follow its gateway endpoints, as with
// dockerd (moby's TestGatewaySelection): connecting an IPv6-only network
// moves the host-IPv6 mapping to it (the IPv4-only network keeps IPv4 and
// stops proxying IPv6 to the container's IPv4 address); disconnecting it
// gives IPv6 back; a dual-stack network takes both families, and gives
// them back when it goes. An ephemeral host port keeps its number through
// every move. Each state is checked from the host, on ::1 and on the
// networks' own gateway addresses.
func TestGatewayPortsMove(t *testing.T) {
	withImages(t)
	net4, net6, net46 := uniq("gp4"), uniq("gp6"), uniq("gp46")
	createNet(t, net4)
	createNet(t, net6, "--ipv4=false", "--ipv6", "--subnet", v6Subnet().String())
	createNet(t, net46, "--ipv6", "--subnet", v6Subnet().String())
	fixed := fmt.Sprint(freeDualPort(t))
	id := runD(t, d, "--network", net4, "-p", fixed+":8080", "-p", "8081", img,
		"sh", "-c", "httpd -p 8081 -h /etc && exec httpd -f -p 8080 -h /etc")
	eph := v6HostPort(t, d, id, "8081/tcp", "0.0.0.0")
	ctr4 := ipOn(t, d, id, net4)

	reach := func(t *testing.T, state string, hosts ...string) {
		t.Helper()
		for _, h := range hosts {
			for _, p := range []string{fixed, eph} {
				if got := hostGet(t, "http://"+h+":"+p+"/hostname"); !strings.Contains(got, id[:12]) {
					t.Fatalf("%s: GET %s:%s: %q", state, h, p, got)
				}
			}
		}
	}
	expect := func(t *testing.T, state string, wantDNAT []string, all ...string) {
		t.Helper()
		ports, dnat := gwPortsState(t, id, fixed, all...)
		if got, want := strings.Join(ports, " "), "0.0.0.0:"+fixed+" :::"+fixed; got != want {
			t.Fatalf("%s: inspect Ports of 8080/tcp = %q, want %q", state, got, want)
		}
		if strings.Join(dnat, " ") != strings.Join(wantDNAT, " ") {
			t.Fatalf("%s: host port %s DNATed to %v, want %v", state, fixed, dnat, wantDNAT)
		}
		if p6 := v6HostPort(t, d, id, "8081/tcp", "::"); p6 != eph || v6HostPort(t, d, id, "8081/tcp", "0.0.0.0") != eph {
			t.Fatalf("%s: the ephemeral port moved from %s to [::]:%s", state, eph, p6)
		}
		out := d.DockerT(t, "port", id, "8080")
		if !strings.Contains(out, "0.0.0.0:"+fixed) || !strings.Contains(out, "[::]:"+fixed) {
			t.Fatalf("%s: docker port: %s", state, out)
		}
	}

	// On an IPv4-only network: IPv4 DNATed, host IPv6 proxied to IPv4.
	expect(t, "IPv4 only", []string{ctr4}, ctr4)
	reach(t, "IPv4 only", "127.0.0.1", "[::1]")

	d.DockerT(t, "network", "connect", net6, id)
	ctr6 := v6Addr(t, d, id, net6).String()
	gw6 := v6Config(t, inspect(t, net6)).Gateway.String()
	expect(t, "IPv6-only network connected", []string{ctr4, ctr6}, ctr4, ctr6)
	reach(t, "IPv6-only network connected", "127.0.0.1", "[::1]", "["+gw6+"]")

	d.DockerT(t, "network", "disconnect", net6, id)
	expect(t, "IPv6-only network disconnected", []string{ctr4}, ctr4, ctr6)
	reach(t, "IPv6-only network disconnected", "127.0.0.1", "[::1]")

	d.DockerT(t, "network", "connect", net46, id)
	ds4, ds6 := ipOn(t, d, id, net46), v6Addr(t, d, id, net46).String()
	gw46 := v6Config(t, inspect(t, net46)).Gateway.String()
	expect(t, "dual-stack network connected", []string{ds4, ds6}, ctr4, ds4, ds6)
	reach(t, "dual-stack network connected", "127.0.0.1", "[::1]", "["+gw46+"]")

	d.DockerT(t, "network", "disconnect", net46, id)
	expect(t, "dual-stack network disconnected", []string{ctr4}, ctr4, ds4, ds6)
	reach(t, "dual-stack network disconnected", "127.0.0.1", "[::1]")
}

// freeDualPort is a TCP port free on both 0.0.0.0 and :: a moment ago.
func freeDualPort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l4, err := net.Listen("tcp4", "0.0.0.0:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l4.Addr().(*net.TCPAddr).Port
		l6, err := net.Listen("tcp6", fmt.Sprintf("[::]:%d", p))
		l4.Close()
		if err == nil {
			l6.Close()
			return p
		}
	}
	t.Fatal("no TCP port free on both families")
	return 0
}

// A live-restored container whose IPv4 and IPv6 gateways are on different
// networks gets each family's mapping back on its own network, on the
// same host port.
func TestGatewayPortsSurviveRestart(t *testing.T) {
	dd := harness.Fresh(t, harness.Options{Args: poolArgs, Config: `{"live-restore": true}`})
	dd.LoadTestImages(t)
	net4, net6 := uniq("gr4"), uniq("gr6")
	freshNet(t, dd, net4)
	freshNet(t, dd, net6, "--ipv4=false", "--ipv6", "--subnet", v6Subnet().String())
	id := runD(t, dd, "--network", net4, "-p", "8080", img, httpd[0], httpd[1], httpd[2], httpd[3], httpd[4], httpd[5])
	dd.DockerT(t, "network", "connect", net6, id)
	before := dd.DockerT(t, "port", id)
	p4, p6 := v6HostPort(t, dd, id, "8080/tcp", "0.0.0.0"), v6HostPort(t, dd, id, "8080/tcp", "::")
	if err := dd.Restart(true); err != nil {
		t.Fatal(err)
	}
	if after := dd.DockerT(t, "port", id); after != before {
		t.Fatalf("docker port changed across a restart:\n%s\n%s", before, after)
	}
	tbl := v6Table(t, dd)
	for _, want := range []string{
		fmt.Sprintf("tcp . %s : %s . 8080", p4, ipOn(t, dd, id, net4)),
		fmt.Sprintf("tcp . %s : %s . 8080", p6, v6Addr(t, dd, id, net6)),
	} {
		if !strings.Contains(tbl, want) {
			t.Fatalf("want %q in the table after restart:\n%s", want, tbl)
		}
	}
	for _, url := range []string{"http://127.0.0.1:" + p4, "http://[::1]:" + p6} {
		if got := hostGet(t, url+"/hostname"); !strings.Contains(got, id[:12]) {
			t.Fatalf("GET %s after restart: %q", url, got)
		}
	}
	dd.DockerT(t, "rm", "-f", id)
}
