package network

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/network"
	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/network/bridge"
	"github.com/berthd/berth/network/dns"
	"github.com/berthd/berth/network/firewall"
	"github.com/berthd/berth/network/ipam"
	"github.com/berthd/berth/pkg/atomicfile"
	"github.com/berthd/berth/pkg/errdefs"
)

// Config is what the manager needs from the daemon configuration.
type Config struct {
	// Root holds the network store (DATA_ROOT/network).
	Root     string
	EngineID string
	// DefaultBridge is --bridge; "none" means no default bridge network.
	DefaultBridge string
	BridgeIP      string // --bip
	FixedCIDR     string
	FixedCIDRv6   string
	// DefaultIP is --ip, the default bridge's host_binding_ipv4: where its
	// containers' ports are published when -p names no host address.
	DefaultIP     string
	EnableIPv6    bool
	MTU           int
	IPTables      bool
	IPMasq        bool
	ICC           bool
	UserlandProxy bool
	// NoIPv6NAT is --ip6tables=false: no IPv6 NAT rules (no masquerade,
	// no DNAT); IPv6 published ports are served by the userland proxy,
	// as dockerd's docker-proxy serves them then. Filtering (isolation,
	// direct access) stays, as it lives in the same table for both
	// families.
	NoIPv6NAT bool
	// IPForwardNoDrop is dockerd's --ip-forward-no-drop: when berth turns
	// forwarding on, it does not drop the host's other forwarded traffic.
	IPForwardNoDrop bool
	// IPForward turns on the kernel's IPv4 forwarding (dockerd's
	// --ip-forward, default true), without which containers on a bridge
	// reach nothing beyond it.
	IPForward bool
	// Pools are default-address-pools, IPv4 and IPv6 mixed; empty means
	// dockerd's built-in ones.
	Pools []ipam.Pool
	// Table is berth's nftables table for this daemon.
	Table string
	// RemoteDriver finds the network driver plugin named name, for
	// networks whose driver is not built in; nil refuses them.
	RemoteDriver func(ctx context.Context, name string) (RemoteDriver, error)
	// AllowDirectRouting is dockerd's --allow-direct-routing: other hosts
	// and networks may address containers of nat networks directly.
	AllowDirectRouting bool
	// AcceptFwMark is dockerd's --bridge-accept-fwmark: packets with this
	// mark ("mark" or "mark/mask") may enter any non-internal bridge.
	AcceptFwMark string
}

// Manager owns the networks of one daemon.
type Manager struct {
	cfg  Config
	ipam *ipam.Allocator
	fw   *firewall.Firewall // nil with --iptables=false

	mu   sync.RWMutex
	nets map[string]*Record
	// files are the records' files, written outside mu (recordfile.go).
	files map[string]*recordFile

	// detaching counts veth pairs being deleted in the background (see
	// Leave); Close and WaitDetached wait for them.
	detaching sync.WaitGroup

	// ip6Forward enables IPv6 forwarding once, with the first IPv6
	// network.
	ip6Forward sync.Once

	ready   chan struct{}
	initErr error
	start   sync.Once

	// pubs are the published ports per container, held in memory: the
	// container code publishes again when it restores a container.
	pubs map[string][]*publication
	// hostView follows the host's routes and addresses for IPAM's check
	// that a new subnet shadows none of the host's networks.
	hostView *bridge.HostView
	// dns are the embedded DNS servers per container.
	dns map[string]*dns.Server
	// adverts stop the unsolicited ARP/NA messages still to be sent for
	// an endpoint, by endpoint ID (see advertise.go).
	adverts map[string]chan struct{}
}

