package network

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/network/ipam"
	"github.com/berthd/berth/network/netif"
	"github.com/berthd/berth/network/vlan"
	"github.com/berthd/berth/pkg/errdefs"
)

// Drivers whose containers get a device on a parent interface instead of
// a veth into a bridge.
const (
	DriverMacvlan = vlan.Macvlan
	DriverIPvlan  = vlan.IPvlan
)

// macvlan and ipvlan driver options, as dockerd spells them.
const (
	OptParent      = "parent"
	OptMacvlanMode = "macvlan_mode"
	OptIPvlanMode  = "ipvlan_mode"
	OptIPvlanFlag  = "ipvlan_flag"
)

// HasEndpoints reports whether containers join a network of this driver
// through an endpoint of their own (bridge, macvlan, ipvlan) rather than by
// a network mode (host, none).
func HasEndpoints(driver string) bool {
	return driver == DriverBridge || isVlanDriver(driver) || isRemoteDriver(driver)
}

func isVlanDriver(driver string) bool { return driver == DriverMacvlan || driver == DriverIPvlan }

// The parent links' kernel side, replaceable by tests of the bookkeeping
// on kernels without dummy or 802.1q support.
var (
	checkParent  = vlan.CheckParent
	ensureParent = vlan.EnsureParent
	deleteParent = vlan.DeleteParent
	parentExists = vlan.Exists
)

// vlanConfig is a macvlan or ipvlan network's validated driver options.
type vlanConfig struct {
	driver     string
	parent     string // empty: a dummy parent named after the network
	mode, flag string
}

// parseVlanOptions checks the driver options the way dockerd's macvlan
// and ipvlan drivers do, with their messages. Unknown options are kept and
// ignored, as there.
func parseVlanOptions(driver string, opts map[string]string) (*vlanConfig, error) {
	c := &vlanConfig{driver: driver, parent: opts[OptParent]}
	switch driver {
	case DriverMacvlan:
		c.mode = opts[OptMacvlanMode]
		if _, ok := vlan.MacvlanMode(c.mode); !ok {
			return nil, errdefs.InvalidParameterf("requested macvlan mode '%s' is not valid, 'bridge' mode is the macvlan driver default", c.mode)
		}
		if c.mode == "" {
			c.mode = "bridge"
		}
	case DriverIPvlan:
		c.mode, c.flag = opts[OptIPvlanMode], opts[OptIPvlanFlag]
		if _, ok := vlan.IPvlanMode(c.mode); !ok {
			return nil, errdefs.InvalidParameterf("requested ipvlan mode '%s' is not valid, 'l2' mode is the ipvlan driver default", c.mode)
		}
		if _, ok := vlan.IPvlanFlag(c.flag); !ok {
			return nil, errdefs.InvalidParameterf("requested ipvlan flag '%s' is not valid, 'bridge' is the ipvlan driver default", c.flag)
		}
		if c.mode == "" {
			c.mode = "l2"
		}
		if c.flag == "" {
			c.flag = "bridge"
		}
	}
	if c.parent == "lo" {
		return nil, errdefs.InvalidParameterf("loopback interface is not a valid %s parent link", driver)
	}
	return c, nil
}

// deviceRouted reports whether the driver routes everything through the
// device (ipvlan l3 and l3s): no gateway address, a default route on the
// device.
func (c *vlanConfig) deviceRouted() bool {
	return c.driver == DriverIPvlan && (c.mode == "l3" || c.mode == "l3s")
}

// noGateway reports whether IPAM reserves no gateway for the network, as
// dockerd's drivers ask: internal networks (a missing parent makes one)
// and device-routed ipvlan have no use for one.
func (c *vlanConfig) noGateway(internal bool) bool {
	return internal || c.parent == "" || c.deviceRouted()
}

// dummyParent is the parent dockerd makes when none is given: "dm-" or
// "di-" and the first 12 characters of the network ID.
func dummyParent(driver, id string) string {
	p := "dm-"
	if driver == DriverIPvlan {
		p = "di-"
	}
	return p + id[:12]
}

func (r *Record) vlanConfig() *vlanConfig {
	c, err := parseVlanOptions(r.Driver, r.Options)
	if err != nil {
		// Create checked the options; a record edited by hand gets the
		// driver's defaults.
		c, _ = parseVlanOptions(r.Driver, nil)
		c.parent = r.Options[OptParent]
	}
	return c
}

// isolated reports whether a network's containers get no way out: an
// internal network, or a macvlan or ipvlan network without a parent, which
// dockerd's drivers treat as internal without marking the network so.
func (r *Record) isolated() bool {
	return r.Internal || isVlanDriver(r.Driver) && r.Options[OptParent] == ""
}

// checkParentLocked refuses a parent that another network cannot share
// with this one, or that does not exist and cannot be made, before
// anything is allocated.
func (m *Manager) checkParentLocked(c *vlanConfig, parent string) error {
	for _, o := range m.nets {
		if o.Driver != c.driver || o.Parent != parent {
			continue
		}
		switch {
		case c.driver == DriverIPvlan:
			return errdefs.Conflictf("network %s is already using parent interface %s", dummyParent(DriverIPvlan, o.ID), parent)
		case c.mode == "passthru":
			return errdefs.Conflictf("cannot use mode passthru, macvlan network %s is already using parent interface %s", o.ID, parent)
		case o.vlanConfig().mode == "passthru":
			return errdefs.Conflictf("macvlan network %s is already using parent interface %s in mode passthru", o.ID, parent)
		}
	}
	if err := checkParent(parent, c.parent == ""); err != nil {
		return errdefs.InvalidParameter(err)
	}
	return nil
}

