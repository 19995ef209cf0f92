package netif

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Config is how an interface is set up inside the namespace.
type Config struct {
	// Name is the interface's name inside the namespace.
	Name string
	// Addrs are the container's addresses with the subnet prefix length.
	Addrs []netip.Prefix
	// Gateway4 and Gateway6 become default routes when valid.
	Gateway4, Gateway6 netip.Addr
	// DeviceRoute4 and DeviceRoute6 make the default route point at the
	// device itself, with no next hop: ipvlan l3 routes everything
	// through the parent and answers no ARP.
	DeviceRoute4, DeviceRoute6 bool
}

// OpenNetns returns a handle on the namespace named by path or pid.
func OpenNetns(path string, pid int) (netns.NsHandle, error) {
	switch {
	case path != "":
		return netns.GetFromPath(path)
	case pid > 0:
		return netns.GetFromPid(pid)
	}
	return netns.None(), errors.New("no network namespace given (path or pid)")
}

// Netns is a container's network namespace, opened to create an
// interface in it and configure it there.
type Netns struct {
	ns netns.NsHandle
	h  *netlink.Handle
}

// OpenContainer opens the namespace a device is to be created in, and
// refuses the host's own: naming a device eth0 there would collide with,
// or worse, shadow the host's own interfaces. The netlink handle into the
// namespace is opened here, before the caller creates anything, so that a
// failure to open it leaves nothing behind.
func OpenContainer(path string, pid int) (*Netns, error) {
	ns, err := OpenNetns(path, pid)
	if err != nil {
		return nil, fmt.Errorf("open network namespace: %w", err)
	}
	if self, err := netns.Get(); err == nil {
		same := ns.Equal(self)
		self.Close()
		if same {
			ns.Close()
			return nil, errors.New("refusing to attach: the target is the host's network namespace")
		}
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, err
	}
	return &Netns{ns: ns, h: h}, nil
}

// Delete removes the device named name inside the namespace; one that is
// gone is no error.
func (n *Netns) Delete(name string) error {
	link, err := n.existing(name)
	if link == nil {
		return err
	}
	return n.h.LinkDel(link)
}

// existing finds the device named name inside the namespace: nil, and no
// error, when there is none.
func (n *Netns) existing(name string) (netlink.Link, error) {
	link, err := n.h.LinkByName(name)
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return nil, nil
	}
	return link, err
}

// Fd names the namespace to netlink, for a device to be created in it
// (LinkAttrs.Namespace, Veth.PeerNamespace).
func (n *Netns) Fd() netlink.NsFd { return netlink.NsFd(int(n.ns)) }

// Close releases the namespace; the interfaces in it stay.
func (n *Netns) Close() {
	n.h.Close()
	n.ns.Close()
}

// Configure sets up the interface c.Name, which the caller has just
// created inside the namespace (directly there, under its final name:
// moving a device between namespaces afterwards costs the kernel an RCU
// grace period, milliseconds on every start, and a temporary name in the
// host namespace could clash). If it fails, it deletes the device so that
// nothing is left behind; for a veth that deletes the pair.
func (n *Netns) Configure(c Config) (err error) {
	h := n.h
	defer func() {
		if err != nil {
			if dev, e := h.LinkByName(c.Name); e == nil {
				h.LinkDel(dev)
			}
		}
	}()
	link, err := h.LinkByName(c.Name)
	if err != nil {
		return err
	}
	for _, p := range c.Addrs {
		a := p.Addr().Unmap()
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(p.Bits(), a.BitLen())}}
		if a.Is6() {
			// Duplicate address detection would hold the address
			// "tentative" for a second or more; IPAM already guarantees
			// uniqueness on the network.
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
	return addDefaultRoutes(h, link.Attrs().Index, c)
}

