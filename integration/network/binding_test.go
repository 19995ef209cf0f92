package network

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

// A network's com.docker.network.bridge.host_binding_ipv4 is where -p
// publishes when it names no host address: a port of such a network on
// 127.0.0.1 answers on loopback and not to a neighbour host.
func TestHostBindingIPv4Option(t *testing.T) {
	withImages(t)
	name := uniq("hb")
	createNet(t, name, "-o", "com.docker.network.bridge.host_binding_ipv4=127.0.0.1")
	if got := inspect(t, name).Options["com.docker.network.bridge.host_binding_ipv4"]; got != "127.0.0.1" {
		t.Fatalf("option not kept: %q", got)
	}
	web := runD(t, d, "--network", name, "-p", "8080", img, "httpd", "-f", "-p", "8080", "-h", "/etc")
	out := strings.TrimSpace(d.DockerT(t, "port", web, "8080/tcp"))
	if !strings.HasPrefix(out, "127.0.0.1:") {
		t.Fatalf("docker port: want the port on 127.0.0.1, got %q", out)
	}
	port := out[strings.LastIndex(out, ":")+1:]
	if got := hostGet(t, "http://127.0.0.1:"+port+"/hostname"); !strings.Contains(got, web[:12]) {
		t.Fatalf("from the host's loopback: %q", got)
	}
	nb := fwNewNeighbour(t)
	var p int
	fmt.Sscan(port, &p)
	if got := nb.get(nb.hostIP.String(), p); strings.Contains(got, web[:12]) {
		t.Fatalf("a neighbour reached a port the network publishes on 127.0.0.1: %q", got)
	}

	// An explicit host address still wins over the network's default.
	other := harness.FreePort(t)
	web2 := runD(t, d, "--network", name, "-p", fmt.Sprintf("0.0.0.0:%d:8080", other), img, "httpd", "-f", "-p", "8080", "-h", "/etc")
	if out := strings.TrimSpace(d.DockerT(t, "port", web2, "8080/tcp")); out != fmt.Sprintf("0.0.0.0:%d", other) {
		t.Fatalf("explicit 0.0.0.0: docker port says %q", out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for got := nb.get(nb.hostIP.String(), other); !strings.Contains(got, web2[:12]); got = nb.get(nb.hostIP.String(), other) {
		if time.Now().After(deadline) {
			t.Fatalf("a neighbour cannot reach a port published on 0.0.0.0: %q", got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestHostBindingIPv4Invalid(t *testing.T) {
	name := uniq("hbx")
	_, stderr, err := d.Docker("network", "create", "-o", "com.docker.network.bridge.host_binding_ipv4=nope", name)
	want := "failed to parse com.docker.network.bridge.host_binding_ipv4 value: nope (nil ip)"
	if err == nil || !strings.Contains(stderr, want) {
		t.Fatalf("want %q, got err=%v %s", want, err, stderr)
	}
	if _, _, err := d.Docker("network", "inspect", name); err == nil {
		t.Fatal("the refused network exists")
	}
}

// --ip is the default bridge's host_binding_ipv4.
func TestDaemonIPFlag(t *testing.T) {
	dd := harness.Fresh(t, harness.Options{Args: poolArgs}, "--ip", "127.0.0.1")
	dd.LoadTestImages(t)
	out, _, err := dd.Docker("network", "inspect", "-f", `{{index .Options "com.docker.network.bridge.host_binding_ipv4"}}`, "bridge")
	if err != nil || strings.TrimSpace(out) != "127.0.0.1" {
		t.Fatalf("default bridge's host_binding_ipv4: %q %v", out, err)
	}
	web := runD(t, dd, "-p", "8080", img, "httpd", "-f", "-p", "8080", "-h", "/etc")
	if out := strings.TrimSpace(dd.DockerT(t, "port", web, "8080/tcp")); !strings.HasPrefix(out, "127.0.0.1:") {
		t.Fatalf("docker port: want the port on 127.0.0.1, got %q", out)
	}
}

// 65,536 ports in one request, one of them taken: the start is refused
// with a 4xx, and nothing of it stays behind: no held socket, no rule, and
// the ports are free for the next container. The ports are published on
// an address of the test's own (on a veth link: this kernel has no dummy), so that holding them for a
// moment never takes a port another test is using.
func TestPublishEveryPortRefusedCleanly(t *testing.T) {
	withImages(t)
	tag := uniq("")
	dummy := "bpd" + tag
	o := 4 * rand.IntN(1<<14)
	addr := netip.AddrFrom4([4]byte{198, 18 + byte(o>>16&1), byte(o >> 8), byte(o&0xff) + 1})
	t.Cleanup(func() { exec.Command("ip", "link", "del", dummy).Run() })
	for _, c := range [][]string{
		{"ip", "link", "add", dummy, "type", "veth", "peer", "name", dummy + "p"},
		{"ip", "addr", "add", addr.String() + "/32", "dev", dummy},
		{"ip", "link", "set", dummy, "up"},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", c, err, out)
		}
	}
	taken, err := net.Listen("tcp4", addr.String()+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := taken.Addr().(*net.TCPAddr).Port

	fds := func() int {
		ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", d.Pid()))
		return len(ents)
	}
	_, elemsBefore := fwRuleCount(t, d)
	fdsBefore := fds()
	name := uniq("allports")
	d.DockerT(t, "create", "--name", name, "-p", addr.String()+":1-65535:1-65535", "-p", addr.String()+":1:1/udp", img, "sleep", "60")
	t.Cleanup(func() { d.Docker("rm", "-f", name) })
	resp, body := d.Do(t, "POST", "/containers/"+name+"/start", "")
	// (The host's own wildcard listeners take ports of the range too; the
	// first one met is named.)
	if resp.StatusCode/100 != 4 || !strings.Contains(body, "failed to bind host port for "+addr.String()+":") || !strings.Contains(body, "address already in use") {
		t.Fatalf("start with a taken port: want a 4xx naming a port of %s, got %d %s", addr, resp.StatusCode, body)
	}
	if st := strings.TrimSpace(d.DockerT(t, "inspect", "-f", "{{.State.Running}}", name)); st != "false" {
		t.Fatalf("container running after a refused start: %s", st)
	}
	// The daemon lets go of every port it held for the request.
	deadline := time.Now().Add(5 * time.Second)
	for fds() > fdsBefore+8 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := fds(); n > fdsBefore+8 {
		t.Fatalf("the daemon holds %d fds after the refused start, %d before", n, fdsBefore)
	}
	if _, elems := fwRuleCount(t, d); elems != elemsBefore {
		t.Fatalf("the table has %d elements after the refused start, %d before", elems, elemsBefore)
	}
	// The ports are free again: the next container publishes a range of
	// them.
	taken.Close()
	other := runD(t, d, "-p", fmt.Sprintf("%s:%d-%d:%d-%d", addr, takenPort-5, takenPort, takenPort-5, takenPort), img, "sleep", "60")
	if out := d.DockerT(t, "port", other); strings.Count(out, addr.String()) != 6 {
		t.Fatalf("docker port after the refused start:\n%s", out)
	}
}
