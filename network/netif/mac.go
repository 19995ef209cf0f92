package netif

import (
	"crypto/rand"
	"net"
)

// RandomMAC is a new endpoint's MAC address, as dockerd gives one on every
// driver: random, locally administered, unicast. A bridge endpoint once
// derived it from its IPv4 address; now a container that reuses an
// address gets a new MAC, and neighbours learn it from the unsolicited
// ARP and NA messages. On macvlan, whose devices share a wire with the
// host's neighbours, a derived address could collide with another host's
// container.
func RandomMAC() net.HardwareAddr {
	hw := make(net.HardwareAddr, 6)
	rand.Read(hw)
	hw[0] = hw[0]&^0x01 | 0x02
	return hw
}