// New loads the network store. It does no netlink or netfilter work, so
// daemon start stays fast; Start does that in the background.
func New(cfg Config) (*Manager, error) {
	if cfg.Table == "" {
		cfg.Table = "berth"
	}
	if err := os.MkdirAll(filepath.Join(cfg.Root, "networks"), 0o700); err != nil {
		return nil, err
	}
	var pools4, pools6 []ipam.Pool
	for _, p := range cfg.Pools {
		if p.Base.Addr().Is6() {
			pools6 = append(pools6, p)
		} else {
			pools4 = append(pools4, p)
		}
	}
	if len(pools4) == 0 {
		pools4 = ipam.DefaultPools()
	}
	if len(pools6) == 0 {
		pools6 = []ipam.Pool{ipam.DefaultV6Pool(cfg.EngineID)}
	}
	alloc, err := ipam.Open(filepath.Join(cfg.Root, "ipam"), pools4, pools6)
	if err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg, ipam: alloc, nets: map[string]*Record{}, files: map[string]*recordFile{}, ready: make(chan struct{})}
	alloc.HostConflict = bridge.HostConflict
	if v, err := bridge.WatchHost(); err == nil {
		m.hostView = v
		alloc.HostConflict = v.Conflict
	} else {
		logrus.WithError(err).Warn("cannot follow the host's routes; each network create dumps them")
	}
	if cfg.IPTables {
		m.fw = firewall.New(cfg.Table)
		if err := m.fw.SetOptions(firewall.Options{AllowDirectRouting: cfg.AllowDirectRouting, AcceptFwMark: cfg.AcceptFwMark,
			UserlandProxy: cfg.UserlandProxy}); err != nil {
			return nil, err
		}
	}
	entries, err := os.ReadDir(filepath.Join(cfg.Root, "networks"))
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(cfg.Root, "networks", e.Name()))
		if err != nil {
			return nil, err
		}
		r := &Record{}
		if err := json.Unmarshal(b, r); err != nil {
			logrus.WithError(err).WithField("file", e.Name()).Warn("skipping unreadable network record")
			continue
		}
		if r.Endpoints == nil {
			r.Endpoints = map[string]*Endpoint{}
		}
		m.nets[r.ID] = r
	}
	m.addPredefined()
	m.releaseUnjoinedLocked()
	return m, nil
}

// releaseUnjoinedLocked frees the addresses IPAM gave to an endpoint that
// no network record holds: a Join the last daemon did not finish (killed
// between IPAM's write and the endpoint's). Nothing else would ever free
// them (found by hack/torture).
func (m *Manager) releaseUnjoinedLocked() {
	for id, r := range m.nets {
		for _, owner := range m.ipam.EndpointOwners(id) {
			if _, ok := r.Endpoints[owner]; ok {
				continue
			}
			if freed, err := m.ipam.ReleaseOwner(id, owner); err != nil {
				logrus.WithError(err).WithField("network", id).Warn("releasing the addresses of an unfinished join")
			} else if len(freed) > 0 {
				logrus.WithFields(logrus.Fields{"network": id, "addresses": freed}).Info("released the addresses of an unfinished join")
			}
		}
	}
}

// predefinedID derives a predefined network's ID from the engine ID: stable
// across restarts without writing anything at start.
func predefinedID(engineID, name string) string {
	h := sha256.Sum256([]byte("berth-network:" + engineID + ":" + name))
	return hex.EncodeToString(h[:])
}

func (m *Manager) addPredefined() {
	created := time.Now()
	if fi, err := os.Stat(m.cfg.Root); err == nil {
		created = fi.ModTime()
	}
	mk := func(name, driver string) *Record {
		id := predefinedID(m.cfg.EngineID, name)
		if r, ok := m.nets[id]; ok {
			return r
		}
		r := &Record{ID: id, Name: name, Driver: driver, Created: created, EnableIPv4: true,
			IPAMDriver: "default", Predefined: true, Endpoints: map[string]*Endpoint{}}
		m.nets[id] = r
		return r
	}
	mk(NameHost, DriverHost)
	none := mk(NameNone, DriverNull)
	none.EnableIPv4 = false
	bridgeID := predefinedID(m.cfg.EngineID, NameBridge)
	if m.cfg.DefaultBridge == "none" || m.cfg.DefaultBridge == "" {
		delete(m.nets, bridgeID)
		return
	}
	br := mk(NameBridge, DriverBridge)
	br.Bridge = m.cfg.DefaultBridge
	br.EnableIPv6 = m.cfg.EnableIPv6
	mtu := m.cfg.MTU
	if mtu == 0 {
		mtu = 1500
	}
	br.Options = map[string]string{
		OptDefaultBridge: "true",
		OptEnableICC:     strconv.FormatBool(m.cfg.ICC),
		OptEnableIPMasq:  strconv.FormatBool(m.cfg.IPMasq),
		OptHostBindingV4: m.defaultIP(),
		OptBridgeName:    m.cfg.DefaultBridge,
		OptMTU:           strconv.Itoa(mtu),
	}
	// Until Start has allocated it, the default bridge shows the subnet
	// it had last time (from IPAM's persisted state).
	br.IPAMConfig = ipamConfigFor(m.ipam.Subnets(bridgeID), nil)
}

