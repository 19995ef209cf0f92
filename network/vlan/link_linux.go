package vlan

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/berthd/berth/network/netif"
)

// Link kinds.
const (
	Macvlan = "macvlan"
	IPvlan  = "ipvlan"
)

// Link describes one container's device on a parent.
type Link struct {
	// Kind is Macvlan or IPvlan.
	Kind   string
	Parent string
	// Mode is the macvlan mode (bridge, private, vepa, passthru) or the
	// ipvlan mode (l2, l3, l3s); Flag the ipvlan flag (bridge, private,
	// vepa). Empty means the driver's default: bridge, l2, bridge.
	Mode, Flag string
	// NetnsPath or Pid names the container's network namespace.
	NetnsPath string
	Pid       int
	// IfName is the name inside the namespace; "eth0" when empty.
	IfName string
	// Addrs are the container's addresses with the subnet prefix length.
	Addrs []netip.Prefix
	// Gateway4 and Gateway6 become default routes when valid.
	Gateway4, Gateway6 netip.Addr
	// DeviceRoute4 and DeviceRoute6 make the default route point at the
	// device itself, with no next hop: ipvlan l3 routes everything
	// through the parent and answers no ARP.
	DeviceRoute4, DeviceRoute6 bool
	// MAC is a macvlan device's address; ipvlan devices share the parent's.
	MAC net.HardwareAddr
}

// MacvlanMode maps a macvlan mode name; ok is false for an unknown one.
func MacvlanMode(s string) (netlink.MacvlanMode, bool) {
	switch s {
	case "", "bridge":
		return netlink.MACVLAN_MODE_BRIDGE, true
	case "private":
		return netlink.MACVLAN_MODE_PRIVATE, true
	case "vepa":
		return netlink.MACVLAN_MODE_VEPA, true
	case "passthru":
		return netlink.MACVLAN_MODE_PASSTHRU, true
	}
	return 0, false
}

// IPvlanMode maps an ipvlan mode name; ok is false for an unknown one.
func IPvlanMode(s string) (netlink.IPVlanMode, bool) {
	switch s {
	case "", "l2":
		return netlink.IPVLAN_MODE_L2, true
	case "l3":
		return netlink.IPVLAN_MODE_L3, true
	case "l3s":
		return netlink.IPVLAN_MODE_L3S, true
	}
	return 0, false
}

// IPvlanFlag maps an ipvlan flag name; ok is false for an unknown one.
func IPvlanFlag(s string) (netlink.IPVlanFlag, bool) {
	switch s {
	case "", "bridge":
		return netlink.IPVLAN_FLAG_BRIDGE, true
	case "private":
		return netlink.IPVLAN_FLAG_PRIVATE, true
	case "vepa":
		return netlink.IPVLAN_FLAG_VEPA, true
	}
	return 0, false
}

// Attach creates the container's device on the parent inside its
// namespace, under its final name, and configures it there. On error
// nothing is left behind.
func Attach(l Link) error {
	if l.IfName == "" {
		l.IfName = "eth0"
	}
	parent, err := netlink.LinkByName(l.Parent)
	if err != nil {
		return fmt.Errorf("the requested parent interface %s was not found on the host", l.Parent)
	}
	ns, err := netif.OpenContainer(l.NetnsPath, l.Pid)
	if err != nil {
		return err
	}
	defer ns.Close()
	// Created straight inside the namespace (the parent is looked up in
	// ours), under its final name: see Netns.Configure in netif.
	la := netlink.LinkAttrs{Name: l.IfName, ParentIndex: parent.Attrs().Index, Namespace: ns.Fd()}
	var link netlink.Link
	switch l.Kind {
	case Macvlan:
		mode, ok := MacvlanMode(l.Mode)
		if !ok {
			return fmt.Errorf("unknown macvlan mode: %s", l.Mode)
		}
		if len(l.MAC) == 6 {
			la.HardwareAddr = l.MAC
		}
		link = &netlink.Macvlan{LinkAttrs: la, Mode: mode}
	case IPvlan:
		mode, ok := IPvlanMode(l.Mode)
		if !ok {
			return fmt.Errorf("unknown ipvlan mode: %s", l.Mode)
		}
		flag, ok := IPvlanFlag(l.Flag)
		if !ok {
			return fmt.Errorf("unknown ipvlan flag: %s", l.Flag)
		}
		link = &netlink.IPVlan{LinkAttrs: la, Mode: mode, Flag: flag}
	default:
		return fmt.Errorf("unknown link kind %q", l.Kind)
	}
	if err := netlink.LinkAdd(link); err != nil {
		// A parent has either macvlan or ipvlan ports, never both.
		return fmt.Errorf("failed to create the %s port: %w", l.Kind, err)
	}
	cfg := netif.Config{Name: l.IfName, Addrs: l.Addrs, Gateway4: l.Gateway4, Gateway6: l.Gateway6,
		DeviceRoute4: l.DeviceRoute4, DeviceRoute6: l.DeviceRoute6}
	// As for a veth (and in dockerd, for every driver): IPv6 on only
	// where the endpoint has an IPv6 address.
	if err := ns.SetIPv6(cfg); err != nil {
		ns.Delete(l.IfName)
		return err
	}
	return ns.Configure(cfg)
}

// Detach deletes a container's device by its name inside the namespace.
// A namespace or device that is gone is no error: the kernel deletes
// macvlan and ipvlan devices with their namespace.
func Detach(netnsPath string, pid int, ifName string) error {
	// OpenContainer refuses the host's own namespace: a stale path must
	// never delete a host device that happens to be named eth0.
	ns, err := netif.OpenContainer(netnsPath, pid)
	if err != nil {
		return nil
	}
	defer ns.Close()
	return ns.Delete(ifName)
}
