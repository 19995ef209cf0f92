package netif

import (
	"net"
	"testing"
)

// A container that reuses an address must get a new MAC, as with
// dockerd: locally administered, unicast, and different every time.
func TestRandomMAC(t *testing.T) {
	a, b := RandomMAC(), RandomMAC()
	for _, m := range []net.HardwareAddr{a, b} {
		if len(m) != 6 || m[0]&0x02 == 0 || m[0]&0x01 != 0 {
			t.Fatalf("MAC %s is not a locally administered unicast address", m)
		}
	}
	if a.String() == b.String() {
		t.Fatalf("two random MACs are both %s", a)
	}
}
