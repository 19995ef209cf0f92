package network

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/berthd/berth/network/netif"
	"github.com/berthd/berth/pkg/errdefs"
)

// Network driver plugins (libnetwork's remote driver protocol): a network
// whose driver is not built in belongs to a plugin offering
// "NetworkDriver". berth keeps its addresses (the default IPAM, as for a
// bridge) and its endpoints' records, and asks the plugin to make the
// network and each endpoint: at Join the plugin names a link it made on
// the host, which berth moves into the container under the endpoint's
// interface name and configures with its addresses and gateway.

// RemoteDriver is a network driver plugin, as the daemon finds it.
type RemoteDriver interface {
	Name() string
	Call(ctx context.Context, method string, args, ret any) error
}

// remoteTimeout bounds each call to a plugin.
const remoteTimeout = 30 * time.Second

// builtinDrivers are the drivers berth implements itself.
var builtinDrivers = map[string]bool{DriverBridge: true, DriverMacvlan: true, DriverIPvlan: true, DriverHost: true, DriverNull: true, "": true}

// isRemoteDriver reports whether networks of driver belong to a plugin.
func isRemoteDriver(driver string) bool { return !builtinDrivers[driver] && driver != "overlay" }

// remoteDriver finds the plugin for a network's driver.
func (m *Manager) remoteDriver(ctx context.Context, driver string) (RemoteDriver, error) {
	if m.cfg.RemoteDriver == nil {
		return nil, errdefs.NotFoundf("could not find plugin %s in v1 plugin registry: plugin not found", driver)
	}
	d, err := m.cfg.RemoteDriver(ctx, driver)
	if errdefs.Is(err, errdefs.NotFound) {
		return nil, errdefs.NotFoundf("could not find plugin %s in v1 plugin registry: plugin not found", driver)
	}
	if err != nil {
		return nil, errdefs.NotFoundf("could not find plugin %s in v1 plugin registry: %v", driver, err)
	}
	return d, nil
}

// remoteCall calls a plugin method whose answer is only its Err, which
// comes back as an error.
func remoteCall(d RemoteDriver, method string, args, ret any) error {
	ctx, cancel := context.WithTimeout(context.Background(), remoteTimeout)
	defer cancel()
	var res struct{ Err string }
	if ret == nil {
		ret = &res
	}
	if err := d.Call(ctx, method, args, ret); err != nil {
		return err
	}
	if res.Err != "" {
		return fmt.Errorf("%s", res.Err)
	}
	return nil
}

// ipamData is a subnet as the protocol describes it.
type ipamData struct {
	AddressSpace string
	Pool         string
	Gateway      string            `json:",omitempty"`
	AuxAddresses map[string]string `json:",omitempty"`
}

// createRemoteLocked asks the plugin to make the network whose addresses
// are allocated; on error the addresses go back.
func (m *Manager) createRemoteLocked(ctx context.Context, r *Record) (*Record, error) {
	d, err := m.remoteDriver(ctx, r.Driver)
	if err != nil {
		m.ipam.RemoveNetwork(r.ID)
		return nil, err
	}
	generic := map[string]any{}
	for k, v := range r.Options {
		generic[k] = v
	}
	req := struct {
		NetworkID string
		Options   map[string]any
		IPv4Data  []ipamData
		IPv6Data  []ipamData
	}{NetworkID: r.ID, Options: map[string]any{
		"com.docker.network.generic":     generic,
		"com.docker.network.enable_ipv4": r.EnableIPv4,
		"com.docker.network.enable_ipv6": r.EnableIPv6,
		"com.docker.network.internal":    r.Internal,
	}}
	for _, s := range m.ipam.Subnets(r.ID) {
		data := ipamData{AddressSpace: "LocalDefault", Pool: s.Prefix.String()}
		if s.Gateway.IsValid() {
			data.Gateway = netip.PrefixFrom(s.Gateway, s.Prefix.Bits()).String()
		}
		if s.Is6() {
			req.IPv6Data = append(req.IPv6Data, data)
		} else {
			req.IPv4Data = append(req.IPv4Data, data)
		}
	}
	if err := remoteCall(d, "NetworkDriver.CreateNetwork", req, nil); err != nil {
		m.ipam.RemoveNetwork(r.ID)
		return nil, errdefs.System(fmt.Errorf("failed to create network %s: %w", r.Name, err))
	}
	if err := m.persistLocked(r); err != nil {
		remoteCall(d, "NetworkDriver.DeleteNetwork", struct{ NetworkID string }{r.ID}, nil)
		m.ipam.RemoveNetwork(r.ID)
		return nil, err
	}
	m.nets[r.ID] = r
	return r.clone(), nil
}

// deleteRemoteLocked asks the plugin to delete the network.
func (m *Manager) deleteRemoteLocked(r *Record) error {
	d, err := m.remoteDriver(context.Background(), r.Driver)
	if err != nil {
		return errdefs.System(fmt.Errorf("error while removing network: %w", err))
	}
	if err := remoteCall(d, "NetworkDriver.DeleteNetwork", struct{ NetworkID string }{r.ID}, nil); err != nil {
		return errdefs.System(fmt.Errorf("error while removing network: %w", err))
	}
	return nil
}

// remoteInterface is an endpoint's interface in the protocol.
type remoteInterface struct {
	Address     string `json:",omitempty"`
	AddressIPv6 string `json:",omitempty"`
	MacAddress  string `json:",omitempty"`
}

