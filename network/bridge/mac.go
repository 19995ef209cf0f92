package bridge

import (
	"net"
	"net/netip"
)

// MACFromIP derives an endpoint's MAC address the way dockerd does: the
// locally administered prefix 02:42 followed by the four bytes of the IPv4
// address, so 172.17.0.2 gets 02:42:ac:11:00:02. An IPv6-only endpoint
// uses the last four bytes of its IPv6 address under the same prefix.
func MACFromIP(ip netip.Addr) net.HardwareAddr {
	hw := net.HardwareAddr{0x02, 0x42, 0, 0, 0, 0}
	if !ip.IsValid() {
		return hw
	}
	b := ip.Unmap().AsSlice()
	copy(hw[2:], b[len(b)-4:])
	return hw
}
