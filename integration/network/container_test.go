package network

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/berthd/berth/integration/internal/harness"
)

const img = harness.BusyboxImage

var loadImages sync.Once

// withImages loads the busybox test images into the package's daemon once.
func withImages(t *testing.T) {
	t.Helper()
	var failed bool
	loadImages.Do(func() {
		ok := t.Run("load", func(t *testing.T) { d.LoadTestImages(t) })
		failed = !ok
	})
	if failed {
		t.Fatal("could not load the test images")
	}
}

// runD starts a detached container and removes it when the test ends.
func runD(t *testing.T, dd *harness.Daemon, args ...string) string {
	t.Helper()
	out := dd.DockerT(t, append([]string{"run", "-d"}, args...)...)
	id := strings.TrimSpace(out)
	t.Cleanup(func() { dd.Docker("rm", "-f", id) })
	return id
}

// runRm runs a container to completion and returns its output.
func runRm(t *testing.T, args ...string) string {
	t.Helper()
	return d.DockerT(t, append([]string{"run", "--rm"}, args...)...)
}

func ctrInspect(t *testing.T, dd *harness.Daemon, id string) container.InspectResponse {
	t.Helper()
	out := dd.DockerT(t, "inspect", "--type", "container", id)
	var v []container.InspectResponse
	if err := json.Unmarshal([]byte(out), &v); err != nil || len(v) != 1 {
		t.Fatalf("inspect %s: %v\n%s", id, err, out)
	}
	return v[0]
}

func ipOn(t *testing.T, dd *harness.Daemon, id, netName string) string {
	t.Helper()
	es := ctrInspect(t, dd, id).NetworkSettings.Networks[netName]
	if es == nil || !es.IPAddress.IsValid() {
		t.Fatalf("container %s has no address on %s", id, netName)
	}
	return es.IPAddress.String()
}

// httpd serves /etc (so /hostname answers the container's hostname) on
// port 8080.
var httpd = []string{"httpd", "-f", "-p", "8080", "-h", "/etc"}

// ncGet is a shell line that fetches path from host:port with busybox nc,
// retrying while the server starts (Debian's static busybox wget crashes
// on name lookups, so nc speaks HTTP instead).
func ncGet(host, port, path string) string {
	return fmt.Sprintf(`for i in $(seq 25); do out=$(printf 'GET %s HTTP/1.0\r\n\r\n' | nc -w 2 %s %s 2>/dev/null) && [ -n "$out" ] && { echo "$out"; exit 0; }; sleep 0.2; done; exit 1`, path, host, port)
}

// hostGet fetches a URL from the host, retrying while the server starts.
func hostGet(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	var lastErr error
	for i := 0; i < 25; i++ {
		resp, err := c.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(b)
		}
		lastErr = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, lastErr)
	return ""
}

func TestUserNetworkReachByNameAliasAndIP(t *testing.T) {
	withImages(t)
	net1 := uniq("cn")
	createNet(t, net1)
	web := uniq("web")
	id := runD(t, d, "--network", net1, "--name", web, "--network-alias", "webalias", img, httpd[0], httpd[1], httpd[2], httpd[3], httpd[4], httpd[5])
	ip := ipOn(t, d, id, net1)
	for _, target := range []string{web, "webalias", ip, id[:12]} {
		out := runRm(t, "--network", net1, img, "sh", "-c", "ping -c1 -W2 "+target+" >/dev/null && "+ncGet(target, "8080", "/hostname"))
		if !strings.Contains(out, "200 OK") || !strings.Contains(out, id[:12]) {
			t.Fatalf("reaching %s by %s: %s", web, target, out)
		}
	}
	// The embedded DNS answers inside the container, at 127.0.0.11.
	out := runRm(t, "--network", net1, img, "cat", "/etc/resolv.conf")
	if !strings.Contains(out, "nameserver 127.0.0.11") {
		t.Fatalf("resolv.conf on a user network:\n%s", out)
	}
	es := ctrInspect(t, d, id).NetworkSettings.Networks[net1]
	if !slices.Contains(es.Aliases, "webalias") || !slices.Contains(es.DNSNames, web) || !slices.Contains(es.DNSNames, id[:12]) {
		t.Fatalf("endpoint settings: aliases %v dns names %v", es.Aliases, es.DNSNames)
	}
}

