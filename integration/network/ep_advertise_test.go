package network

import (
	"strings"
	"testing"
	"time"
)

// epNeighMAC is the MAC a container's neighbour table holds for ip.
func epNeighMAC(t *testing.T, id, ip string) string {
	t.Helper()
	out := d.DockerT(t, "exec", id, "ip", "neigh", "show", ip)
	f := strings.Fields(out)
	for i := range f {
		if f[i] == "lladdr" && i+1 < len(f) {
			return f[i+1]
		}
	}
	t.Fatalf("no neighbour entry for %s: %q", ip, out)
	return ""
}

// A container that takes over an address gets a new random MAC, and its
// unsolicited ARP updates its neighbours' caches at once, as with dockerd;
// with com.docker.network.advertise_addr_nmsgs=0 nothing is sent and the
// neighbours keep the old MAC.
func TestEpNewMACIsAnnounced(t *testing.T) {
	withImages(t)
	for _, nmsgs := range []string{"3", "0"} {
		n := uniq("adv")
		sub, _, octets := testSubnet()
		createNet(t, n, "--subnet", sub, "-o", "com.docker.network.advertise_addr_nmsgs="+nmsgs, "-o", "com.docker.network.advertise_addr_ms=100")
		ip := octets + ".22"
		c1 := runD(t, d, "--network", n, img, "sleep", "300")
		c2 := runD(t, d, "--network", n, "--ip", ip, img, "sleep", "300")
		mac1 := ctrInspect(t, d, c2).NetworkSettings.Networks[n].MacAddress.String()
		d.DockerT(t, "exec", c1, "ping", "-c1", "-W2", ip)
		if got := epNeighMAC(t, c1, ip); got != mac1 {
			t.Fatalf("neighbour MAC %s, want %s", got, mac1)
		}
		d.DockerT(t, "rm", "-f", c2)
		c3 := runD(t, d, "--network", n, "--ip", ip, img, "sleep", "300")
		mac2 := ctrInspect(t, d, c3).NetworkSettings.Networks[n].MacAddress.String()
		if mac2 == mac1 {
			t.Fatalf("the new container reuses MAC %s", mac1)
		}
		time.Sleep(100 * time.Millisecond)
		want := mac2
		if nmsgs == "0" {
			want = mac1
		}
		if got := epNeighMAC(t, c1, ip); got != want {
			t.Fatalf("nmsgs=%s: neighbour MAC %s, want %s (old %s, new %s)", nmsgs, got, want, mac1, mac2)
		}
	}
}

// Bad advertise options are refused at network create with dockerd's
// messages.
func TestEpAdvertiseOptionsValidated(t *testing.T) {
	for opt, want := range map[string]string{
		"com.docker.network.advertise_addr_ms=99":         "com.docker.network.advertise_addr_ms must be in the range 100 to 2000",
		"com.docker.network.advertise_addr_ms=x":          `value for option com.docker.network.advertise_addr_ms "x" must be integer milliseconds`,
		"com.docker.network.advertise_addr_nmsgs=4":       "com.docker.network.advertise_addr_nmsgs must be in the range 0 to 3",
		"com.docker.network.advertise_addr_nmsgs=nothing": `value for option com.docker.network.advertise_addr_nmsgs "nothing" must be an integer`,
	} {
		n := uniq("advbad")
		_, stderr, err := d.Docker("network", "create", "-o", opt, n)
		if err == nil {
			d.Docker("network", "rm", n)
		}
		if err == nil || !strings.Contains(stderr, want) {
			t.Errorf("%s: %v %s", opt, err, stderr)
		}
	}
}
