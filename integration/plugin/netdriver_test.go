package plugin

import (
	"net"
	"os/exec"
	"strings"
	"testing"
)

// TestNetworkDriverPlugin: a network of a driver plugin gets its
// addresses from berth and its links from the plugin; containers on it
// reach its gateway and each other; disconnect, rm and network rm give
// everything back to the plugin.
func TestNetworkDriverPlugin(t *testing.T) {
	d.LoadTestImages(t)
	ctx := pluginContext(t, "netplugin", map[string]any{
		"Description": "test network driver", "Documentation": "https://example.invalid",
		"Interface": map[string]any{"Socket": "net.sock", "Types": []string{"docker.networkdriver/1.0"}},
		"Network":   map[string]any{"Type": "host"},
		"Linux":     map[string]any{"Capabilities": []string{"CAP_NET_ADMIN"}},
	})
	t.Cleanup(func() {
		d.Docker("rm", "-f", "np-a", "np-b")
		d.Docker("network", "rm", "np-net")
		d.Docker("plugin", "rm", "-f", "testnet")
		// Anything the plugin made and did not delete.
		ifs, _ := net.Interfaces()
		for _, i := range ifs {
			if strings.HasPrefix(i.Name, "tnp") {
				exec.Command("ip", "link", "del", i.Name).Run()
			}
		}
	})
	d.DockerT(t, "plugin", "create", "testnet", ctx)
	d.DockerT(t, "plugin", "enable", "testnet")
	dockerFails(t, "could not find plugin nonet", "network", "create", "-d", "nonet", "np-none")

	id := strings.TrimSpace(d.DockerT(t, "network", "create", "-d", "testnet", "--subnet", "10.212.5.0/24", "--gateway", "10.212.5.1", "np-net"))
	if _, err := net.InterfaceByName("tnp-" + id[:8]); err != nil {
		t.Fatalf("the plugin made no bridge for the network: %v", err)
	}
	if got := strings.TrimSpace(d.DockerT(t, "network", "inspect", "-f", "{{.Driver}} {{range .IPAM.Config}}{{.Subnet}}{{end}}", "np-net")); got != "testnet 10.212.5.0/24" {
		t.Fatalf("network inspect: %q", got)
	}
	d.DockerT(t, "run", "-d", "--name", "np-a", "--network", "np-net", "--ip", "10.212.5.10", "busybox", "sleep", "300")
	out := d.DockerT(t, "run", "--name", "np-b", "--network", "np-net", "busybox", "sh", "-c",
		"ip -4 addr show eth0 && ip route && ping -c1 -W2 10.212.5.1 && ping -c1 -W2 10.212.5.10")
	for _, want := range []string{"10.212.5.", "default via 10.212.5.1 dev eth0", "1 packets received"} {
		if !strings.Contains(out, want) {
			t.Fatalf("container on the plugin's network: missing %q in\n%s", want, out)
		}
	}
	if got := d.DockerT(t, "network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}", "np-net"); !strings.Contains(got, "np-a") {
		t.Fatalf("network inspect containers: %q", got)
	}
	d.DockerT(t, "rm", "np-b")
	// A running container leaves: its link goes back for the plugin to
	// delete, and nothing of the endpoint is left on the host.
	d.DockerT(t, "network", "disconnect", "np-net", "np-a")
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		if strings.HasPrefix(i.Name, "tnpc-") || strings.HasPrefix(i.Name, "tnph-") {
			t.Fatalf("endpoint link %s left after disconnect and rm", i.Name)
		}
	}
	if out := d.DockerT(t, "exec", "np-a", "ip", "link"); strings.Contains(out, "eth0") {
		t.Fatalf("eth0 still in the container after disconnect:\n%s", out)
	}
	d.DockerT(t, "network", "connect", "np-net", "np-a")
	d.DockerT(t, "rm", "-f", "np-a")
	d.DockerT(t, "network", "rm", "np-net")
	if _, err := net.InterfaceByName("tnp-" + id[:8]); err == nil {
		t.Fatal("the plugin's bridge is left after network rm")
	}
}
