package bridge

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"

	"github.com/berthd/berth/network/netif"
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
	// Sysctls are the endpoint's interface sysctls, "net.X.Y.IFNAME.Z=V"
	// (com.docker.network.endpoint.sysctls), set before the addresses.
	Sysctls []string
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
	ns, err := netif.OpenContainer(v.NetnsPath, v.Pid)
	if err != nil {
		return err
	}
	defer ns.Close()

	// The peer is created directly inside the container's namespace, under
	// its final name (see Netns.Configure in netif for why).
	la := netlink.NewLinkAttrs()
	la.Name = v.HostName
	la.MasterIndex = br.Attrs().Index
	if v.MTU > 0 {
		la.MTU = v.MTU
	}
	veth := &netlink.Veth{LinkAttrs: la, PeerName: v.IfName, PeerNamespace: ns.Fd()}
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
	inside := netif.Config{Name: v.IfName, Addrs: v.Addrs, Gateway4: v.Gateway4, Gateway6: v.Gateway6}
	if err := ns.SetIPv6(inside); err != nil {
		return err
	}
	if err := ns.SetSysctls(v.IfName, v.Sysctls); err != nil {
		return err
	}
	if err := ns.Configure(inside); err != nil {
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
	ns, err := netif.OpenNetns(netnsPath, pid)
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