// joinRemoteLocked finishes Join for a plugin's network: the plugin makes
// the endpoint and names its link, which goes into the container. ep has
// its addresses; release gives them back on failure.
func (m *Manager) joinRemoteLocked(r *Record, ep *Endpoint, o JoinOptions, release func()) (*Endpoint, error) {
	d, err := m.remoteDriver(context.Background(), r.Driver)
	if err != nil {
		release()
		return nil, err
	}
	ep.MAC = o.MAC
	iface := remoteInterface{}
	if ep.IPv4.IsValid() {
		iface.Address = ep.IPv4.String()
	}
	if ep.IPv6.IsValid() {
		iface.AddressIPv6 = ep.IPv6.String()
	}
	if len(ep.MAC) > 0 {
		iface.MacAddress = ep.MAC.String()
	}
	var created struct {
		Interface *remoteInterface
		Err       string
	}
	if err := remoteCall(d, "NetworkDriver.CreateEndpoint", struct {
		NetworkID, EndpointID string
		Interface             remoteInterface
		Options               map[string]any
	}{r.ID, ep.ID, iface, map[string]any{}}, &created); err == nil && created.Err != "" {
		err = fmt.Errorf("%s", created.Err)
	} else if err != nil {
		release()
		return nil, errdefs.System(fmt.Errorf("failed to create endpoint %s on network %s: %w", o.Name, r.Name, err))
	}
	if created.Interface != nil && created.Interface.MacAddress != "" && len(ep.MAC) == 0 {
		// The plugin may choose the MAC when berth did not.
		if mac, err := net.ParseMAC(created.Interface.MacAddress); err == nil {
			ep.MAC = mac
		}
	}
	deleteEndpoint := func() {
		remoteCall(d, "NetworkDriver.DeleteEndpoint", struct{ NetworkID, EndpointID string }{r.ID, ep.ID}, nil)
	}
	var joined struct {
		InterfaceName *struct{ SrcName, DstPrefix string }
		Gateway       string
		GatewayIPv6   string
		Err           string
	}
	err = remoteCall(d, "NetworkDriver.Join", struct {
		NetworkID, EndpointID, SandboxKey string
		Options                           map[string]any
	}{r.ID, ep.ID, o.NetnsPath, map[string]any{}}, &joined)
	if err == nil && joined.Err != "" {
		err = fmt.Errorf("%s", joined.Err)
	}
	if err == nil && (joined.InterfaceName == nil || joined.InterfaceName.SrcName == "") {
		err = fmt.Errorf("the driver named no interface to join")
	}
	if err != nil {
		deleteEndpoint()
		release()
		return nil, errdefs.System(fmt.Errorf("failed to join network %s: %w", r.Name, err))
	}
	leave := func() {
		remoteCall(d, "NetworkDriver.Leave", struct{ NetworkID, EndpointID string }{r.ID, ep.ID}, nil)
		deleteEndpoint()
	}
	// The driver's gateway, when it gives one, is the endpoint's.
	if gw, err := netip.ParseAddr(joined.Gateway); err == nil {
		ep.Gateway4 = gw
	}
	if gw, err := netip.ParseAddr(joined.GatewayIPv6); err == nil {
		ep.Gateway6 = gw
	}
	if r.Internal {
		ep.Gateway4, ep.Gateway6 = netip.Addr{}, netip.Addr{}
	}
	ep.IfName = m.ifNameLocked(o)
	ep.HostIface = joined.InterfaceName.SrcName
	first := m.containerEndpointCountLocked(o.ContainerID) == 0
	cfg := netif.Config{Name: ep.IfName}
	for _, p := range []netip.Prefix{ep.IPv4, ep.IPv6} {
		if p.IsValid() {
			cfg.Addrs = append(cfg.Addrs, p)
		}
	}
	if first {
		cfg.Gateway4, cfg.Gateway6 = ep.Gateway4, ep.Gateway6
	}
	if err := adoptRemoteLink(o, ep, cfg); err != nil {
		leave()
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
	cp := *ep
	return &cp, nil
}

// adoptRemoteLink moves the plugin's link into the container and sets it
// up there.
func adoptRemoteLink(o JoinOptions, ep *Endpoint, cfg netif.Config) error {
	ns, err := netif.OpenContainer(o.NetnsPath, o.Pid)
	if err != nil {
		return err
	}
	defer ns.Close()
	if err := ns.Adopt(ep.HostIface, ep.IfName, ep.MAC); err != nil {
		return err
	}
	if err := ns.SetIPv6(cfg); err != nil {
		ns.Release(ep.IfName, ep.HostIface)
		return err
	}
	if err := ns.Configure(cfg); err != nil {
		return err
	}
	return nil
}

// releaseRemoteLink gives a running container's link back to the host,
// under the name the plugin gave it, for the plugin to delete.
func releaseRemoteLink(ep *Endpoint) {
	if ep.NetnsPath == "" {
		return
	}
	ns, err := netif.OpenContainer(ep.NetnsPath, 0)
	if err != nil {
		return // the namespace is gone, and the link with it
	}
	defer ns.Close()
	ns.Release(ep.IfName, ep.HostIface)
}

// leaveRemoteLocked undoes joinRemoteLocked: the link goes back to the
// host (when the container still runs), then the plugin is told.
func (m *Manager) leaveRemoteLocked(r *Record, e *Endpoint, background bool) {
	if !background {
		releaseRemoteLink(e)
	}
	d, err := m.remoteDriver(context.Background(), r.Driver)
	if err != nil {
		return
	}
	remoteCall(d, "NetworkDriver.Leave", struct{ NetworkID, EndpointID string }{r.ID, e.ID}, nil)
	remoteCall(d, "NetworkDriver.DeleteEndpoint", struct{ NetworkID, EndpointID string }{r.ID, e.ID}, nil)
}
