package network

import (
	"strings"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

// TestDefaultNetworkOpts: daemon.json's default-network-opts for the
// bridge driver reach a network created without that option (and its
// containers' interfaces); an option the request sets wins.
func TestDefaultNetworkOpts(t *testing.T) {
	dd := harness.Fresh(t, harness.Options{Config: `{"default-network-opts":{"bridge":{"com.docker.network.driver.mtu":"1400"}}}`})
	dd.LoadTestImages(t)
	dd.DockerT(t, "network", "create", "dnopts-default")
	t.Cleanup(func() { dd.Docker("network", "rm", "dnopts-default") })
	dd.DockerT(t, "network", "create", "-o", "com.docker.network.driver.mtu=1300", "dnopts-own")
	t.Cleanup(func() { dd.Docker("network", "rm", "dnopts-own") })
	for name, want := range map[string]string{"dnopts-default": "1400", "dnopts-own": "1300"} {
		opt := strings.TrimSpace(dd.DockerT(t, "network", "inspect", "-f", `{{index .Options "com.docker.network.driver.mtu"}}`, name))
		if opt != want {
			t.Errorf("%s: option mtu %q, want %s", name, opt, want)
		}
		mtu := strings.TrimSpace(dd.DockerT(t, "run", "--pull=never", "--rm", "--network", name, "busybox", "cat", "/sys/class/net/eth0/mtu"))
		if mtu != want {
			t.Errorf("%s: container's eth0 mtu %q, want %s", name, mtu, want)
		}
	}
}
