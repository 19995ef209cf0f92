package bridge

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Veth describes one container's link into a bridge.
type Veth struct {
	// HostName is the host end's name (dockerd uses "veth" + 7 hex).
	HostName string
	// Bridge is the bridge the host end joins.
	Bridge string
	// NetnsPath or Pid names the container's network namespace.
	NetnsPath string
	Pid       int
	// IfName is the name inside the namespace; "eth0" when empty.
	IfName string
	// Addrs are the container's addresses with the subnet prefix length.
	Addrs []netip.Prefix
	// Gateway4 and Gateway6 become default routes when valid.
	Gateway4, Gateway6 netip.Addr
	MTU                int
	MAC                net.HardwareAddr
	// Hairpin lets traffic leave and re-enter the same bridge port, which
	// a container needs to reach its own published port through the
	// host's address when the userland proxy is off.
	Hairpin bool
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

// Attach creates the veth pair, puts the inner end into the namespace as
// IfName with the addresses, MAC, MTU and routes, and plugs the host end
// into the bridge. On error nothing is left behind.
func Attach(v Veth) (err error) {
	if v.IfName == "" {
		v.IfName = "eth0"
	}
	br, err := netlink.LinkByName(v.Bridge)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", v.Bridge, err)
	}
	ns, err := OpenNetns(v.NetnsPath, v.Pid)
	if err != nil {
		return fmt.Errorf("open network namespace: %w", err)
	}
	defer ns.Close()
	if self, err := netns.Get(); err == nil {
		same := ns.Equal(self)
		self.Close()
		if same {
			// Renaming the inner end to eth0 here would collide with, or
			// worse, shadow the host's own interfaces.
			return errors.New("refusing to attach: the target is the host's network namespace")
		}
	}

	// The peer is created directly inside the container's namespace, under
	// its final name: moving a device between namespaces afterwards costs
	// the kernel an RCU grace period (milliseconds on every start), and no
	// name in the host namespace can clash with it there.
	la := netlink.NewLinkAttrs()
	la.Name = v.HostName
	la.MasterIndex = br.Attrs().Index
	if v.MTU > 0 {
		la.MTU = v.MTU
	}
	veth := &netlink.Veth{LinkAttrs: la, PeerName: v.IfName, PeerNamespace: netlink.NsFd(int(ns))}
	if v.MTU > 0 {
		veth.PeerMTU = uint32(v.MTU)
	}
	if len(v.MAC) == 6 {
		veth.PeerHardwareAddr = v.MAC
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth %s: %w", v.HostName, err)
	}
	defer func() {
		if err != nil {
			// Deleting either end deletes the pair, wherever the peer is.
			if l, e := netlink.LinkByName(v.HostName); e == nil {
				netlink.LinkDel(l)
			}
		}
	}()
	if err := configureInside(ns, v); err != nil {
		return err
	}
	host, err := netlink.LinkByName(v.HostName)
	if err != nil {
		return err
	}
	if v.Hairpin {
		if err := netlink.LinkSetHairpin(host, true); err != nil {
			return fmt.Errorf("hairpin on %s: %w", v.HostName, err)
		}
	}
	return netlink.LinkSetUp(host)
}

func configureInside(ns netns.NsHandle, v Veth) error {
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	link, err := h.LinkByName(v.IfName)
	if err != nil {
		return err
	}
	has6 := false
	for _, p := range v.Addrs {
		has6 = has6 || p.Addr().Is6()
	}
	if err := setIPv6(ns, v.IfName, has6); err != nil && has6 {
		return fmt.Errorf("enable IPv6 on %s: %w", v.IfName, err)
	}
	for _, p := range v.Addrs {
		addr := &netlink.Addr{IPNet: toIPNet(p)}
		if p.Addr().Is6() {
			// Duplicate address detection would hold the address
			// "tentative" for a second or more; IPAM already guarantees
			// uniqueness on the bridge.
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
	for _, gw := range []netip.Addr{v.Gateway4, v.Gateway6} {
		if !gw.IsValid() {
			continue
		}
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: gw.AsSlice()}
		if gw.Is6() {
			r.Family = netlink.FAMILY_V6
		}
		if err := h.RouteAdd(r); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("default route via %s: %w", gw, err)
		}
	}
	return nil
}

// setIPv6 turns IPv6 on or off on a device in the namespace, as dockerd
// does: on for an endpoint with an IPv6 address (a namespace can start
// with it off where the host's default is off), and off for one without,
// so that it does not even get a link-local address. Sysctls under
// /proc/sys/net belong to the namespace of the thread that opens them.
func setIPv6(ns netns.NsHandle, ifName string, on bool) error {
	v := "1"
	if on {
		v = "0"
	}
	// A goroutine of its own: if the thread cannot return to the host's
	// namespace it stays locked and ends with the goroutine, instead of
	// running the caller's code in the container's namespace.
	errc := make(chan error, 1)
	go func() { errc <- setIPv6In(ns, ifName, v, on) }()
	return <-errc
}

func setIPv6In(ns netns.NsHandle, ifName, v string, on bool) error {
	runtime.LockOSThread()
	origin, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer origin.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	err = writeSysctl(filepath.Join("/proc/sys/net/ipv6/conf", ifName, "disable_ipv6"), v)
	if on && err == nil {
		// ::1 on lo, for the container's own IPv6 services.
		err = writeSysctl("/proc/sys/net/ipv6/conf/lo/disable_ipv6", "0")
	}
	if serr := netns.Set(origin); serr != nil {
		return serr
	}
	runtime.UnlockOSThread()
	return err
}

// Detach deletes the veth pair by its host end. A missing device is not an
// error: the kernel already removed the pair when the namespace died.
func Detach(hostName string) error {
	l, err := netlink.LinkByName(hostName)
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return err
	}
	if err := netlink.LinkDel(l); err != nil && !isNotFound(err) {
		return err
	}
	return nil
}

// SetUpLoopback brings lo up in a namespace, which is all `--network none`
// gets.
func SetUpLoopback(netnsPath string, pid int) error {
	ns, err := OpenNetns(netnsPath, pid)
	if err != nil {
		return err
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return err
	}
	return h.LinkSetUp(lo)
}

// BridgePorts lists the host ends plugged into a bridge, to find veths a
// crashed daemon left behind.
func BridgePorts(bridge string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join("/sys/class/net", bridge, "brif"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out, nil
}