func addDefaultRoutes(h *netlink.Handle, index int, c Config) error {
	for _, gw := range []netip.Addr{c.Gateway4, c.Gateway6} {
		if !gw.IsValid() {
			continue
		}
		r := &netlink.Route{LinkIndex: index, Gw: gw.AsSlice(), Family: netlink.FAMILY_V4}
		if gw.Is6() {
			r.Family = netlink.FAMILY_V6
		}
		if err := h.RouteAdd(r); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("default route via %s: %w", gw, err)
		}
	}
	for _, d := range []struct {
		on     bool
		family int
		dst    net.IP
		bits   int
	}{{c.DeviceRoute4, netlink.FAMILY_V4, net.IPv4zero, 32}, {c.DeviceRoute6, netlink.FAMILY_V6, net.IPv6zero, 128}} {
		if !d.on {
			continue
		}
		r := &netlink.Route{LinkIndex: index, Scope: netlink.SCOPE_LINK, Family: d.family,
			Dst: &net.IPNet{IP: d.dst, Mask: net.CIDRMask(0, d.bits)}}
		if err := h.RouteAdd(r); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("default route on %s: %w", c.Name, err)
		}
	}
	return nil
}

// SetIPv6 turns IPv6 on or off on the interface to match its addresses,
// as dockerd does: on for an endpoint with an IPv6 address (a namespace
// can start with it off where the host's default is off), and off for one
// without, so that it does not even get a link-local address. It must run
// before Configure, which could not add an IPv6 address to a device where
// IPv6 is off. A kernel without IPv6 is no error; failing to turn it off
// is, with dockerd's message, since the container would then have IPv6
// its configuration says it has not.
func (n *Netns) SetIPv6(c Config) error {
	has6 := false
	for _, p := range c.Addrs {
		has6 = has6 || p.Addr().Is6()
	}
	err := n.Do(func() error { return setIPv6In(c.Name, has6) })
	if err != nil && has6 {
		return fmt.Errorf("enable IPv6 on %s: %w", c.Name, err)
	}
	if err != nil {
		return fmt.Errorf("failed to disable IPv6 on container's interface %s: %w", c.Name, err)
	}
	return nil
}

// Do runs fn on an OS thread inside the namespace: sysctls under
// /proc/sys/net, and sockets made there, belong to the namespace of the
// thread that opens them.
func (n *Netns) Do(fn func() error) error { return inNetns(n.ns, fn) }

func inNetns(ns netns.NsHandle, fn func() error) error {
	// A goroutine of its own: if the thread cannot return to the host's
	// namespace it stays locked and ends with the goroutine, instead of
	// running the caller's code in the container's namespace.
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		origin, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer origin.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		err = fn()
		if serr := netns.Set(origin); serr != nil {
			errc <- serr
			return
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	return <-errc
}

// roDisableIPv6 is dockerd's test hook (DOCKER_TEST_RO_DISABLE_IPV6),
// which moby's suite sets to stand for a read-only /proc/sys: turning
// IPv6 off on an interface then fails.
var roDisableIPv6 = os.Getenv("DOCKER_TEST_RO_DISABLE_IPV6") != ""

func setIPv6In(ifName string, on bool) error {
	v := "1"
	if on {
		v = "0"
	}
	path := filepath.Join("/proc/sys/net/ipv6/conf", ifName, "disable_ipv6")
	cur, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		// No IPv6 in this kernel: nothing to turn off, and turning it on
		// fails later, where the address is added.
		return nil
	}
	if err == nil && strings.TrimSpace(string(cur)) == v {
		err = nil
	} else if err = writeSysctl(path, v); err == nil && !on && roDisableIPv6 {
		err = errors.New("read-only /proc/sys (DOCKER_TEST_RO_DISABLE_IPV6)")
	}
	if on && err == nil {
		// ::1 on lo, for the container's own IPv6 services.
		err = writeSysctl("/proc/sys/net/ipv6/conf/lo/disable_ipv6", "0")
	}
	return err
}

func writeSysctl(path, v string) error {
	return os.WriteFile(path, []byte(v), 0o644)
}
