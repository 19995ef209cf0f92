package bridge

import (
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// HostView answers HostConflict from the host's routes (main table) and
// addresses as netlink notifications report them, instead of dumping
// every route and address at each check: with hundreds of bridges on the
// host, each holding a route and an address, the dumps made every network
// create cost more than the one before.
//
// Additions are applied as they come. A deletion, an error on the
// notification sockets or the start mark the view stale, and the next
// check dumps again: a deleted prefix may still be routed another way
// (two routes to one destination), and only a dump says so. A create after
// a remove therefore pays one dump; a run of creates pays none. If the
// notifications stop altogether, every check dumps, as HostConflict does.
type HostView struct {
	mu     sync.Mutex
	stale  bool
	failed bool
	routes map[netip.Prefix]bool
	addrs  map[netip.Addr]bool
	done   chan struct{}
	once   sync.Once
}

// WatchHost starts following the host's routes and addresses. Close
// stops it.
func WatchHost() (*HostView, error) {
	v := &HostView{stale: true, done: make(chan struct{})}
	routes := make(chan netlink.RouteUpdate, 256)
	addrs := make(chan netlink.AddrUpdate, 256)
	onErr := func(error) { v.markStale() }
	if err := netlink.RouteSubscribeWithOptions(routes, v.done, netlink.RouteSubscribeOptions{ErrorCallback: onErr}); err != nil {
		return nil, err
	}
	if err := netlink.AddrSubscribeWithOptions(addrs, v.done, netlink.AddrSubscribeOptions{ErrorCallback: onErr}); err != nil {
		close(v.done)
		return nil, err
	}
	go v.follow(routes, addrs)
	return v, nil
}

func (v *HostView) markStale() {
	v.mu.Lock()
	v.stale = true
	v.mu.Unlock()
}

func (v *HostView) follow(routes <-chan netlink.RouteUpdate, addrs <-chan netlink.AddrUpdate) {
	defer func() {
		v.mu.Lock()
		v.failed = true
		v.mu.Unlock()
	}()
	for routes != nil || addrs != nil {
		select {
		case u, ok := <-routes:
			if !ok {
				return
			}
			v.mu.Lock()
			if u.Type == unix.RTM_NEWROUTE {
				if p, ok := routePrefix(u.Route); ok && !v.stale {
					v.routes[p] = true
				}
			} else {
				v.stale = true
			}
			v.mu.Unlock()
		case u, ok := <-addrs:
			if !ok {
				return
			}
			v.mu.Lock()
			if u.NewAddr {
				if a, ok := netip.AddrFromSlice(u.LinkAddress.IP); ok && !v.stale {
					v.addrs[a.Unmap()] = true
				}
			} else {
				v.stale = true
			}
			v.mu.Unlock()
		}
	}
}

// routePrefix is a main-table route's destination, if it has one more
// specific than a default route.
func routePrefix(r netlink.Route) (netip.Prefix, bool) {
	if r.Table != 0 && r.Table != unix.RT_TABLE_MAIN || r.Dst == nil {
		return netip.Prefix{}, false
	}
	p, ok := prefixOf(r.Dst)
	return p, ok && p.Bits() > 0
}

// Conflict is HostConflict, from the view.
func (v *HostView) Conflict(p netip.Prefix) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.failed {
		return HostConflict(p)
	}
	if v.stale {
		if err := v.reload(); err != nil {
			return HostConflict(p)
		}
	}
	for r := range v.routes {
		if r.Overlaps(p) {
			return true
		}
	}
	for a := range v.addrs {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// reload dumps the routes and addresses of both families. Callers hold
// v.mu, so notifications wait and are applied on top of the dump.
func (v *HostView) reload() error {
	routes, err := retryDump(func() ([]netlink.Route, error) { return netlink.RouteList(nil, netlink.FAMILY_ALL) })
	if err != nil {
		return err
	}
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return netlink.AddrList(nil, netlink.FAMILY_ALL) })
	if err != nil {
		return err
	}
	v.routes, v.addrs = map[netip.Prefix]bool{}, map[netip.Addr]bool{}
	for _, r := range routes {
		if p, ok := routePrefix(r); ok {
			v.routes[p] = true
		}
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			v.addrs[ip.Unmap()] = true
		}
	}
	v.stale = false
	return nil
}

// Close stops following the host.
func (v *HostView) Close() { v.once.Do(func() { close(v.done) }) }
