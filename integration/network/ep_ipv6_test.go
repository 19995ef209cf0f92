package network

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

// Endpoint sysctls (com.docker.network.endpoint.sysctls) are set on the
// container's own interface, named IFNAME in the option; a sysctl not in
// that form is refused at create with dockerd's message.
func TestEpEndpointSysctls(t *testing.T) {
	withImages(t)
	for _, v := range []string{"0", "1"} {
		out := runRm(t, "--network", "name=bridge,driver-opt=com.docker.network.endpoint.sysctls=net.ipv4.conf.IFNAME.forwarding="+v,
			img, "sysctl", "-qn", "net.ipv4.conf.eth0.forwarding")
		if strings.TrimSpace(out) != v {
			t.Fatalf("forwarding=%s asked, eth0 has %q", v, out)
		}
	}
	_, stderr, err := d.Docker("create", "--network", "name=bridge,driver-opt=com.docker.network.endpoint.sysctls=net.ipv4.ip_forward=1", img, "true")
	if err == nil || !strings.Contains(stderr, "unrecognised network interface sysctl") {
		t.Fatalf("bad endpoint sysctl: %v %s", err, stderr)
	}
}

// A container with IPv6 turned off (everywhere, or on its interface) gets
// no IPv6 address on an IPv6 network: none in inspect, none on the
// device, and no AAAA answer from the embedded DNS.
func TestEpIPv6OffPerContainerAndInterface(t *testing.T) {
	withImages(t)
	n := uniq("v6off")
	createNet(t, n, "--ipv6", "--subnet", v6Subnet().String())
	for name, args := range map[string][]string{
		"ctr":   {"--sysctl", "net.ipv6.conf.all.disable_ipv6=1", "--network", n},
		"iface": {"--network", "name=" + n + ",driver-opt=com.docker.network.endpoint.sysctls=net.ipv6.conf.IFNAME.disable_ipv6=1"},
	} {
		cname := uniq("no6" + name)
		id := runD(t, d, append(append([]string{"--name", cname}, args...), img, "sleep", "300")...)
		es := ctrInspect(t, d, id).NetworkSettings.Networks[n]
		if es == nil || es.GlobalIPv6Address.IsValid() || es.GlobalIPv6PrefixLen != 0 || !es.IPAddress.IsValid() {
			t.Fatalf("%s: endpoint %+v, want IPv4 only", name, es)
		}
		if out := d.DockerT(t, "exec", id, "ip", "addr", "show", "eth0"); strings.Contains(out, "inet6") {
			t.Fatalf("%s: IPv6 address on eth0:\n%s", name, out)
		}
		_, stderr, err := d.Docker("run", "--rm", "--network", n, img, "ping", "-6", "-c1", "-W2", cname)
		if err == nil || !strings.Contains(stderr, "bad address") {
			t.Fatalf("%s: ping -6 by name: %v %s", name, err, stderr)
		}
	}
}

// With /proc/sys/net read-only (dockerd's DOCKER_TEST_RO_DISABLE_IPV6
// stands in for it) a container whose interface needs IPv6 turned off
// cannot start; one on an IPv6 network still can.
func TestEpIPv6CannotBeTurnedOff(t *testing.T) {
	t.Setenv("DOCKER_TEST_RO_DISABLE_IPV6", "1")
	dd := harness.Fresh(t, harness.Options{Args: poolArgs})
	dd.LoadTestImages(t)
	n4, n6 := uniq("ro4"), uniq("ro6")
	freshNet(t, dd, n4)
	freshNet(t, dd, n6, "--ipv6", "--subnet", v6Subnet().String())
	_, stderr, err := dd.Docker("run", "--rm", "--network", n4, img, "true")
	if err == nil || !strings.Contains(stderr, "failed to disable IPv6 on container's interface eth0") {
		t.Fatalf("IPv4-only network: %v %s", err, stderr)
	}
	dd.DockerT(t, "run", "--rm", "--network", n6, img, "true")
}

// Changing only the prefix length of --fixed-cidr-v6 keeps the default
// bridge's IPv6 address as it is (with its old length), as dockerd does;
// changing the prefix replaces it.
func TestEpDefaultBridgeV6PrefixLength(t *testing.T) {
	p := v6Subnet()
	gw := p.Addr().Next()
	dd := harness.Fresh(t, harness.Options{Args: poolArgs}, "--ipv6", "--fixed-cidr-v6", p.String())
	addrs := func() string {
		// Network calls wait for the daemon's network setup.
		dd.DockerT(t, "network", "inspect", "bridge")
		out, err := exec.Command("ip", "-6", "addr", "show", "dev", dd.Bridge).CombinedOutput()
		if err != nil {
			t.Fatalf("ip addr: %v %s", err, out)
		}
		return string(out)
	}
	if a := addrs(); !strings.Contains(a, gw.String()+"/64") {
		t.Fatalf("first start: %s", a)
	}
	if err := dd.Restart(false, "--ipv6", "--fixed-cidr-v6", netip.PrefixFrom(p.Addr(), 80).String()); err != nil {
		t.Fatal(err)
	}
	if a := addrs(); !strings.Contains(a, gw.String()+"/64") || strings.Contains(a, gw.String()+"/80") {
		t.Fatalf("after /64 -> /80: %s", a)
	}
	q := v6Subnet()
	if err := dd.Restart(false, "--ipv6", "--fixed-cidr-v6", q.String()); err != nil {
		t.Fatal(err)
	}
	if a := addrs(); !strings.Contains(a, q.Addr().Next().String()+"/64") || strings.Contains(a, gw.String()+"/") {
		t.Fatalf("after a new prefix: %s", a)
	}
}
