package bridge

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Config describes a bridge device.
type Config struct {
	Name string
	// MTU of the bridge; 0 keeps the kernel default (1500).
	MTU int
	// Addrs are the gateway addresses with the subnet's prefix length.
	Addrs []netip.Prefix
	// NoIPv6 turns IPv6 off on the bridge, so that it has not even a
	// link-local address (gateway mode isolated).
	NoIPv6 bool
}

func toIPNet(p netip.Prefix) *net.IPNet {
	a := p.Addr().Unmap()
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(p.Bits(), a.BitLen())}
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENOENT)
}

// Snapshot is the host's links and addresses from one dump each. The
// kernel answers a dump of one link's addresses by dumping every address
// on the host, so ensuring N bridges one by one costs O(N²); with a
// snapshot, a daemon start with hundreds of networks costs two dumps.
type Snapshot struct {
	links map[string]netlink.Link
	addrs map[int][]netlink.Addr
}

// TakeSnapshot dumps the host's links and addresses.
func TakeSnapshot() (*Snapshot, error) {
	links, err := retryDump(netlink.LinkList)
	if err != nil {
		return nil, err
	}
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return netlink.AddrList(nil, netlink.FAMILY_ALL) })
	if err != nil {
		return nil, err
	}
	s := &Snapshot{links: map[string]netlink.Link{}, addrs: map[int][]netlink.Addr{}}
	for _, l := range links {
		s.links[l.Attrs().Name] = l
	}
	for _, a := range addrs {
		s.addrs[a.LinkIndex] = append(s.addrs[a.LinkIndex], a)
	}
	return s, nil
}

// Ensure creates the bridge if it does not exist and makes its MTU,
// addresses and up state match cfg. It is idempotent, so the daemon calls
// it at every start for the bridges it owns.
func Ensure(cfg Config) error { return (*Snapshot)(nil).Ensure(cfg) }

// Ensure is the package's Ensure, with what the host had when s was taken;
// a nil s asks the kernel.
func (s *Snapshot) Ensure(cfg Config) error {
	var link netlink.Link
	var err error
	if s != nil {
		if link = s.links[cfg.Name]; link == nil {
			err = netlink.LinkNotFoundError{}
		}
	} else {
		link, err = netlink.LinkByName(cfg.Name)
	}
	if err != nil && !isNotFound(err) {
		return err
	}
	created := false
	if err != nil {
		created = true
		la := netlink.NewLinkAttrs()
		la.Name = cfg.Name
		if cfg.MTU > 0 {
			la.MTU = cfg.MTU
		}
		br := &netlink.Bridge{LinkAttrs: la}
		if err := netlink.LinkAdd(br); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("create bridge %s: %w", cfg.Name, err)
		}
		if link, err = netlink.LinkByName(cfg.Name); err != nil {
			return err
		}
	} else if _, ok := link.(*netlink.Bridge); !ok {
		return fmt.Errorf("device %s exists and is not a bridge (%s)", cfg.Name, link.Type())
	}
	if cfg.MTU > 0 && link.Attrs().MTU != cfg.MTU {
		if err := netlink.LinkSetMTU(link, cfg.MTU); err != nil {
			return fmt.Errorf("set MTU of %s: %w", cfg.Name, err)
		}
	}
	if cfg.NoIPv6 {
		if err := writeSysctl(filepath.Join("/proc/sys/net/ipv6/conf", cfg.Name, "disable_ipv6"), "1"); err != nil {
			return fmt.Errorf("disable IPv6 on %s: %w", cfg.Name, err)
		}
	} else if len(cfg.Addrs) > 0 {
		// IPv6 on the bridge needs the per-device sysctl on; it is off on
		// hosts that disable IPv6 by default.
		for _, p := range cfg.Addrs {
			if p.Addr().Is6() {
				_ = writeSysctl(filepath.Join("/proc/sys/net/ipv6/conf", cfg.Name, "disable_ipv6"), "0")
				break
			}
		}
	}
	// A bridge just made has no address; one in the snapshot has the
	// snapshot's.
	var existing []netlink.Addr
	switch {
	case created:
	case s != nil:
		existing = s.addrs[link.Attrs().Index]
	default:
		if existing, err = retryDump(func() ([]netlink.Addr, error) { return netlink.AddrList(link, netlink.FAMILY_ALL) }); err != nil {
			return err
		}
	}
	for _, p := range cfg.Addrs {
		want := toIPNet(p)
		found := false
		for _, e := range existing {
			// An IPv6 address already there counts whatever its prefix
			// length, as with dockerd: the length is informational, and
			// changing it would mean deleting the address and adding it
			// again under the containers' feet.
			if e.IPNet.IP.Equal(want.IP) && (p.Addr().Is6() || e.IPNet.Mask.String() == want.Mask.String()) {
				found = true
				break
			}
		}
		if found {
			continue
		}
		addr := &netlink.Addr{IPNet: want}
		if p.Addr().Is6() {
			addr.Flags = unix.IFA_F_NODAD
		}
		if err := netlink.AddrAdd(link, addr); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("add %s to %s: %w", p, cfg.Name, err)
		}
	}
	if !created && link.Attrs().Flags&net.FlagUp != 0 {
		return nil
	}
	return netlink.LinkSetUp(link)
}

