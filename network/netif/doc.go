// Package netif owns one noun: an interface inside a container's network
// namespace. Every driver that gives a container a device of its own (a
// bridge network's veth, a macvlan or ipvlan port) creates that device
// straight inside the namespace under its final name; the rest is the same
// whatever the device is: open the namespace by path or pid and refuse the
// host's own, add the addresses, bring lo and the device up, add the
// default routes, and delete the device again if any of that fails.
// SetIPv6 matches the device's disable_ipv6 sysctl to its addresses, as
// dockerd does; the bridge driver calls it, then SetSysctls (the
// endpoint's own interface sysctls), before Configure. SetDefaultRoute
// moves the namespace's default route when the container's gateway
// endpoint changes, and Advertise announces a new interface's addresses
// with unsolicited ARP and neighbour advertisements.
//
// It lives apart from the drivers so that they cannot drift: what a
// container sees inside its namespace (NODAD addresses, default routes,
// nothing left behind on error) must not depend on which driver made its
// interface. It imports nothing of berth's; network/bridge and
// network/vlan import it, and neither imports the other.
package netif
