package network

import (
	"fmt"
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