func TestDifferentNetworksCannotReachEachOther(t *testing.T) {
	withImages(t)
	netA, netB := uniq("iso"), uniq("iso")
	createNet(t, netA)
	createNet(t, netB)
	web := uniq("web")
	id := runD(t, d, "--network", netA, "--name", web, img, "sleep", "300")
	ip := ipOn(t, d, id, netA)
	out, _, err := d.Docker("run", "--rm", "--network", netB, img, "sh", "-c", "ping -c1 -W1 "+ip+" >/dev/null && echo reached; nslookup "+web+" 127.0.0.11 >/dev/null 2>&1 && echo resolved; true")
	if err != nil || strings.Contains(out, "reached") || strings.Contains(out, "resolved") {
		t.Fatalf("a container on %s reached %s on %s: %q %v", netB, ip, netA, out, err)
	}
}

func TestPublishedPortFromHostAndOtherContainer(t *testing.T) {
	withImages(t)
	p1, p2 := harness.FreePort(t), harness.FreePort(t)
	id := runD(t, d, "-p", fmt.Sprintf("127.0.0.1:%d:8080", p1), "-p", fmt.Sprintf("%d:8080", p2), img, httpd[0], httpd[1], httpd[2], httpd[3], httpd[4], httpd[5])
	for _, p := range []int{p1, p2} {
		if got := hostGet(t, fmt.Sprintf("http://127.0.0.1:%d/hostname", p)); !strings.Contains(got, id[:12]) {
			t.Fatalf("port %d from the host: %q", p, got)
		}
	}
	// docker port reads inspect's NetworkSettings.Ports.
	out := d.DockerT(t, "port", id)
	for _, want := range []string{fmt.Sprintf("8080/tcp -> 127.0.0.1:%d", p1), fmt.Sprintf("8080/tcp -> 0.0.0.0:%d", p2)} {
		if !strings.Contains(out, want) {
			t.Fatalf("docker port: want %q in\n%s", want, out)
		}
	}
	if ps := d.DockerT(t, "ps", "--no-trunc", "--filter", "id="+id, "--format", "{{.Ports}}"); !strings.Contains(ps, fmt.Sprintf("127.0.0.1:%d->8080/tcp", p1)) || !strings.Contains(ps, fmt.Sprintf("0.0.0.0:%d->8080/tcp", p2)) {
		t.Fatalf("docker ps ports: %s", ps)
	}
	// Hairpin: another container on the bridge reaches the port through
	// the host's address on the bridge.
	gw := inspect(t, "bridge").IPAM.Config[0].Gateway.String()
	got := runRm(t, img, "sh", "-c", ncGet(gw, strconv.Itoa(p2), "/hostname"))
	if !strings.Contains(got, id[:12]) {
		t.Fatalf("port %d from another container via %s: %q", p2, gw, got)
	}
	// Stopped, the port is gone and inspect shows no bindings.
	d.DockerT(t, "stop", "-t", "0", id)
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p1), time.Second); err == nil {
		c.Close()
		t.Fatalf("port %d still answers after stop", p1)
	}
	if ports := ctrInspect(t, d, id).NetworkSettings.Ports; len(ports) != 0 {
		t.Fatalf("ports of a stopped container: %v", ports)
	}
}