// defaultIP is the default bridge's binding address, 0.0.0.0 unless --ip.
func (m *Manager) defaultIP() string {
	if m.cfg.DefaultIP == "" {
		return "0.0.0.0"
	}
	return m.cfg.DefaultIP
}

// Start does the slow setup in the background: clear what a crashed run
// left in netfilter, create the default bridge, make sure every bridge
// network's device and rules exist. API calls about networks wait for it;
// nothing else does.
func (m *Manager) Start() {
	m.start.Do(func() {
		go func() {
			defer close(m.ready)
			m.initErr = m.init()
			if m.initErr != nil {
				logrus.WithError(m.initErr).Error("network setup failed")
			}
		}()
	})
}

// Ready waits for Start's work (at most until ctx ends).
func (m *Manager) Ready(ctx context.Context) error {
	m.Start()
	select {
	case <-m.ready:
		return m.initErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *Manager) init() error {
	if m.fw != nil {
		// A daemon killed -9 left its table; start from nothing.
		if err := firewall.DeleteTable(m.cfg.Table); err != nil {
			return fmt.Errorf("clear nftables table %s: %w", m.cfg.Table, err)
		}
	}
	if m.cfg.IPForward {
		changed, err := enableIPForward()
		if err != nil {
			logrus.WithError(err).Warn("cannot enable IPv4 forwarding; containers may not reach other networks")
		}
		m.dropForwarded(changed, false)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	if br, ok := m.nets[predefinedID(m.cfg.EngineID, NameBridge)]; ok {
		if err := m.setupDefaultBridge(br); err != nil {
			errs = append(errs, fmt.Errorf("default bridge %s: %w", br.Bridge, err))
		}
	}
	// Drop IPAM state of networks whose record is gone (a crash between
	// the two writes), and the bridge such a create may have made: the
	// IPAM state proves the ID ours, and so the bridge named after it
	// (found by hack/torture -points; a bridge named by an option is not
	// known here).
	for _, id := range m.ipam.Networks() {
		if _, ok := m.nets[id]; !ok {
			m.ipam.RemoveNetwork(id)
			if br := "br-" + id[:min(12, len(id))]; bridge.Exists(br) {
				if err := bridge.Delete(br); err != nil {
					logrus.WithError(err).WithField("bridge", br).Warn("removing the bridge of an unfinished network create")
				}
			}
		}
	}
	// Hundreds of bridges: the host's links and addresses are dumped once,
	// and their rules go to the kernel in a few batches, so that a restart
	// costs little more per network than a stat.
	snap, err := bridge.TakeSnapshot()
	if err != nil {
		logrus.WithError(err).Warn("listing the host's links; checking each bridge on its own")
		snap = nil
	}
	var rules []firewall.Network
	for _, r := range m.sortedLocked() {
		if isVlanDriver(r.Driver) {
			if err := m.restoreParentLocked(r); err != nil {
				errs = append(errs, fmt.Errorf("network %s: %w", r.Name, err))
			}
			continue
		}
		if r.Driver != DriverBridge || (r.Predefined && r.Name == NameBridge) {
			continue
		}
		if err := m.ensureBridgeWith(r, snap, &rules); err != nil {
			errs = append(errs, fmt.Errorf("network %s: %w", r.Name, err))
		}
	}
	if m.fw != nil && len(rules) > 0 {
		if err := m.fw.SetNetworks(rules...); err != nil {
			errs = append(errs, fmt.Errorf("program the networks' rules: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (m *Manager) setupDefaultBridge(r *Record) error {
	var staleGws []netip.Prefix
	if old := m.ipam.Subnets(r.ID); len(old) > 0 && m.defaultBridgeStale(old) {
		// dockerd builds the default bridge from its flags at every
		// start: --ipv6 or --fixed-cidr-v6 changed since the last run.
		if len(r.Endpoints) > 0 {
			logrus.WithField("bridge", r.Bridge).Warn("IPv6 settings of the default bridge changed, but containers still use it; keeping its old subnets")
		} else {
			var gws []netip.Prefix
			for _, s := range old {
				if s.Is6() && s.Gateway.IsValid() {
					gws = append(gws, netip.PrefixFrom(s.Gateway, s.Prefix.Bits()))
				}
			}
			if err := m.ipam.RemoveNetwork(r.ID); err != nil {
				return err
			}
			staleGws = gws
		}
	}
	if len(m.ipam.Subnets(r.ID)) == 0 {
		var reqs []ipam.Request
		if m.cfg.BridgeIP != "" {
			bip, err := netip.ParsePrefix(m.cfg.BridgeIP)
			if err != nil {
				return err
			}
			req := ipam.Request{Subnet: bip.Masked(), Gateway: bip.Addr()}
			if m.cfg.FixedCIDR != "" {
				fc, err := netip.ParsePrefix(m.cfg.FixedCIDR)
				if err != nil {
					return err
				}
				req.IPRange = fc.Masked()
			}
			reqs = append(reqs, req)
		} else if m.cfg.FixedCIDR != "" {
			fc, err := netip.ParsePrefix(m.cfg.FixedCIDR)
			if err != nil {
				return err
			}
			reqs = append(reqs, ipam.Request{Subnet: fc.Masked()})
		}
		if len(reqs) == 0 {
			// Like dockerd, an existing default bridge keeps the address it
			// has (a previous run's, or one the admin gave it), instead of
			// gaining one more subnet from the pools at every fresh start.
			for _, a := range bridge.IPv4Addrs(r.Bridge) {
				req := ipam.Request{Subnet: a.Masked(), Gateway: a.Addr()}
				if _, err := m.ipam.AddNetwork(r.ID, []ipam.Request{req}, true, false); err == nil {
					m.ipam.RemoveNetwork(r.ID)
					reqs = append(reqs, req)
					break
				}
			}
		}
		if m.cfg.EnableIPv6 && m.cfg.FixedCIDRv6 != "" {
			p, err := netip.ParsePrefix(m.cfg.FixedCIDRv6)
			if err != nil {
				return err
			}
			reqs = append(reqs, ipam.Request{Subnet: p.Masked()})
		}
		if _, err := m.ipam.AddNetwork(r.ID, reqs, true, m.cfg.EnableIPv6); err != nil {
			return err
		}
	}
	r.IPAMConfig = ipamConfigFor(m.ipam.Subnets(r.ID), nil)
	// The old IPv6 address goes, unless the new subnet's gateway is the
	// same address: dockerd keeps it then, with its old prefix length,
	// rather than delete and add it again.
	staleGws = slices.DeleteFunc(staleGws, func(p netip.Prefix) bool {
		for _, s := range m.ipam.Subnets(r.ID) {
			if s.Gateway == p.Addr() {
				return true
			}
		}
		return false
	})
	if err := bridge.DelAddrs(r.Bridge, staleGws); err != nil {
		logrus.WithError(err).WithField("bridge", r.Bridge).Warn("cannot remove the default bridge's old IPv6 address")
	}
	return m.ensureBridgeLocked(r)
}

// defaultBridgeStale reports whether the default bridge's allocated IPv6
// subnet no longer matches --ipv6 and --fixed-cidr-v6.
func (m *Manager) defaultBridgeStale(subs []ipam.Subnet) bool {
	var v6 netip.Prefix
	for _, s := range subs {
		if s.Is6() {
			v6 = s.Prefix
		}
	}
	if v6.IsValid() != m.cfg.EnableIPv6 {
		return true
	}
	if m.cfg.EnableIPv6 && m.cfg.FixedCIDRv6 != "" {
		p, err := netip.ParsePrefix(m.cfg.FixedCIDRv6)
		return err == nil && p.Masked() != v6
	}
	return false
}

// ensureBridgeLocked creates the network's bridge if missing and programs
// its rules.
func (m *Manager) ensureBridgeLocked(r *Record) error { return m.ensureBridgeWith(r, nil, nil) }

// ensureBridgeWith is ensureBridgeLocked with the host's links taken from
// snap (if not nil) and the network's rules appended to rules (if not
// nil) for the caller to program with others.
func (m *Manager) ensureBridgeWith(r *Record, snap *bridge.Snapshot, rules *[]firewall.Network) error {
	subs := m.ipam.Subnets(r.ID)
	var addrs []netip.Prefix
	for _, s := range subs {
		if s.Gateway.IsValid() && !(s.Prefix.Addr().Is4() && r.inhibitIPv4()) {
			addrs = append(addrs, netip.PrefixFrom(s.Gateway, s.Prefix.Bits()))
		}
	}
	mtu, _ := strconv.Atoi(r.Options[OptMTU])
	if mtu == 0 {
		mtu = m.cfg.MTU
	}
	noIPv6 := r.EnableIPv6 && r.gwMode(true) == GwModeIsolated
	if err := snap.Ensure(bridge.Config{Name: r.Bridge, MTU: mtu, Addrs: addrs, NoIPv6: noIPv6}); err != nil {
		return err
	}
	m.syncRouteLocalnetLocked(r.Bridge)
	if m.cfg.IPForward && len(addrs) > 0 && addrs[len(addrs)-1].Addr().Is6() {
		m.ip6Forward.Do(func() {
			changed, err := enableIPv6Forward()
			if err != nil {
				logrus.WithError(err).Warn("cannot enable IPv6 forwarding; containers may not reach other networks over IPv6")
			}
			m.dropForwarded(false, changed)
		})
	}
	if m.fw == nil {
		return nil
	}
	if rules != nil {
		*rules = append(*rules, m.firewallNetwork(r, subs))
		return nil
	}
	return m.fw.SetNetwork(m.firewallNetwork(r, subs))
}

// syncRouteLocalnetLocked sets route_localnet on a bridge only while a
// container on it has a port the host can reach through 127.0.0.1 (one
// published on every address or on a loopback address) and the userland
// proxy is off: the host's connection is then DNATed in output and leaves
// through the bridge with its loopback source, which the kernel routes
// only with route_localnet (with the proxy, as in dockerd, the port's own
// socket takes it). With it on, a container could also reach the host's
// loopback services; the firewall's raw-prerouting chain drops any packet
// from a bridge to 127.0.0.0/8, so it is never set without berth's rules
// (--iptables=false).
func (m *Manager) syncRouteLocalnetLocked(bridgeName string) {
	need := false
	if m.fw != nil && !m.cfg.UserlandProxy {
		for _, pubs := range m.pubs {
			for _, p := range pubs {
				for _, rl := range p.rules {
					if rl.Bridge == bridgeName && !rl.HostIP.Is6() && (!rl.HostIP.IsValid() || rl.HostIP.IsUnspecified() || rl.HostIP.IsLoopback()) {
						need = true
					}
				}
			}
		}
	}
	if err := bridge.SetRouteLocalnet(bridgeName, need); err != nil && bridge.Exists(bridgeName) {
		logrus.WithError(err).WithField("bridge", bridgeName).Warn("cannot set route_localnet")
	}
}

// ReconcileFirewall puts berth's nftables table back if someone removed
// it (`nft flush ruleset`); the daemon calls it on SIGHUP. Any change to
// networks or ports does the same on its own.
func (m *Manager) ReconcileFirewall() error {
	if m.fw == nil {
		return nil
	}
	select {
	case <-m.ready:
	default:
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, err := m.fw.Reconcile()
	return err
}

func (m *Manager) firewallNetwork(r *Record, subs []ipam.Subnet) firewall.Network {
	n := firewall.Network{ID: r.ID, Bridge: r.Bridge, Internal: r.Internal, ICC: true, Masquerade: m.cfg.IPMasq}
	if v, ok := r.Options[OptEnableICC]; ok {
		n.ICC, _ = strconv.ParseBool(v)
	}
	if v, ok := r.Options[OptEnableIPMasq]; ok {
		b, _ := strconv.ParseBool(v)
		n.Masquerade = n.Masquerade && b
	}
	n.Routed4, n.Routed6 = r.gwMode(false) == GwModeRouted, r.gwMode(true) == GwModeRouted
	n.Unprotected4, n.Unprotected6 = r.gwMode(false) == GwModeUnprotected, r.gwMode(true) == GwModeUnprotected
	n.Trusted = r.trustedIfaces()
	for _, s := range subs {
		if s.Prefix.Addr().Is6() && m.cfg.NoIPv6NAT {
			continue // no masquerade for IPv6 (--ip6tables=false)
		}
		n.Subnets = append(n.Subnets, s.Prefix)
		if s.Gateway.IsValid() {
			n.Gateways = append(n.Gateways, s.Gateway)
		}
	}
	return n
}

// ipamConfigFor renders allocated subnets as inspect's IPAM.Config,
// keeping the ip-range and aux addresses the user asked for.
func ipamConfigFor(subs []ipam.Subnet, requested []network.IPAMConfig) []network.IPAMConfig {
	out := make([]network.IPAMConfig, 0, len(subs))
	for _, s := range subs {
		c := network.IPAMConfig{Subnet: s.Prefix, IPRange: s.IPRange, Gateway: s.Gateway}
		for _, rq := range requested {
			if rq.Subnet == s.Prefix && len(rq.AuxAddress) > 0 {
				c.AuxAddress = rq.AuxAddress
			}
		}
		out = append(out, c)
	}
	return out
}

func (m *Manager) sortedLocked() []*Record {
	out := make([]*Record, 0, len(m.nets))
	for _, r := range m.nets {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Created.Equal(out[j].Created) {
			return out[i].Name < out[j].Name
		}
		return out[i].Created.Before(out[j].Created)
	})
	return out
}

// persistLocked writes a new network's record, synced with its
// directory, under m.mu: no flush of it can be under way yet. Every
// later change goes through touchRecordLocked and syncRecord.
func (m *Manager) persistLocked(r *Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(m.recordPath(r.ID), b, 0o600)
}

// Close removes berth's netfilter table, unless containers are meant to
// keep running (live-restore), in which case their NAT must survive too.
func (m *Manager) Close(keepRules bool) {
	select {
	case <-m.ready:
	case <-time.After(5 * time.Second):
	}
	m.WaitDetached()
	if m.hostView != nil {
		m.hostView.Close()
	}
	if m.fw != nil && !keepRules {
		if err := m.fw.Remove(); err != nil {
			logrus.WithError(err).Warn("removing nftables table")
		}
	}
}

// WaitDetached waits until every veth pair Leave handed to the background
// is gone.
func (m *Manager) WaitDetached() { m.detaching.Wait() }

// FirewallBackend names what programs netfilter, for `docker info`.
func (m *Manager) FirewallBackend() string {
	if m.fw == nil {
		return ""
	}
	return "nftables"
}

// enableIPForward sets net.ipv4.ip_forward to 1 unless it already is, as
// dockerd does at start; it is never turned off again, since other
// software on the host may rely on it by then.
// ipForwardSysctl is the IPv4 forwarding switch (a variable for tests).
var ipForwardSysctl = "/proc/sys/net/ipv4/ip_forward"

// enableIPForward turns IPv4 forwarding on and reports whether it was
// off.
func enableIPForward() (changed bool, err error) {
	b, err := os.ReadFile(ipForwardSysctl)
	if err != nil {
		return false, err
	}
	if strings.TrimSpace(string(b)) == "1" {
		return false, nil
	}
	return true, os.WriteFile(ipForwardSysctl, []byte("1"), 0o644)
}

// forwardingFile records which families' forwarding berth turned on, so
// that the forward drop (DropForwarded) outlives a restart, when the
// switch is found on.
const forwardingFile = "forwarding-set-by-berth"

// dropForwarded tells the firewall to drop foreign forwarded traffic of
// the families berth turned forwarding on for, now or in an earlier run
// (dockerd's FORWARD policy drop; --ip-forward-no-drop turns it off).
func (m *Manager) dropForwarded(v4, v6 bool) {
	if m.fw == nil || m.cfg.IPForwardNoDrop {
		return
	}
	path := filepath.Join(m.cfg.Root, forwardingFile)
	b, _ := os.ReadFile(path)
	had4, had6 := strings.Contains(string(b), "ipv4"), strings.Contains(string(b), "ipv6")
	drop4, drop6 := v4 || had4, v6 || had6
	if drop4 != had4 || drop6 != had6 {
		var fams []string
		if drop4 {
			fams = append(fams, "ipv4")
		}
		if drop6 {
			fams = append(fams, "ipv6")
		}
		if err := atomicfile.WriteFile(path, []byte(strings.Join(fams, "\n")+"\n"), 0o600); err != nil {
			logrus.WithError(err).Warn("recording that berth turned on IP forwarding")
		}
	}
	if drop4 || drop6 {
		if err := m.fw.DropForwarded(drop4, drop6); err != nil {
			logrus.WithError(err).Warn("dropping forwarded traffic that is not berth's")
		}
	}
}

// enableIPv6Forward turns on IPv6 forwarding, as dockerd does when it
// sets up its first IPv6 bridge network with ip-forward on. A host
// interface with accept_ra=1 stops taking router advertisements then
// (it needs accept_ra=2), which is worth a warning, as dockerd gives.
func enableIPv6Forward() (changed bool, err error) {
	for _, p := range []string{"/proc/sys/net/ipv6/conf/default/forwarding", "/proc/sys/net/ipv6/conf/all/forwarding"} {
		b, err := os.ReadFile(p)
		if err != nil {
			return changed, err
		}
		if strings.TrimSpace(string(b)) == "1" {
			continue
		}
		if err := os.WriteFile(p, []byte("1"), 0o644); err != nil {
			return changed, err
		}
		if strings.HasSuffix(p, "all/forwarding") {
			changed = true
			warnAcceptRA()
		}
	}
	return changed, nil
}

func warnAcceptRA() {
	// Only interfaces with an IPv6 default route: the ones whose routers'
	// advertisements matter (berth's own bridges have accept_ra=1 too).
	for _, dev := range bridge.DefaultRouteDevs6() {
		p := filepath.Join("/proc/sys/net/ipv6/conf", dev, "accept_ra")
		if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == "1" {
			logrus.WithField("interface", dev).Warn("IPv6 forwarding is now on: this interface (accept_ra=1) ignores router advertisements; set accept_ra=2 to keep them")
		}
	}
}

// ValidateFwMark checks a --bridge-accept-fwmark value ("mark" or
// "mark/mask").
func ValidateFwMark(v string) error {
	if v == "" {
		return nil
	}
	_, _, err := firewall.ParseFwMark(v)
	return err
}

// FirewallTable is the name of berth's nftables table (family inet).
func (m *Manager) FirewallTable() string { return m.cfg.Table }

// errNoSuchNetwork is dockerd's not-found message.
func errNoSuchNetwork(term string) error {
	return errdefs.NotFoundf("network %s not found", term)
}
