package network

import (
	"strings"
	"testing"
)

// /etc/hosts has IPv6 names only where IPv6 is on, as dockerd writes it:
// a container started with net.ipv6.conf.all.disable_ipv6=1 gets none
// (moby's TestEtcHostsIpv6).
func TestEtcHostsWithoutIPv6(t *testing.T) {
	withImages(t)
	on := runRm(t, img, "cat", "/etc/hosts")
	if !strings.Contains(on, "::1\tlocalhost ip6-localhost ip6-loopback") {
		t.Fatalf("default /etc/hosts lacks the IPv6 names:\n%s", on)
	}
	off := runRm(t, "--sysctl", "net.ipv6.conf.all.disable_ipv6=1", img, "cat", "/etc/hosts")
	if strings.Contains(off, "ip6-") || strings.Contains(off, "::") {
		t.Fatalf("IPv6 off, /etc/hosts still has IPv6 entries:\n%s", off)
	}
	if !strings.HasPrefix(off, "127.0.0.1\tlocalhost\n") {
		t.Fatalf("IPv6 off, /etc/hosts:\n%s", off)
	}
}
