package network

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

// host-gateway stands for both of the default bridge's gateways when it
// has IPv6, and for --host-gateway-ip when that is given, as with dockerd.
func TestDNSHostGatewayBothFamilies(t *testing.T) {
	v6 := fmt.Sprintf("fd%02x:%x:%x::", rand.IntN(256), 1+rand.IntN(1<<16-1), 1+rand.IntN(1<<16-1))
	dd := harness.Fresh(t, harness.Options{Args: poolArgs}, "--ipv6", "--fixed-cidr-v6", v6+"/64")
	dd.LoadTestImages(t)
	gw4 := ""
	for _, g := range strings.Fields(dd.DockerT(t, "network", "inspect", "-f", `{{range .IPAM.Config}}{{.Gateway}} {{end}}`, "bridge")) {
		if !strings.Contains(g, ":") {
			gw4 = g
		}
	}
	out := dd.DockerT(t, "run", "--rm", "--add-host", "hg:host-gateway", img, "grep", "hg$", "/etc/hosts")
	for _, want := range []string{gw4 + "\thg\n", v6 + "1\thg\n"} {
		if !strings.Contains(out, want) {
			t.Fatalf("want %q in host-gateway's entries:\n%s", want, out)
		}
	}

	dd2 := harness.Fresh(t, harness.Options{Args: poolArgs}, "--host-gateway-ip", "192.0.2.7", "--host-gateway-ip", "2001:db8::7")
	dd2.LoadTestImages(t)
	out = dd2.DockerT(t, "run", "--rm", "--add-host", "hg:host-gateway", img, "grep", "hg$", "/etc/hosts")
	if !strings.Contains(out, "192.0.2.7\thg\n") || !strings.Contains(out, "2001:db8::7\thg\n") {
		t.Fatalf("--host-gateway-ip not used:\n%s", out)
	}
}