// DelAddrs removes addresses from a device; absent ones (or an absent
// device) are not an error.
func DelAddrs(name string, addrs []netip.Prefix) error {
	if len(addrs) == 0 {
		return nil
	}
	link, err := netlink.LinkByName(name)
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return err
	}
	// The kernel deletes an IPv6 address only under its own prefix
	// length, which Ensure may have kept from an earlier configuration.
	have, _ := netlink.AddrList(link, netlink.FAMILY_V6)
	for _, p := range addrs {
		want := toIPNet(p)
		if p.Addr().Is6() {
			for _, a := range have {
				if a.IPNet.IP.Equal(want.IP) {
					want = a.IPNet
				}
			}
		}
		if err := netlink.AddrDel(link, &netlink.Addr{IPNet: want}); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("remove %s from %s: %w", p, name, err)
		}
	}
	return nil
}

// Delete removes the bridge. A missing bridge is not an error.
func Delete(name string) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return err
	}
	if err := netlink.LinkDel(link); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete bridge %s: %w", name, err)
	}
	return nil
}

// Exists reports whether a device of that name is present.
func Exists(name string) bool {
	_, err := netlink.LinkByName(name)
	return err == nil
}

// SetRouteLocalnet lets the kernel route packets with a 127.0.0.0/8 source
// or destination out of this bridge, which is what makes a port published
// on 127.0.0.1 reachable through DNAT when the userland proxy is off. It
// is set on berth's own bridge only, never host-wide.
func SetRouteLocalnet(name string, on bool) error {
	v := "0"
	if on {
		v = "1"
	}
	return writeSysctl(filepath.Join("/proc/sys/net/ipv4/conf", name, "route_localnet"), v)
}

func writeSysctl(path, v string) error {
	return os.WriteFile(path, []byte(v), 0o644)
}

// HostConflict reports whether p overlaps an address or a non-default route
// already present in the host's network namespace, so IPAM can skip it.
func HostConflict(p netip.Prefix) bool {
	fam := netlink.FAMILY_V4
	if p.Addr().Is6() {
		fam = netlink.FAMILY_V6
	}
	routes, err := retryDump(func() ([]netlink.Route, error) { return netlink.RouteList(nil, fam) })
	if err == nil {
		for _, r := range routes {
			// A default route covers everything and counts for nothing.
			if rp, ok := routePrefix(r); ok && rp.Overlaps(p) {
				return true
			}
		}
	}
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return netlink.AddrList(nil, fam) })
	if err == nil {
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP); ok && p.Contains(ip.Unmap()) {
				return true
			}
		}
	}
	return false
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	ip, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(ip.Unmap(), ones).Masked(), true
}

// DefaultRouteDevs6 names the devices the host's IPv6 default routes
// leave through.
func DefaultRouteDevs6() []string {
	routes, err := retryDump(func() ([]netlink.Route, error) { return netlink.RouteList(nil, netlink.FAMILY_V6) })
	if err != nil {
		return nil
	}
	var out []string
	for _, r := range routes {
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones != 0 {
				continue
			}
		}
		if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil && !slices.Contains(out, l.Attrs().Name) {
			out = append(out, l.Attrs().Name)
		}
	}
	return out
}

// IPv4Addrs lists the IPv4 addresses (with prefix length) on a device; none
// when it does not exist.
func IPv4Addrs(name string) []netip.Prefix {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return nil
	}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok {
			ones, _ := a.Mask.Size()
			out = append(out, netip.PrefixFrom(ip, ones))
		}
	}
	return out
}

// retryDump repeats a netlink dump that the kernel interrupted because the
// table changed under it (netlink.ErrDumpInterrupted, with partial
// results): on a host that creates hundreds of bridges, or where other
// software changes routes, that is routine and not an error.
func retryDump[T any](dump func() ([]T, error)) ([]T, error) {
	var out []T
	var err error
	for i := 0; i < 10; i++ {
		out, err = dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return out, err
		}
	}
	return out, err
}