func TestPublishAllAndRanges(t *testing.T) {
	withImages(t)
	id := runD(t, d, "-P", "--expose", "8080", "--expose", "7000/udp", img, httpd[0], httpd[1], httpd[2], httpd[3], httpd[4], httpd[5])
	ports := ctrInspect(t, d, id).NetworkSettings.Ports
	// As with dockerd on a host with IPv6: one binding on 0.0.0.0 and
	// one on :: (the userland proxy's, for this IPv4-only container),
	// with one port number.
	var hostPort string
	for p, bs := range ports {
		if p.String() == "8080/tcp" && len(bs) == 2 && bs[0].HostIP.String() == "0.0.0.0" && bs[1].HostIP.String() == "::" && bs[0].HostPort == bs[1].HostPort {
			hostPort = bs[0].HostPort
		}
	}
	if hostPort == "" || len(ports) != 2 || len(ports[network.MustParsePort("7000/udp")]) != 2 {
		t.Fatalf("-P ports: %v", ports)
	}
	if got := hostGet(t, "http://127.0.0.1:"+hostPort+"/hostname"); !strings.Contains(got, id[:12]) {
		t.Fatalf("-P port %s: %q", hostPort, got)
	}
	// A host range publishes on the first free port of the range; a
	// range on both sides maps port by port.
	lo := harness.FreePort(t)
	id2 := runD(t, d, "-p", fmt.Sprintf("127.0.0.1:%d-%d:8080", lo, lo+5), "-p", fmt.Sprintf("127.0.0.1:%d-%d:9000-9001/udp", lo+10, lo+11), img, "sleep", "300")
	out := d.DockerT(t, "port", id2)
	for _, want := range []string{"8080/tcp -> 127.0.0.1:", fmt.Sprintf("9000/udp -> 127.0.0.1:%d", lo+10), fmt.Sprintf("9001/udp -> 127.0.0.1:%d", lo+11)} {
		if !strings.Contains(out, want) {
			t.Fatalf("docker port: want %q in\n%s", want, out)
		}
	}
}

// udpEcho builds testdata/udpecho as a static binary for the container.
func udpEcho(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "udpecho")
	cmd := exec.Command("go", "build", "-o", out, "./testdata/udpecho")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build udpecho: %v\n%s", err, b)
	}
	return out
}

func TestPublishedUDPPort(t *testing.T) {
	withImages(t)
	bin := udpEcho(t)
	l, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.LocalAddr().(*net.UDPAddr).Port
	l.Close()
	id := runD(t, d, "-p", fmt.Sprintf("127.0.0.1:%d:9000/udp", port), "-v", bin+":/udpecho:ro", img, "/udpecho", "9000")
	conn, err := net.Dial("udp4", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, 100)
	for i := 0; i < 25; i++ {
		conn.Write([]byte("hello-udp"))
		conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if n, err := conn.Read(buf); err == nil {
			if string(buf[:n]) != "echo:hello-udp" {
				t.Fatalf("reply %q", buf[:n])
			}
			if out, _, _ := d.Docker("logs", id); !strings.Contains(out, "got hello-udp") {
				t.Fatalf("container log: %q", out)
			}
			return
		}
	}
	out, _, _ := d.Docker("logs", id)
	t.Fatalf("no UDP reply through published port %d; container log: %q", port, out)
}

func TestNetworkModes(t *testing.T) {
	withImages(t)
	t.Run("none", func(t *testing.T) {
		if out := strings.Fields(runRm(t, "--network", "none", img, "ls", "/sys/class/net")); !slices.Equal(out, []string{"lo"}) {
			t.Fatalf("--network none has %v", out)
		}
	})
	t.Run("host", func(t *testing.T) {
		before, err := os.ReadDir("/sys/class/net")
		if err != nil {
			t.Fatal(err)
		}
		out := strings.Fields(runRm(t, "--network", "host", img, "ls", "/sys/class/net"))
		// Compare the devices that existed before the listing and still
		// do after it: tests in other packages add and remove veths and
		// their daemons' bridges meanwhile.
		var missing []string
		for _, e := range before {
			if (e.Name() == "lo" || !strings.HasPrefix(e.Name(), "veth")) && !slices.Contains(out, e.Name()) {
				if _, err := os.Stat("/sys/class/net/" + e.Name()); err == nil {
					missing = append(missing, e.Name())
				}
			}
		}
		if len(missing) > 0 {
			t.Fatalf("--network host does not see %v (sees %v)", missing, out)
		}
	})
	t.Run("container", func(t *testing.T) {
		id := runD(t, d, img, "sleep", "300")
		ip := ipOn(t, d, id, "bridge")
		out := runRm(t, "--network", "container:"+id, img, "ip", "-4", "addr", "show", "eth0")
		if !strings.Contains(out, "inet "+ip+"/") {
			t.Fatalf("container:%s does not share %s:\n%s", id[:12], ip, out)
		}
		hosts := runRm(t, "--network", "container:"+id, img, "cat", "/etc/hosts")
		if !strings.Contains(hosts, ip) {
			t.Fatalf("container: mode hosts file lacks the target's address:\n%s", hosts)
		}
	})
}