// ipamRequestsFor adds to a vlan network's IPAM requests what keeps IPAM
// from reserving a gateway where the driver wants none.
func ipamRequestsFor(c *vlanConfig, internal bool, reqs []ipam.Request) []ipam.Request {
	if c == nil || !c.noGateway(internal) {
		return reqs
	}
	for i := range reqs {
		reqs[i].NoGateway = true
	}
	return append(reqs, ipam.Request{NoGateway: true})
}

// setupParentLocked makes the network's parent exist and records whether
// berth made it (or shares one another network of berth's made), which is
// what lets the last network on it delete it again.
func (m *Manager) setupParentLocked(r *Record) error {
	created, err := ensureParent(r.Parent, r.Options[OptParent] == "")
	if err != nil {
		// checkParentLocked refused bad names: this is the kernel's
		// refusal (e.g. no 802.1q or dummy support).
		return errdefs.System(err)
	}
	r.ParentCreated = created
	for _, o := range m.nets {
		if o.ID != r.ID && o.Parent == r.Parent && o.ParentCreated {
			r.ParentCreated = true
		}
	}
	return nil
}

// releaseParentLocked deletes the parent of a network being removed if
// berth made it and no other network uses it.
func (m *Manager) releaseParentLocked(r *Record) {
	if !r.ParentCreated {
		return
	}
	for _, o := range m.nets {
		if o.ID != r.ID && o.Parent == r.Parent {
			return
		}
	}
	if err := deleteParent(r.Parent, r.Options[OptParent] == ""); err != nil {
		logrus.WithError(err).WithField("link", r.Parent).Warn("parent link was not deleted")
	}
}

// restoreParentLocked puts back at start a parent berth made that is gone
// (the host rebooted), as dockerd does when it restores the network.
func (m *Manager) restoreParentLocked(r *Record) error {
	if parentExists(r.Parent) {
		return nil
	}
	if !r.ParentCreated {
		return fmt.Errorf("the requested parent interface %s was not found on the host", r.Parent)
	}
	_, err := ensureParent(r.Parent, r.Options[OptParent] == "")
	return err
}

// joinVlanLocked finishes Join for a macvlan or ipvlan network: ep has its
// addresses; release gives them back on failure.
func (m *Manager) joinVlanLocked(r *Record, ep *Endpoint, o JoinOptions, release func()) (*Endpoint, error) {
	c := r.vlanConfig()
	if c.driver == DriverIPvlan && len(o.MAC) > 0 {
		release()
		return nil, errdefs.InvalidParameter(errors.New("ipvlan interfaces do not support custom mac address assignment"))
	}
	if c.driver == DriverMacvlan {
		ep.MAC = o.MAC
		if len(ep.MAC) == 0 {
			ep.MAC = netif.RandomMAC()
		}
	}
	first := m.containerEndpointCountLocked(o.ContainerID) == 0
	isolated := r.isolated()
	if isolated || c.deviceRouted() {
		ep.Gateway4, ep.Gateway6 = netip.Addr{}, netip.Addr{}
	}
	ep.IfName = m.ifNameLocked(o)
	l := vlan.Link{Kind: c.driver, Parent: r.Parent, Mode: c.mode, Flag: c.flag, NetnsPath: o.NetnsPath, Pid: o.Pid,
		IfName: ep.IfName, MAC: ep.MAC}
	for _, p := range []netip.Prefix{ep.IPv4, ep.IPv6} {
		if p.IsValid() {
			l.Addrs = append(l.Addrs, p)
		}
	}
	if first {
		// Only the first network gives the default route, as on bridges.
		l.Gateway4, l.Gateway6 = ep.Gateway4, ep.Gateway6
		if c.deviceRouted() && !isolated {
			l.DeviceRoute4, l.DeviceRoute6 = ep.IPv4.IsValid(), ep.IPv6.IsValid()
		}
	}
	if err := vlan.Attach(l); err != nil {
		release()
		return nil, errdefs.System(fmt.Errorf("failed to set up container networking: %w", err))
	}
	r.Endpoints[ep.ID] = ep
	// Written by Join once the lock is released; undone by a leave if
	// that fails.
	m.touchRecordLocked(r)
	if !first {
		m.regatewayLocked(o.ContainerID)
	}
	m.advertiseLocked(r, ep)
	cp := *ep
	return &cp, nil
}

// createVlanLocked finishes Create for a macvlan or ipvlan network whose
// addresses are allocated: the parent, then the record. On error neither
// the parent berth made nor the addresses are kept.
func (m *Manager) createVlanLocked(r *Record) (*Record, error) {
	if err := m.setupParentLocked(r); err != nil {
		m.ipam.RemoveNetwork(r.ID)
		return nil, err
	}
	if err := m.persistLocked(r); err != nil {
		m.releaseParentLocked(r)
		m.ipam.RemoveNetwork(r.ID)
		return nil, err
	}
	m.nets[r.ID] = r
	return r.clone(), nil
}
