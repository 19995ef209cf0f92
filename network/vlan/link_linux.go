package vlan

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
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

// RandomMAC returns a locally administered unicast address, which is what
// dockerd gives a macvlan endpoint that asked for none: macvlan devices
// share a wire with the host's neighbours, where an address derived from
// the IP (as on a bridge) could collide with another host's container.
func RandomMAC() net.HardwareAddr {
	hw := make(net.HardwareAddr, 6)
	rand.Read(hw)
	hw[0] = hw[0]&^0x01 | 0x02
	return hw
}

func openNetns(path string, pid int) (netns.NsHandle, error) {
	switch {
	case path != "":
		return netns.GetFromPath(path)
	case pid > 0:
		return netns.GetFromPid(pid)
	}
	return netns.None(), errors.New("no network namespace given (path or pid)")
}

// Attach creates the container's device on the parent inside its
// namespace, under its final name, and configures it there. On error
// nothing is left behind.
func Attach(l Link) (err error) {
	if l.IfName == "" {
		l.IfName = "eth0"
	}
	parent, err := netlink.LinkByName(l.Parent)
	if err != nil {
		return fmt.Errorf("the requested parent interface %s was not found on the host", l.Parent)
	}
	ns, err := openNetns(l.NetnsPath, l.Pid)
	if err != nil {
		return fmt.Errorf("open network namespace: %w", err)
	}
	defer ns.Close()
	if self, err := netns.Get(); err == nil {
		same := ns.Equal(self)
		self.Close()
		if same {
			return errors.New("refusing to attach: the target is the host's network namespace")
		}
	}
	// Created straight inside the namespace (the parent is looked up in
	// ours): no temporary name in the host namespace to clash with, and
	// no move between namespaces, which costs an RCU grace period.
	la := netlink.LinkAttrs{Name: l.IfName, ParentIndex: parent.Attrs().Index, Namespace: netlink.NsFd(int(ns))}
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
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	if err := netlink.LinkAdd(link); err != nil {
		// A parent has either macvlan or ipvlan ports, never both.
		return fmt.Errorf("failed to create the %s port: %w", l.Kind, err)
	}
	defer func() {
		if err != nil {
			if dev, e := h.LinkByName(l.IfName); e == nil {
				h.LinkDel(dev)
			}
		}
	}()
	return configure(h, l)
}

func configure(h *netlink.Handle, l Link) error {
	link, err := h.LinkByName(l.IfName)
	if err != nil {
		return err
	}
	for _, p := range l.Addrs {
		a := p.Addr().Unmap()
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(p.Bits(), a.BitLen())}}
		if a.Is6() {
			// IPAM guarantees uniqueness on the network; DAD would hold
			// the address tentative for a second or more.
			addr.Flags = unix.IFA_F_NODAD
		}
		if err := h.AddrAdd(link, addr); err != nil {
			return fmt.Errorf("add address %s: %w", p, err)
		}
	}
	if lo, err := h.LinkByName("lo"); err == nil {
		h.LinkSetUp(lo)
	}
	if err := h.LinkSetUp(link); err != nil {
		return err
	}
	var routes []*netlink.Route
	for _, gw := range []netip.Addr{l.Gateway4, l.Gateway6} {
		if gw.IsValid() {
			r := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: gw.AsSlice(), Family: netlink.FAMILY_V4}
			if gw.Is6() {
				r.Family = netlink.FAMILY_V6
			}
			routes = append(routes, r)
		}
	}
	if l.DeviceRoute4 {
		routes = append(routes, &netlink.Route{LinkIndex: link.Attrs().Index, Scope: netlink.SCOPE_LINK, Family: netlink.FAMILY_V4,
			Dst: &net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)}})
	}
	if l.DeviceRoute6 {
		routes = append(routes, &netlink.Route{LinkIndex: link.Attrs().Index, Scope: netlink.SCOPE_LINK, Family: netlink.FAMILY_V6,
			Dst: &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}})
	}
	for _, r := range routes {
		if err := h.RouteAdd(r); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("default route on %s: %w", l.IfName, err)
		}
	}
	return nil
}

// Detach deletes a container's device by its name inside the namespace.
// A namespace or device that is gone is no error: the kernel deletes
// macvlan and ipvlan devices with their namespace.
func Detach(netnsPath string, pid int, ifName string) error {
	ns, err := openNetns(netnsPath, pid)
	if err != nil {
		return nil
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil
	}
	defer h.Close()
	link, err := h.LinkByName(ifName)
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return err
	}
	if err := h.LinkDel(link); err != nil && !isNotFound(err) {
		return err
	}
	return nil
}