func TestNetworkConnectRunningContainer(t *testing.T) {
	withImages(t)
	netA, netB := uniq("cna"), uniq("cnb")
	createNet(t, netA)
	createNet(t, netB)
	web := uniq("web")
	webID := runD(t, d, "--network", netB, "--name", web, img, "sleep", "300")
	id := runD(t, d, "--network", netA, img, "sleep", "300")
	since := strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)
	d.DockerT(t, "network", "connect", "--alias", "second", netB, id)
	ipB := ipOn(t, d, id, netB)
	out := d.DockerT(t, "exec", id, "ip", "-4", "addr", "show", "eth1")
	if !strings.Contains(out, "inet "+ipB+"/") {
		t.Fatalf("no eth1 with %s after connect:\n%s", ipB, out)
	}
	if out := d.DockerT(t, "exec", id, "ping", "-c1", "-W2", web); !strings.Contains(out, "1 packets received") {
		t.Fatalf("ping %s over the new network: %s", web, out)
	}
	if out := d.DockerT(t, "exec", webID, "ping", "-c1", "-W2", "second"); !strings.Contains(out, "1 packets received") {
		t.Fatalf("ping alias second: %s", out)
	}
	// Connecting twice is dockerd's 403.
	if msg := dockerErr(t, "network", "connect", netB, id); !strings.Contains(msg, "already exists in network "+netB) {
		t.Fatalf("second connect: %s", msg)
	}
	d.DockerT(t, "network", "disconnect", netB, id)
	if out, _, _ := d.Docker("exec", id, "ls", "/sys/class/net"); strings.Contains(out, "eth1") {
		t.Fatalf("eth1 still there after disconnect: %s", out)
	}
	if _, ok := ctrInspect(t, d, id).NetworkSettings.Networks[netB]; ok {
		t.Fatal("inspect still lists the disconnected network")
	}
	if msg := dockerErr(t, "network", "disconnect", netB, id); !strings.Contains(msg, "is not connected to network "+netB) {
		t.Fatalf("second disconnect: %s", msg)
	}
	ev := d.DockerT(t, "events", "--since", since, "--until", strconv.FormatInt(time.Now().Unix()+1, 10), "--filter", "type=network", "--format", "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.container}}")
	if !strings.Contains(ev, "connect "+netB+" "+id) || !strings.Contains(ev, "disconnect "+netB+" "+id) {
		t.Fatalf("network events:\n%s", ev)
	}
	// A created container records the network and joins it at start.
	cid := strings.TrimSpace(d.DockerT(t, "create", "--network", netA, img, "ip", "-4", "addr"))
	t.Cleanup(func() { d.Docker("rm", "-f", cid) })
	d.DockerT(t, "network", "connect", netB, cid)
	if _, ok := ctrInspect(t, d, cid).NetworkSettings.Networks[netB]; !ok {
		t.Fatal("connect on a created container is not recorded")
	}
	out = d.DockerT(t, "start", "-a", cid)
	if strings.Count(out, "inet ") != 3 {
		t.Fatalf("created container connected to two networks has:\n%s", out)
	}
}

