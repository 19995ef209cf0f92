package bridge

import (
	"crypto/rand"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// RandomMAC is a new endpoint's MAC address, as dockerd gives one: random,
// locally administered, unicast. (It once derived it from the IPv4
// address; a container that reuses an address now gets a new MAC, and
// neighbours learn it from the unsolicited ARP and NA messages.)
func RandomMAC() net.HardwareAddr {
	hw := make(net.HardwareAddr, 6)
	rand.Read(hw)
	hw[0] = hw[0]&^0x01 | 0x02
	return hw
}

// WaitForwarding waits, at most max, for the bridge port hostName to be
// forwarding, so that the first unsolicited ARP of a new endpoint is not
// dropped by a port still coming up.
func WaitForwarding(hostName string, max time.Duration) {
	path := filepath.Join("/sys/class/net", hostName, "brport/state")
	deadline := time.Now().Add(max)
	for {
		b, err := os.ReadFile(path)
		// 3 is BR_STATE_FORWARDING.
		if err != nil || strings.TrimSpace(string(b)) == "3" || time.Now().After(deadline) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}
