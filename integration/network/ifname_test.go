package network

import (
	"strings"
	"testing"
)

// A container's next interface takes the first free ethN: disconnecting
// the network of eth0 and connecting it again gives eth0 back, instead of
// an eth1 that another network's device already is (dockerd does the
// same; berth failed with "create veth …: file exists").
func TestReconnectTakesTheFreedInterfaceName(t *testing.T) {
	withImages(t)
	netA, netB := uniq("ifa"), uniq("ifb")
	createNet(t, netA)
	createNet(t, netB)
	id := runD(t, d, "--network", netA, img, "sleep", "300")
	d.DockerT(t, "network", "connect", netB, id)
	d.DockerT(t, "network", "disconnect", netA, id)
	if out, stderr, err := d.Docker("network", "connect", netA, id); err != nil {
		t.Fatalf("reconnect after a disconnect: %v %s %s", err, out, stderr)
	}
	out := d.DockerT(t, "exec", id, "ip", "-o", "link")
	for _, want := range []string{"eth0@", "eth1@"} {
		if !strings.Contains(out, want) {
			t.Fatalf("want eth0 and eth1 in the container, got:\n%s", out)
		}
	}
	ipA := ipOn(t, d, id, netA)
	if got := d.DockerT(t, "exec", id, "ip", "-o", "-4", "addr", "show", "eth0"); !strings.Contains(got, ipA+"/") {
		t.Fatalf("eth0 does not carry %s's address %s:\n%s", netA, ipA, got)
	}
}