func TestDNSOptionsAndHostGateway(t *testing.T) {
	withImages(t)
	out := runRm(t, "--dns", "10.1.2.3", "--dns-search", "example.test", "--dns-option", "ndots:3", img, "cat", "/etc/resolv.conf")
	for _, want := range []string{"nameserver 10.1.2.3", "search example.test", "options ndots:3"} {
		if !strings.Contains(out, want) {
			t.Fatalf("resolv.conf lacks %q:\n%s", want, out)
		}
	}
	gw := inspect(t, "bridge").IPAM.Config[0].Gateway.String()
	out = runRm(t, "--add-host", "gw.test:host-gateway", "--add-host", "foo.test:10.9.8.7", img, "cat", "/etc/hosts")
	if !strings.Contains(out, gw+"\tgw.test") || !strings.Contains(out, "10.9.8.7\tfoo.test") {
		t.Fatalf("hosts with --add-host (gateway %s):\n%s", gw, out)
	}
	// On a user network the embedded DNS forwards to --dns.
	n := uniq("dns")
	createNet(t, n)
	out = runRm(t, "--network", n, "--dns", "10.1.2.3", img, "cat", "/etc/resolv.conf")
	if !strings.Contains(out, "nameserver 127.0.0.11") || !strings.Contains(out, "ExtServers: [10.1.2.3]") {
		t.Fatalf("resolv.conf on a user network with --dns:\n%s", out)
	}
}

func TestLegacyLinks(t *testing.T) {
	withImages(t)
	target := uniq("lnk")
	id := runD(t, d, "--name", target, "-e", "SECRET=s3", "--expose", "6379", img, "sleep", "300")
	ip := ipOn(t, d, id, "bridge")
	out := runRm(t, "--link", target+":db", img, "sh", "-c", "cat /etc/hosts; env")
	if want := ip + "\tdb " + id[:12] + " " + target; !strings.Contains(out, want) {
		t.Fatalf("--link: want %q in\n%s", want, out)
	}
	// The ALIAS_* variables are gone from dockerd unless its escape hatch
	// is set (integration/container's TestLegacyLinkEnvVars).
	if strings.Contains(out, "DB_") {
		t.Fatalf("--link: link env vars by default:\n%s", out)
	}
}

func TestIPv6BetweenContainers(t *testing.T) {
	withImages(t)
	n := uniq("v6")
	createNet(t, n, "--ipv6")
	id := runD(t, d, "--network", n, img, "sleep", "300")
	es := ctrInspect(t, d, id).NetworkSettings.Networks[n]
	if !es.GlobalIPv6Address.IsValid() {
		t.Fatalf("no IPv6 address on an --ipv6 network: %+v", es)
	}
	out := runRm(t, "--network", n, img, "ping", "-6", "-c1", "-W2", es.GlobalIPv6Address.String())
	if !strings.Contains(out, "1 packets received") {
		t.Fatalf("ping6: %s", out)
	}
}

func TestPortConflict(t *testing.T) {
	withImages(t)
	p := harness.FreePort(t)
	runD(t, d, "-p", fmt.Sprintf("127.0.0.1:%d:80", p), img, "sleep", "300")
	name := uniq("conflict")
	t.Cleanup(func() { d.Docker("rm", "-f", name) })
	msg := dockerErr(t, "run", "-d", "--name", name, "-p", fmt.Sprintf("127.0.0.1:%d:80", p), img, "sleep", "300")
	if !strings.Contains(msg, fmt.Sprintf("Bind for 127.0.0.1:%d failed: port is already allocated", p)) || !strings.Contains(msg, "driver failed programming external connectivity on endpoint "+name) {
		t.Fatalf("conflict with another container: %s", msg)
	}
	if st := ctrInspect(t, d, name).State; st.Running || st.Status == "running" {
		t.Fatalf("the conflicting container runs: %+v", st)
	}
	// A port some other process holds is the kernel's bind error.
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	q := l.Addr().(*net.TCPAddr).Port
	msg = dockerErr(t, "run", "--rm", "-p", fmt.Sprintf("127.0.0.1:%d:80", q), img, "true")
	if !strings.Contains(msg, fmt.Sprintf("failed to bind host port for 127.0.0.1:%d:", q)) || !strings.Contains(msg, "address already in use") {
		t.Fatalf("conflict with a host process: %s", msg)
	}
}

