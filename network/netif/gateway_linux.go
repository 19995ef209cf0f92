package netif

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Gateway is a namespace's default route for one address family: via Via
// out of the device IfName, or straight out of it when Device is set (an
// ipvlan l3 port). The zero Gateway is no default route.
type Gateway struct {
	IfName string
	Via    netip.Addr
	Device bool
}

// SetDefaultRoute makes gw the namespace's only default route of the
// family (netlink.FAMILY_V4 or FAMILY_V6), as dockerd moves the default
// gateway when a container's networks change. Routes that already match
// are left alone. The old routes are gone even if adding the new one fails
// (its device is down, say): the caller decides whether that is fatal.
func (n *Netns) SetDefaultRoute(family int, gw Gateway) error {
	routes, err := n.h.RouteList(nil, family)
	if err != nil {
		return err
	}
	var want *netlink.Route
	if gw.IfName != "" {
		link, err := n.h.LinkByName(gw.IfName)
		if err != nil {
			return err
		}
		bits := 32
		if family == netlink.FAMILY_V6 {
			bits = 128
		}
		want = &netlink.Route{LinkIndex: link.Attrs().Index, Family: family}
		if gw.Device {
			want.Scope = netlink.SCOPE_LINK
			ip := net.IPv4zero
			if family == netlink.FAMILY_V6 {
				ip = net.IPv6zero
			}
			want.Dst = &net.IPNet{IP: ip, Mask: net.CIDRMask(0, bits)}
		} else {
			want.Gw = gw.Via.AsSlice()
		}
	}
	kept := false
	for _, r := range routes {
		if !isDefault(r) || r.Table != unix.RT_TABLE_MAIN && r.Table != 0 {
			continue
		}
		if want != nil && !kept && r.LinkIndex == want.LinkIndex && r.Gw.Equal(want.Gw) {
			kept = true
			continue
		}
		if err := n.h.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("remove default route: %w", err)
		}
	}
	if want == nil || kept {
		return nil
	}
	if err := n.h.RouteAdd(want); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("default route on %s: %w", gw.IfName, err)
	}
	return nil
}

func isDefault(r netlink.Route) bool {
	if r.Dst == nil {
		return true
	}
	ones, _ := r.Dst.Mask.Size()
	return ones == 0
}
