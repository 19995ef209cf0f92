package bridge

import (
	"os"
	"path/filepath"
	"strings"
	"time"
)

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