func TestContainerBadNetworkInput(t *testing.T) {
	withImages(t)
	n := uniq("bad")
	subnet, _, octets := testSubnet()
	createNet(t, n, "--subnet", subnet)
	before := d.DockerT(t, "ps", "-aq", "--no-trunc")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--network", n, "--ip", "10.1.1.1"}, "invalid endpoint settings:\nno configured subnet or ip-range contain the IP address 10.1.1.1"},
		{[]string{"--ip", octets + ".9"}, "user specified IP address is supported on user defined networks only"},
		{[]string{"--network", uniq("nosuch")}, "not found"},
		{[]string{"--link", uniq("nosuch") + ":x"}, "could not get container for"},
		{[]string{"--network", "container:" + uniq("nosuch")}, "No such container"},
	}
	for _, c := range cases {
		args := append(append([]string{"run", "--rm", "--pull", "never"}, c.args...), img, "true")
		if msg := dockerErr(t, args...); !strings.Contains(msg, c.want) {
			t.Errorf("%v: got %q, want %q", c.args, msg, c.want)
		}
	}
	if after := d.DockerT(t, "ps", "-aq", "--no-trunc"); after != before {
		t.Fatalf("bad input created containers:\nbefore %s\nafter %s", before, after)
	}
	// A static address in the subnet works.
	out := runRm(t, "--network", n, "--ip", octets+".77", img, "ip", "-4", "addr", "show", "eth0")
	if !strings.Contains(out, "inet "+octets+".77/24") {
		t.Fatalf("--ip: %s", out)
	}
}

func TestRestartKeepsAddressesPortsAndNames(t *testing.T) {
	// With live-restore the containers outlive the daemon's crash and keep
	// their network; without it they are stopped, as with dockerd.
	dd := harness.Fresh(t, harness.Options{Args: poolArgs, Config: `{"live-restore": true}`})
	dd.LoadTestImages(t)
	n := uniq("rs")
	freshNet(t, dd, n)
	web := uniq("web")
	p := harness.FreePort(t)
	id := runD(t, dd, "--network", n, "--name", web, "-p", fmt.Sprintf("127.0.0.1:%d:8080", p), img, httpd[0], httpd[1], httpd[2], httpd[3], httpd[4], httpd[5])
	client := runD(t, dd, "--network", n, img, "sleep", "300")
	ip := ipOn(t, dd, id, n)
	hostGet(t, fmt.Sprintf("http://127.0.0.1:%d/hostname", p))
	if err := dd.Restart(true); err != nil {
		t.Fatal(err)
	}
	if got := ipOn(t, dd, id, n); got != ip {
		t.Fatalf("address changed across a daemon restart: %s -> %s", ip, got)
	}
	if got := hostGet(t, fmt.Sprintf("http://127.0.0.1:%d/hostname", p)); !strings.Contains(got, id[:12]) {
		t.Fatalf("published port after restart: %q", got)
	}
	out, _, err := dd.Docker("exec", client, "nslookup", web, "127.0.0.11")
	if err != nil || !strings.Contains(out, ip) {
		t.Fatalf("embedded DNS after restart: %v\n%s", err, out)
	}
	// A new container does not get the address of a running one.
	other := runD(t, dd, "--network", n, img, "sleep", "300")
	if got := ipOn(t, dd, other, n); got == ip || got == ipOn(t, dd, client, n) {
		t.Fatalf("address %s given twice after restart", got)
	}
	dd.DockerT(t, "rm", "-f", id, client, other)
}
