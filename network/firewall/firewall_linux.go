package firewall

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// Network is the firewall's view of one bridge network.
type Network struct {
	ID      string
	Bridge  string
	Subnets []netip.Prefix
	// Internal networks reach nothing outside their bridge.
	Internal bool
	// ICC allows containers on the same bridge to talk (dockerd's
	// enable_icc, default true).
	ICC bool
	// Masquerade outbound traffic (dockerd's enable_ip_masquerade).
	Masquerade bool
	// Routed4 and Routed6 are gateway mode "routed" for the family: no
	// masquerade, no guard against direct access, ICMP passes in, and
	// published ports are open on the containers' own addresses.
	Routed4, Routed6 bool
	// Unprotected4 and Unprotected6 are gateway mode "nat-unprotected":
	// every port of the containers is reachable from outside the bridge.
	Unprotected4, Unprotected6 bool
	// Gateways are the bridge's own addresses, which the guard against
	// direct access leaves alone: they are the host's.
	Gateways []netip.Addr
	// Trusted are host interfaces whose traffic may address containers
	// directly (trusted_host_interfaces).
	Trusted []string
}

func (n Network) routed(v6 bool) bool {
	if v6 {
		return n.Routed6
	}
	return n.Routed4
}

func (n Network) unprotected(v6 bool) bool {
	if v6 {
		return n.Unprotected6
	}
	return n.Unprotected4
}

// Options are the daemon-wide switches of the firewall.
type Options struct {
	// AllowDirectRouting drops no packet for addressing a container
	// directly (dockerd's --allow-direct-routing).
	AllowDirectRouting bool
	// AcceptFwMark lets packets with this firewall mark into any
	// non-internal bridge (dockerd's --bridge-accept-fwmark), as
	// "mark" or "mark/mask".
	AcceptFwMark string
	// UserlandProxy is on: a container's connection to its own published
	// port is not DNATed (it would have to leave and re-enter its bridge
	// port, which needs hairpin mode) but taken by the proxy's socket on
	// the host, as dockerd skips DNAT from the bridge then.
	UserlandProxy bool
}

// ParseFwMark reads "mark" or "mark/mask" (decimal, 0x hex or 0 octal),
// as dockerd's --bridge-accept-fwmark takes it; no mask is all bits.
func ParseFwMark(v string) (mark, mask uint32, err error) {
	ms, ks, hasMask := strings.Cut(v, "/")
	m, err := strconv.ParseUint(ms, 0, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("invalid firewall mark %q: %w", v, err)
	}
	k := uint64(0xffffffff)
	if hasMask {
		if k, err = strconv.ParseUint(ks, 0, 32); err != nil {
			return 0, 0, fmt.Errorf("invalid firewall mask %q: %w", v, err)
		}
	}
	return uint32(m), uint32(k), nil
}

// Port is one published port.
type Port struct {
	// Proto is "tcp", "udp" or "sctp".
	Proto string
	// HostIP is the address the port is published on; zero means every
	// local IPv4 address, "::" every local IPv6 address. The family of
	// HostIP (IPv4 when zero) must be the family of ContainerIP.
	HostIP   netip.Addr
	HostPort uint16
	// Bridge is the container's network's bridge.
	Bridge        string
	ContainerIP   netip.Addr
	ContainerPort uint16
	// OpenOnly opens the container's port to direct access without any
	// DNAT from the host (gateway mode "routed"); HostIP and HostPort
	// are then unused.
	OpenOnly bool
}

func (p Port) key() string {
	return fmt.Sprintf("%s/%s/%d/%s/%d/%t", p.Proto, p.HostIP, p.HostPort, p.ContainerIP, p.ContainerPort, p.OpenOnly)
}

// openKey is the container address, protocol and port a published port
// opens in the forward chain; several host bindings share one.
func (p Port) openKey() string {
	return fmt.Sprintf("%s/%s/%d", p.Proto, p.ContainerIP, p.ContainerPort)
}

// anyHost reports whether the port is published on every local address
// of its family.
func (p Port) anyHost() bool { return !p.HostIP.IsValid() || p.HostIP.IsUnspecified() }

// is6 reports whether the port is published on IPv6 host addresses.
func (p Port) is6() bool { return p.HostIP.Is6() }

// Firewall keeps the desired rules and programs them into the table.
type Firewall struct {
	mu       sync.Mutex
	table    string
	networks map[string]Network
	ports    map[string]Port
	// applied is true once the table exists in the kernel with every
	// network and port of the state above.
	applied bool
	// dropForward4 and dropForward6 end the forward chain with a drop
	// for the family: berth turned that family's forwarding on, so the
	// host now routes between all its interfaces, which it did not before
	// (dockerd's FORWARD policy drop).
	dropForward4, dropForward6 bool
	opts                       Options
	// mark and mask are opts.AcceptFwMark parsed; markSet says there is one.
	mark, mask uint32
	markSet    bool
}

// SetOptions sets the daemon-wide switches; it must come before the first
// change.
func (f *Firewall) SetOptions(o Options) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opts = o
	f.markSet = o.AcceptFwMark != ""
	if f.markSet {
		var err error
		if f.mark, f.mask, err = ParseFwMark(o.AcceptFwMark); err != nil {
			return err
		}
	}
	if f.applied {
		return f.applyAll()
	}
	return nil
}

// DropForwarded makes the forward chain drop what is forwarded in a
// family and is not berth's: a host berth turned forwarding on for routes
// only its containers' traffic, as dockerd's FORWARD policy drop does.
func (f *Firewall) DropForwarded(v4, v6 bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if (!v4 || f.dropForward4) && (!v6 || f.dropForward6) {
		return nil // nothing new to drop
	}
	f.dropForward4, f.dropForward6 = f.dropForward4 || v4, f.dropForward6 || v6
	if !f.applied {
		return nil
	}
	return f.applyAll()
}

// forwardRules is the number of rules the forward chain has.
func (f *Firewall) forwardRules() int {
	n := 4
	if f.dropForward4 {
		n++
	}
	if f.dropForward6 {
		n++
	}
	return n
}

// TableName is the nftables table of the daemon whose data-root is
// dataRoot: "berth" for the default one, otherwise suffixed from the
// data-root so that daemons side by side (tests) never share, and flush,
// one table.
func TableName(dataRoot, defaultDataRoot string) string {
	if dataRoot == defaultDataRoot {
		return "berth"
	}
	h := sha256.Sum256([]byte(dataRoot))
	return "berth-" + hex.EncodeToString(h[:4])
}

// New returns a firewall that writes to the inet table named table.
// Nothing touches the kernel until a change or Apply.
func New(table string) *Firewall {
	return &Firewall{table: table, networks: map[string]Network{}, ports: map[string]Port{}}
}

// Table is the nftables table name.
func (f *Firewall) Table() string { return f.table }

// SetNetwork adds or replaces a network's rules.
func (f *Firewall) SetNetwork(n Network) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	old, had := f.networks[n.ID]
	if had && sameNetwork(old, n) && f.applied {
		return nil
	}
	f.networks[n.ID] = n
	return f.commit(func(x *tx) {
		if had {
			x.delNetwork(old)
		}
		x.addNetwork(n)
	}, func() {
		if had {
			f.networks[n.ID] = old
		} else {
			delete(f.networks, n.ID)
		}
	})
}

func sameNetwork(a, b Network) bool {
	return slices.Equal(a.Subnets, b.Subnets) && a.Bridge == b.Bridge && a.Internal == b.Internal &&
		a.ICC == b.ICC && a.Masquerade == b.Masquerade && a.Routed4 == b.Routed4 && a.Routed6 == b.Routed6 &&
		a.Unprotected4 == b.Unprotected4 && a.Unprotected6 == b.Unprotected6 &&
		slices.Equal(a.Gateways, b.Gateways) && slices.Equal(a.Trusted, b.Trusted)
}

// SetNetworks adds or replaces the rules of many networks in as few
// batches as they fit: the daemon's start, with hundreds of networks.
func (f *Firewall) SetNetworks(ns ...Network) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := map[string]Network{}
	for _, n := range ns {
		if o, ok := f.networks[n.ID]; ok {
			old[n.ID] = o
		}
		f.networks[n.ID] = n
	}
	return f.commit(func(x *tx) {
		for _, n := range ns {
			if o, ok := old[n.ID]; ok {
				x.delNetwork(o)
			}
			x.addNetwork(n)
		}
	}, func() {
		for _, n := range ns {
			if o, ok := old[n.ID]; ok {
				f.networks[n.ID] = o
			} else {
				delete(f.networks, n.ID)
			}
		}
	})
}

// RemoveNetwork drops a network's rules and its published ports.
func (f *Firewall) RemoveNetwork(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.networks[id]
	if !ok {
		return nil
	}
	delete(f.networks, id)
	var gone []Port
	for k, p := range f.ports {
		if p.Bridge == n.Bridge {
			gone = append(gone, p)
			delete(f.ports, k)
		}
	}
	closed := f.unopened(gone)
	return f.commit(func(x *tx) {
		x.delPorts(gone)
		x.setOpen(closed, false)
		x.delNetwork(n)
	}, func() {
		f.networks[id] = n
		for _, p := range gone {
			f.ports[p.key()] = p
		}
	})
}

// AddPorts publishes ports; on error none of them is.
func (f *Firewall) AddPorts(ports ...Port) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var add []Port
	for _, p := range ports {
		if _, err := protoNum(p.Proto); err != nil {
			return err
		}
		if p.OpenOnly && p.ContainerIP.IsValid() && !p.ContainerIP.Is4In6() {
			// Nothing on the host: the family check below is about DNAT.
		} else if !p.ContainerIP.IsValid() || p.ContainerIP.Is4In6() || p.HostIP.Is4In6() || p.ContainerIP.Is6() != p.is6() {
			// NAT cannot change the family; mapping an IPv6 host address
			// to an IPv4-only container is the userland proxy's job.
			return fmt.Errorf("port %d: host address %s and container address %s are not of one family", p.HostPort, p.HostIP, p.ContainerIP)
		}
		if _, ok := f.ports[p.key()]; !ok && !slices.ContainsFunc(add, func(q Port) bool { return q.key() == p.key() }) {
			add = append(add, p)
		}
	}
	if len(add) == 0 {
		return nil
	}
	opened := f.unopened(add)
	for _, p := range add {
		f.ports[p.key()] = p
	}
	return f.commit(func(x *tx) {
		x.setOpen(opened, true)
		x.addPorts(add)
	}, func() {
		for _, p := range add {
			delete(f.ports, p.key())
		}
	})
}

// RemovePorts unpublishes ports.
func (f *Firewall) RemovePorts(ports ...Port) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var del []Port
	for _, p := range ports {
		if _, ok := f.ports[p.key()]; ok {
			del = append(del, p)
			delete(f.ports, p.key())
		}
	}
	if len(del) == 0 {
		return nil
	}
	closed := f.unopened(del)
	return f.commit(func(x *tx) {
		x.delPorts(del)
		x.setOpen(closed, false)
	}, func() {
		for _, p := range del {
			f.ports[p.key()] = p
		}
	})
}

// unopened picks, from ports, one of each container port that no port
// in the state opens: the open-port elements to add before ports join the
// state, or to delete after they left it.
func (f *Firewall) unopened(ports []Port) []Port {
	have := map[string]bool{}
	for _, p := range f.ports {
		have[p.openKey()] = true
	}
	var out []Port
	for _, p := range ports {
		if !have[p.openKey()] {
			have[p.openKey()] = true
			out = append(out, p)
		}
	}
	return out
}

// Apply (re)writes the table from the current state, for daemon start.
func (f *Firewall) Apply() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applyAll()
}

// Reconcile puts the table back if it vanished from the kernel (someone
// ran `nft flush ruleset`, or deleted berth's table) or lost its base
// rules (`nft flush table`), for SIGHUP. It reports whether it had to.
func (f *Firewall) Reconcile() (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.networks) == 0 && len(f.ports) == 0 {
		return false, nil
	}
	if ok, err := TableExists(f.table); err != nil {
		return false, err
	} else if ok && f.applied && f.baseIntact() {
		return false, nil
	}
	f.logRestore()
	return true, f.applyAll()
}

// baseIntact checks the forward chain, whose rules only a whole rewrite
// writes: a flushed table has none.
func (f *Firewall) baseIntact() bool {
	c, err := nftables.New()
	if err != nil {
		return true
	}
	l := f.layout()
	rules, err := c.GetRules(l.t, l.forward)
	return err == nil && len(rules) == f.forwardRules()
}

func (f *Firewall) logRestore() {
	logrus.WithFields(logrus.Fields{"table": f.table, "networks": len(f.networks), "ports": len(f.ports)}).
		Warn("nftables table missing or flushed (by someone else?); re-applying berth's rules")
}

// commit makes the kernel agree with a change already made to the state:
// incrementally when it can. A change is one or more netlink batches, so
// when one fails (usually because someone flushed the ruleset) only a
// whole rewrite is sure to leave the kernel matching berth's state; if
// even that fails, the change is undone and the old state rewritten.
func (f *Firewall) commit(ops func(*tx), undo func()) error {
	err := f.change(ops)
	if err == nil {
		return nil
	}
	if ok, terr := TableExists(f.table); terr == nil && !ok {
		f.logRestore()
	} else {
		logrus.WithError(err).WithField("table", f.table).Warn("incremental nftables update failed; rewriting berth's table")
	}
	if f.applyAll() == nil {
		return nil
	}
	undo()
	if rerr := f.applyAll(); rerr != nil {
		logrus.WithError(rerr).WithField("table", f.table).Error("re-applying nftables rules")
	}
	return err
}

// change runs one incremental update. Before the table exists it writes
// the whole state instead.
func (f *Firewall) change(ops func(*tx)) error {
	if len(f.networks) == 0 && len(f.ports) == 0 {
		// Nothing to enforce: no table at all, so a daemon with no
		// networks leaves the ruleset exactly as it found it.
		if !f.applied {
			return nil
		}
		f.applied = false
		return DeleteTable(f.table)
	}
	if !f.applied {
		return f.applyAll()
	}
	x, err := f.newTx()
	if err != nil {
		return err
	}
	ops(x)
	return x.flush()
}

// Remove deletes berth's table and forgets nothing: a later Apply puts it
// back. Used at daemon shutdown and by tests. The administrators' table
// goes too if nobody put anything in it, so that a daemon stopped leaves
// the ruleset as it found it; one holding rules stays.
func (f *Firewall) Remove() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = false
	if err := removeUnusedUserTable(f.table); err != nil {
		logrus.WithError(err).WithField("table", UserTable(f.table)).Warn("checking the table for administrators' rules")
	}
	return DeleteTable(f.table)
}

// DeleteTable removes an inet table by name; a missing table is not an
// error. The daemon calls it at start to clear what a crashed run left.
func DeleteTable(name string) error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: name}
	// Adding first makes the delete valid whether or not the table exists,
	// all in one transaction.
	c.AddTable(t)
	c.DelTable(t)
	return c.Flush()
}

// TableExists reports whether the inet table is in the kernel.
func TableExists(name string) (bool, error) {
	c, err := nftables.New()
	if err != nil {
		return false, err
	}
	_, err = c.ListTableOfFamily(name, nftables.TableFamilyINet)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	return false, err
}

// The table's layout. Every per-network and per-port fact is an element
// of a named set or map, or (for source NAT, whose "leaves its own bridge"
// test has no set form) a couple of rules tagged with the network's ID, so
// the ruleset grows linearly and a change touches only its own elements:
//
//	set bridges    ifname             every berth bridge
//	set icc        ifname . ifname    "br" . "br" for bridges with ICC on
//	set internal   ifname             internal networks' bridges
//	set loopback4  ipv4_addr . inet_proto . inet_service
//	                                  ports published on a loopback address
//	map dnat4      ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service
//	                                  ports published on one host address
//	map dnat4any   inet_proto . inet_service : ipv4_addr . inet_service
//	                                  ports published on every address
//	set loopback6, map dnat6, map dnat6any
//	                                  the same for IPv6, with ipv6_addr
//	set noicc      ifname . ifname    "br" . "br" for bridges with ICC off
//	set routed4, routed6, unprot4, unprot6
//	               ifname             bridges whose family's gateway mode
//	                                  is routed, or nat-unprotected
//	set open4      ipv4_addr . inet_proto . inet_service
//	                                  container ports published (or, in
//	                                  routed mode, opened): what may reach
//	                                  a container from outside its bridge
//	set open6      the same for IPv6
//	set self4, self6
//	               addr . inet_proto . inet_service
//	                                  with the userland proxy: a container
//	                                  and the host ports published for it,
//	                                  which its own connections to them
//	                                  skip DNAT for (the proxy takes them)
//
// Chains, compared with dockerd 28's nftables backend (nftabler):
//
//	raw-prerouting  (filter, prerouting, raw): per network in gateway mode
//	    nat (not nat-unprotected, routed or internal, and unless
//	    --allow-direct-routing), a rule tagged with the network's ID drops
//	    what addresses its subnet, other than the bridge's own address,
//	    from any interface but the bridge and its trusted host interfaces
//	    (dockerd's per-endpoint "DROP DIRECT ACCESS"); nothing from a bridge reaches
//	    127.0.0.0/8 (berth's bridges may have route_localnet, which would
//	    otherwise let a container talk to the host's loopback services);
//	    a port published on a loopback address is dropped when it comes in
//	    on any interface but lo ("drop remote loopback", dockerd's per-port
//	    raw-PREROUTING rule).
//	forward  (filter, forward, filter): replies pass; anything going into a
//	    berth bridge goes through fwd-in; an internal bridge's traffic
//	    goes nowhere else; other bridges' traffic goes out. For a family
//	    whose forwarding berth turned on, everything else is dropped
//	    (DropForwarded: dockerd sets its FORWARD policy to drop then).
//	fwd-in: same bridge with ICC passes; internal bridges take nothing
//	    from outside; DNATed (published) traffic passes; same bridge with
//	    ICC off is dropped; the --bridge-accept-fwmark mark passes; ICMP
//	    into a routed bridge, anything into a nat-unprotected one, and
//	    published (or opened) container ports pass; everything else is
//	    dropped, which is network isolation, --icc=false and "drop direct
//	    access" to unpublished container ports at once (dockerd's
//	    filter-forward-in__<bridge> chains end the same way). The base
//	    chain's policy stays accept, so that berth decides for traffic
//	    that is not its own only when it turned forwarding on.
//	prerouting, output (nat, dstnat): DNAT through dnat4, then dnat4any
//	    for local destinations; the same through dnat6 and dnat6any, but
//	    never from a link-local source (the container could not answer
//	    it; the userland proxy's socket does, as in dockerd) and never for ::1: IPv6 has no route_localnet, a packet from ::1 is
//	    dropped by the container's kernel, so the port's own socket on
//	    the host takes those connections (dockerd's userland proxy;
//	    dockerd's rules skip ::1 in the same way). A port published on
//	    ::1 is in loopback6 only, for the guard in raw-prerouting.
//	postrouting (nat, srcnat): loopback-sourced (DNATed from the host's
//	    127.0.0.1) traffic into a bridge is masqueraded; per network:
//	    hairpin (DNATed back into its own bridge) and outbound masquerade.
//
// Administrators' rules: berth's DOCKER-USER is a second table, "<table>-user",
// with an empty base chain on the forward hook at priority filter - 1, so
// it runs first. Berth creates it when missing and never touches it after
// (see EnsureUserTable), so its rules survive restarts and rewrites of
// berth's table; its drop is final. Only an empty one is deleted, when the
// daemon stops. See README ("Firewall").

const (
	setBridges  = "bridges"
	setICC      = "icc"
	setInternal = "internal"
	setLoop4    = "loopback4"
	mapDNAT4    = "dnat4"
	mapDNAT4Any = "dnat4any"
	setLoop6    = "loopback6"
	mapDNAT6    = "dnat6"
	mapDNAT6Any = "dnat6any"
	setNoICC    = "noicc"
	setRouted4  = "routed4"
	setRouted6  = "routed6"
	setUnprot4  = "unprot4"
	setUnprot6  = "unprot6"
	setOpen4    = "open4"
	setOpen6    = "open6"
	setSelf4    = "self4"
	setSelf6    = "self6"
)

// Concatenations are laid out in 32-bit registers (NFT_REG32_00 is 8); a
// 16-byte register such as 1 overlaps NFT_REG32_00..03.
const (
	reg32_00 = 8
	reg32_01 = 9
	reg32_02 = 10
	reg32_04 = 12
	reg32_05 = 13
)

var (
	keyIfPair   = nftables.MustConcatSetType(nftables.TypeIFName, nftables.TypeIFName)
	keyAddrPort = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)
	keyPort     = nftables.MustConcatSetType(nftables.TypeInetProto, nftables.TypeInetService)
	valAddrPort = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService)

	keyAddrPort6 = nftables.MustConcatSetType(nftables.TypeIP6Addr, nftables.TypeInetProto, nftables.TypeInetService)
	valAddrPort6 = nftables.MustConcatSetType(nftables.TypeIP6Addr, nftables.TypeInetService)
)

// Chain priorities as nft names them: raw -300, dstnat -100, filter 0,
// srcnat 100.
var (
	prioRaw    = nftables.ChainPriorityRef(*nftables.ChainPriorityRaw)
	prioDstNAT = nftables.ChainPriorityRef(*nftables.ChainPriorityNATDest)
	prioFilter = nftables.ChainPriorityRef(*nftables.ChainPriorityFilter)
	prioSrcNAT = nftables.ChainPriorityRef(*nftables.ChainPriorityNATSource)
)

type layout struct {
	t                                   *nftables.Table
	bridges, icc, internal, loop4       *nftables.Set
	dnat4, dnat4any                     *nftables.Set
	loop6, dnat6, dnat6any              *nftables.Set
	noicc, routed4, routed6             *nftables.Set
	unprot4, unprot6, open4, open6      *nftables.Set
	self4, self6                        *nftables.Set
	raw, forward, fwdIn, pre, out, post *nftables.Chain
}

func (f *Firewall) layout() *layout {
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: f.table}
	accept := nftables.ChainPolicyAccept
	return &layout{
		t:        t,
		bridges:  &nftables.Set{Table: t, Name: setBridges, KeyType: nftables.TypeIFName, KeyByteOrder: binaryutil.NativeEndian},
		icc:      &nftables.Set{Table: t, Name: setICC, KeyType: keyIfPair, Concatenation: true},
		internal: &nftables.Set{Table: t, Name: setInternal, KeyType: nftables.TypeIFName, KeyByteOrder: binaryutil.NativeEndian},
		loop4:    &nftables.Set{Table: t, Name: setLoop4, KeyType: keyAddrPort, Concatenation: true},
		dnat4:    &nftables.Set{Table: t, Name: mapDNAT4, KeyType: keyAddrPort, Concatenation: true, IsMap: true, DataType: valAddrPort},
		dnat4any: &nftables.Set{Table: t, Name: mapDNAT4Any, KeyType: keyPort, Concatenation: true, IsMap: true, DataType: valAddrPort},
		loop6:    &nftables.Set{Table: t, Name: setLoop6, KeyType: keyAddrPort6, Concatenation: true},
		dnat6:    &nftables.Set{Table: t, Name: mapDNAT6, KeyType: keyAddrPort6, Concatenation: true, IsMap: true, DataType: valAddrPort6},
		dnat6any: &nftables.Set{Table: t, Name: mapDNAT6Any, KeyType: keyPort, Concatenation: true, IsMap: true, DataType: valAddrPort6},
		noicc:    &nftables.Set{Table: t, Name: setNoICC, KeyType: keyIfPair, Concatenation: true},
		routed4:  &nftables.Set{Table: t, Name: setRouted4, KeyType: nftables.TypeIFName, KeyByteOrder: binaryutil.NativeEndian},
		routed6:  &nftables.Set{Table: t, Name: setRouted6, KeyType: nftables.TypeIFName, KeyByteOrder: binaryutil.NativeEndian},
		unprot4:  &nftables.Set{Table: t, Name: setUnprot4, KeyType: nftables.TypeIFName, KeyByteOrder: binaryutil.NativeEndian},
		unprot6:  &nftables.Set{Table: t, Name: setUnprot6, KeyType: nftables.TypeIFName, KeyByteOrder: binaryutil.NativeEndian},
		open4:    &nftables.Set{Table: t, Name: setOpen4, KeyType: keyAddrPort, Concatenation: true},
		open6:    &nftables.Set{Table: t, Name: setOpen6, KeyType: keyAddrPort6, Concatenation: true},
		self4:    &nftables.Set{Table: t, Name: setSelf4, KeyType: keyAddrPort, Concatenation: true},
		self6:    &nftables.Set{Table: t, Name: setSelf6, KeyType: keyAddrPort6, Concatenation: true},
		raw:      &nftables.Chain{Name: "raw-prerouting", Table: t, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookPrerouting, Priority: prioRaw, Policy: &accept},
		forward:  &nftables.Chain{Name: "forward", Table: t, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookForward, Priority: prioFilter, Policy: &accept},
		fwdIn:    &nftables.Chain{Name: "fwd-in", Table: t},
		pre:      &nftables.Chain{Name: "prerouting", Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPrerouting, Priority: prioDstNAT, Policy: &accept},
		out:      &nftables.Chain{Name: "output", Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookOutput, Priority: prioDstNAT, Policy: &accept},
		post:     &nftables.Chain{Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPostrouting, Priority: prioSrcNAT, Policy: &accept},
	}
}

// A netlink batch is sent with one sendmsg, which must fit the socket's
// send buffer (net.core.wmem_default, 208 KiB on most hosts), and every
// message in it is acknowledged into the receive buffer of the same size,
// each ack costing about a page of buffer: too many messages is the
// ENOBUFS that made network creation fail. Batches are cut well below
// both, and element lists are split across messages.
const (
	maxBatchMsgs   = 96
	maxBatchBytes  = 64 << 10
	maxElemsPerMsg = 256
	costRule       = 512
	costElem       = 64
	costObject     = 256
)

// tx queues changes and flushes them in bounded batches. A change that
// fits one batch is atomic; a bigger one is not, and a failure part-way
// is repaired by rewriting the whole table (Firewall.commit).
type tx struct {
	f     *Firewall
	l     *layout
	c     *nftables.Conn
	msgs  int
	bytes int
	err   error
}

func (f *Firewall) newTx() (*tx, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, err
	}
	return &tx{f: f, l: f.layout(), c: c}, nil
}

// room makes space for a message of the given size, sending what is
// queued if it would not fit.
func (x *tx) room(bytes int) bool {
	if x.err != nil {
		return false
	}
	if x.msgs > 0 && (x.msgs+1 > maxBatchMsgs || x.bytes+bytes > maxBatchBytes) {
		x.send()
	}
	x.msgs++
	x.bytes += bytes
	return x.err == nil
}

func (x *tx) send() {
	if x.err != nil || x.msgs == 0 {
		return
	}
	if err := x.c.Flush(); err != nil {
		x.err = fmt.Errorf("program nftables table %s: %w", x.f.table, err)
	}
	x.msgs, x.bytes = 0, 0
}

func (x *tx) flush() error {
	x.send()
	return x.err
}

func (x *tx) rule(ch *nftables.Chain, tag string, exprs ...expr.Any) {
	if !x.room(costRule) {
		return
	}
	r := &nftables.Rule{Table: x.l.t, Chain: ch, Exprs: exprs}
	if tag != "" {
		r.UserData = userdata.AppendString(nil, userdata.TypeComment, tag)
	}
	x.c.AddRule(r)
}

func (x *tx) elems(s *nftables.Set, add bool, els []nftables.SetElement) {
	for len(els) > 0 {
		n := min(len(els), maxElemsPerMsg)
		if !x.room(costObject + n*costElem) {
			return
		}
		var err error
		if add {
			err = x.c.SetAddElements(s, els[:n])
		} else {
			err = x.c.SetDeleteElements(s, els[:n])
		}
		if err != nil {
			x.err = err
			return
		}
		els = els[n:]
	}
}

// applyAll replaces the table with one built from the whole state.
func (f *Firewall) applyAll() error {
	f.applied = false
	if len(f.networks) == 0 && len(f.ports) == 0 {
		return DeleteTable(f.table)
	}
	x, err := f.newTx()
	if err != nil {
		return err
	}
	l := x.l
	// The table, its sets and base rules go in one batch, so the kernel
	// never runs a half-built table's chains.
	x.c.AddTable(l.t)
	x.c.DelTable(l.t)
	x.c.AddTable(l.t)
	x.msgs += 3
	for _, s := range []*nftables.Set{l.bridges, l.icc, l.internal, l.loop4, l.dnat4, l.dnat4any, l.loop6, l.dnat6, l.dnat6any,
		l.noicc, l.routed4, l.routed6, l.unprot4, l.unprot6, l.open4, l.open6, l.self4, l.self6} {
		x.msgs++
		x.bytes += costObject
		if err := x.c.AddSet(s, nil); err != nil {
			return err
		}
	}
	for _, ch := range []*nftables.Chain{l.raw, l.forward, l.fwdIn, l.pre, l.out, l.post} {
		x.msgs++
		x.bytes += costObject
		x.c.AddChain(ch)
	}
	x.baseRules()
	for _, id := range slices.Sorted(maps.Keys(f.networks)) {
		x.addNetwork(f.networks[id])
	}
	var ports []Port
	for _, k := range slices.Sorted(maps.Keys(f.ports)) {
		ports = append(ports, f.ports[k])
	}
	x.addPorts(ports)
	seen := map[string]bool{}
	var open []Port
	for _, p := range ports {
		if !seen[p.openKey()] {
			seen[p.openKey()] = true
			open = append(open, p)
		}
	}
	x.setOpen(open, true)
	if err := x.flush(); err != nil {
		return err
	}
	f.applied = true
	if err := EnsureUserTable(f.table); err != nil {
		logrus.WithError(err).WithField("table", UserTable(f.table)).Warn("creating the table for administrators' rules")
	}
	return nil
}

// UserTable is the table berth makes for administrators' rules beside
// its own table: berth's DOCKER-USER.
func UserTable(table string) string { return table + "-user" }

// userForwardPriority runs the administrators' chain just before berth's
// forward chain (priority filter), as DOCKER-USER runs first in dockerd's
// FORWARD chain.
var userForwardPriority = nftables.ChainPriorityRef(*nftables.ChainPriorityFilter - 1)

// removeUnusedUserTable deletes the administrators' table only while it is
// exactly what EnsureUserTable made: one chain, no rule, no set.
func removeUnusedUserTable(table string) error {
	name := UserTable(table)
	c, err := nftables.New()
	if err != nil {
		return err
	}
	t, err := c.ListTableOfFamily(name, nftables.TableFamilyINet)
	if errors.Is(err, unix.ENOENT) {
		return nil
	} else if err != nil {
		return err
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return err
	}
	var mine []*nftables.Chain
	for _, ch := range chains {
		if ch.Table.Name == name {
			mine = append(mine, ch)
		}
	}
	if len(mine) != 1 || mine[0].Name != "forward" {
		return nil
	}
	if rules, err := c.GetRules(t, mine[0]); err != nil || len(rules) > 0 {
		return err
	}
	if sets, err := c.GetSets(t); err != nil || len(sets) > 0 {
		return err
	}
	return DeleteTable(name)
}

// EnsureUserTable creates the administrators' table, with an empty base
// chain "forward" at priority filter - 1, if it does not exist. An existing
// one is never touched: not its rules, not its chains' policies, even if
// the administrator changed them; berth never flushes or deletes it, so its
// rules outlive restarts of berth and rewrites of berth's table.
func EnsureUserTable(table string) error {
	name := UserTable(table)
	if ok, err := TableExists(name); err != nil || ok {
		return err
	}
	c, err := nftables.New()
	if err != nil {
		return err
	}
	accept := nftables.ChainPolicyAccept
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: name})
	c.AddChain(&nftables.Chain{Name: "forward", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: userForwardPriority, Policy: &accept})
	return c.Flush()
}

func (x *tx) baseRules() {
	l := x.l
	loopNet := netip.MustParsePrefix("127.0.0.0/8")
	drop := verdict(expr.VerdictDrop)
	accept := verdict(expr.VerdictAccept)

	x.rule(l.raw, "", cat(nfproto(false), ifnameIn(unix.NFT_META_IIFNAME, l.bridges), ipDaddrPrefix(loopNet), drop)...)
	x.rule(l.raw, "", cat(nfproto(false), ifname(unix.NFT_META_IIFNAME, "lo", false), addrProtoPortKey(), lookup(l.loop4, reg32_00), drop)...)
	x.rule(l.raw, "", cat(nfproto(true), ifname(unix.NFT_META_IIFNAME, "lo", false), addrProtoPortKey6(), lookup(l.loop6, reg32_00), drop)...)

	x.rule(l.forward, "", cat(ctState(expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED), accept)...)
	x.rule(l.forward, "", cat(ifnameIn(unix.NFT_META_OIFNAME, l.bridges), []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: l.fwdIn.Name}})...)
	x.rule(l.forward, "", cat(ifnameIn(unix.NFT_META_IIFNAME, l.internal), drop)...)
	x.rule(l.forward, "", cat(ifnameIn(unix.NFT_META_IIFNAME, l.bridges), accept)...)
	if x.f.dropForward4 {
		x.rule(l.forward, "", cat(nfproto(false), drop)...)
	}
	if x.f.dropForward6 {
		x.rule(l.forward, "", cat(nfproto(true), drop)...)
	}
	// (Firewall.forwardRules counts the rules above.)

	x.rule(l.fwdIn, "", cat([]expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: reg32_00},
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: reg32_04},
	}, lookup(l.icc, reg32_00), accept)...)
	x.rule(l.fwdIn, "", cat(ifnameIn(unix.NFT_META_OIFNAME, l.internal), drop)...)
	x.rule(l.fwdIn, "", cat(ctStatus(ipsDstNAT), accept)...)
	x.rule(l.fwdIn, "", cat([]expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: reg32_00},
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: reg32_04},
	}, lookup(l.noicc, reg32_00), drop)...)
	if x.f.markSet {
		x.rule(l.fwdIn, "", cat([]expr.Any{
			&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutilNative(x.f.mask), Xor: binaryutilNative(0)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutilNative(x.f.mark & x.f.mask)},
		}, accept)...)
	}
	x.rule(l.fwdIn, "", cat(nfproto(false), l4proto(unix.IPPROTO_ICMP), ifnameIn(unix.NFT_META_OIFNAME, l.routed4), accept)...)
	x.rule(l.fwdIn, "", cat(nfproto(true), l4proto(unix.IPPROTO_ICMPV6), ifnameIn(unix.NFT_META_OIFNAME, l.routed6), accept)...)
	x.rule(l.fwdIn, "", cat(nfproto(false), ifnameIn(unix.NFT_META_OIFNAME, l.unprot4), accept)...)
	x.rule(l.fwdIn, "", cat(nfproto(true), ifnameIn(unix.NFT_META_OIFNAME, l.unprot6), accept)...)
	x.rule(l.fwdIn, "", cat(nfproto(false), addrProtoPortKey(), lookup(l.open4, reg32_00), accept)...)
	x.rule(l.fwdIn, "", cat(nfproto(true), addrProtoPortKey6(), lookup(l.open6, reg32_00), accept)...)
	x.rule(l.fwdIn, "", drop...)

	if x.f.opts.UserlandProxy {
		x.rule(l.pre, "", cat(nfproto(false), saddrProtoPortKey(false), lookup(l.self4, reg32_00), verdict(expr.VerdictReturn))...)
		x.rule(l.pre, "", cat(nfproto(true), saddrProtoPortKey(true), lookup(l.self6, reg32_00), verdict(expr.VerdictReturn))...)
	}
	for _, ch := range []*nftables.Chain{l.pre, l.out} {
		x.rule(ch, "", cat(nfproto(false), addrProtoPortKey(), lookupMap(l.dnat4, reg32_00, 1), dnatReg())...)
		x.rule(ch, "", cat(nfproto(false), localDaddr(), []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg32_00},
			&expr.Payload{DestRegister: reg32_01, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		}, lookupMap(l.dnat4any, reg32_00, 1), dnatReg())...)
		x.rule(ch, "", cat(nfproto(true), notIP6Loopback(), notLinkLocalSaddr6(), addrProtoPortKey6(), lookupMap(l.dnat6, reg32_00, 1), dnatReg6())...)
		x.rule(ch, "", cat(nfproto(true), notIP6Loopback(), notLinkLocalSaddr6(), localDaddr(), []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg32_00},
			&expr.Payload{DestRegister: reg32_01, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		}, lookupMap(l.dnat6any, reg32_00, 1), dnatReg6())...)
	}
	// Traffic DNATed from the host's 127.0.0.1 keeps its loopback source;
	// rewrite it so the container can answer.
	x.rule(l.post, "", cat(nfproto(false), ipSaddr(loopNet), ifnameIn(unix.NFT_META_OIFNAME, l.bridges), []expr.Any{&expr.Masq{}})...)
}

func netTag(id string) string { return "berth-net " + id }

func (x *tx) addNetwork(n Network) {
	l := x.l
	x.elems(l.bridges, true, []nftables.SetElement{{Key: ifkey(n.Bridge)}})
	if n.ICC {
		x.elems(l.icc, true, []nftables.SetElement{{Key: append(ifkey(n.Bridge), ifkey(n.Bridge)...)}})
	}
	if n.Internal {
		x.elems(l.internal, true, []nftables.SetElement{{Key: ifkey(n.Bridge)}})
	}
	for _, s := range x.modeSets(n) {
		x.elems(s, true, []nftables.SetElement{{Key: ifkey(n.Bridge)}})
	}
	if !n.ICC {
		x.elems(l.noicc, true, []nftables.SetElement{{Key: append(ifkey(n.Bridge), ifkey(n.Bridge)...)}})
	}
	tag := netTag(n.ID)
	for _, s := range n.Subnets {
		if x.guarded(n, s.Addr().Is6()) {
			x.rule(l.raw, tag, x.directAccessDrop(n, s)...)
		}
	}
	for _, s := range n.Subnets {
		// Hairpin between containers: one container reaching another's
		// published port through the host's address is DNATed back out
		// of the same bridge; without a new source the reply would go
		// straight between the two and never be un-DNATed.
		x.rule(l.post, tag, cat(nfproto(s.Addr().Is6()), ctStatus(ipsDstNAT), ipSaddr(s), ifname(unix.NFT_META_OIFNAME, n.Bridge, true), []expr.Any{&expr.Masq{}})...)
		if n.Masquerade && !n.Internal && !n.routed(s.Addr().Is6()) {
			x.rule(l.post, tag, cat(nfproto(s.Addr().Is6()), ipSaddr(s), ifname(unix.NFT_META_OIFNAME, n.Bridge, false), []expr.Any{&expr.Masq{}})...)
		}
	}
}

func (x *tx) delNetwork(n Network) {
	l := x.l
	if x.err != nil {
		return
	}
	// Rules first: they are found by their tag, in the kernel's copy.
	rules, err := x.c.GetRules(l.t, l.post)
	if err != nil {
		x.err = err
		return
	}
	raw, err := x.c.GetRules(l.t, l.raw)
	if err != nil {
		x.err = err
		return
	}
	rules = append(rules, raw...)
	tag := netTag(n.ID)
	for _, r := range rules {
		if c, ok := userdata.GetString(r.UserData, userdata.TypeComment); ok && c == tag {
			if !x.room(costObject) {
				return
			}
			if err := x.c.DelRule(r); err != nil {
				x.err = err
				return
			}
		}
	}
	if n.Internal {
		x.elems(l.internal, false, []nftables.SetElement{{Key: ifkey(n.Bridge)}})
	}
	if n.ICC {
		x.elems(l.icc, false, []nftables.SetElement{{Key: append(ifkey(n.Bridge), ifkey(n.Bridge)...)}})
	} else {
		x.elems(l.noicc, false, []nftables.SetElement{{Key: append(ifkey(n.Bridge), ifkey(n.Bridge)...)}})
	}
	for _, s := range x.modeSets(n) {
		x.elems(s, false, []nftables.SetElement{{Key: ifkey(n.Bridge)}})
	}
	x.elems(l.bridges, false, []nftables.SetElement{{Key: ifkey(n.Bridge)}})
}

// modeSets are the gateway-mode sets the network's bridge belongs in.
func (x *tx) modeSets(n Network) []*nftables.Set {
	var out []*nftables.Set
	for _, m := range []struct {
		in  bool
		set *nftables.Set
	}{{n.Routed4, x.l.routed4}, {n.Routed6, x.l.routed6}, {n.Unprotected4, x.l.unprot4}, {n.Unprotected6, x.l.unprot6}} {
		if m.in && !n.Internal {
			out = append(out, m.set)
		}
	}
	return out
}

// guarded reports whether the network's family gets the guard against
// direct access: gateway mode nat, as dockerd's filterDirectAccess.
func (x *tx) guarded(n Network, v6 bool) bool {
	return !n.Internal && !n.routed(v6) && !n.unprotected(v6) && !x.f.opts.AllowDirectRouting
}

// directAccessDrop drops what addresses subnet s (but not the bridge's
// own addresses) and comes in on neither the bridge nor a trusted host
// interface: other hosts and other networks reach a nat network's
// containers only through their published ports on the host.
func (x *tx) directAccessDrop(n Network, s netip.Prefix) []expr.Any {
	v6 := s.Addr().Is6()
	_, dst, l := addrOffsets(v6)
	out := cat(nfproto(v6), ipDaddrPrefix(s))
	for _, gw := range n.Gateways {
		if gw.Is6() == v6 && s.Contains(gw) {
			out = append(out,
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: dst, Len: l},
				&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: gw.AsSlice()})
		}
	}
	out = append(out, ifname(unix.NFT_META_IIFNAME, n.Bridge, false)...)
	for _, t := range n.Trusted {
		out = append(out, ifname(unix.NFT_META_IIFNAME, t, false)...)
	}
	return append(out, &expr.Verdict{Kind: expr.VerdictDrop})
}

// portElems sorts ports into the elements of one family's sets.
func (x *tx) portElems(ports []Port, v6 bool) (specific, any, loop []nftables.SetElement) {
	for _, p := range ports {
		if p.OpenOnly || p.is6() != v6 {
			continue
		}
		proto, _ := protoNum(p.Proto)
		val := append(p.ContainerIP.AsSlice(), port32(p.ContainerPort)...)
		if p.anyHost() {
			any = append(any, nftables.SetElement{Key: append(proto32(proto), port32(p.HostPort)...), Val: val})
			continue
		}
		key := slices.Concat(p.HostIP.AsSlice(), proto32(proto), port32(p.HostPort))
		if p.HostIP.IsLoopback() {
			loop = append(loop, nftables.SetElement{Key: key})
			if v6 {
				// Never DNATed (see the layout): its socket serves it.
				continue
			}
		}
		specific = append(specific, nftables.SetElement{Key: key, Val: val})
	}
	return
}

func (x *tx) addPorts(ports []Port) { x.setPorts(ports, true) }

func (x *tx) delPorts(ports []Port) { x.setPorts(ports, false) }

// setPorts adds or deletes the ports' elements in both families' sets. A
// large change is sent in more than one batch, so the order is kept safe
// at every batch boundary: the drop-remote-loopback guard is filled before
// the DNAT maps, and emptied after them, so that a port published on
// loopback is never DNATed without its guard.
func (x *tx) setPorts(ports []Port, add bool) {
	l := x.l
	for _, fam := range []struct {
		v6                        bool
		loop, dnat, dnatAny, self *nftables.Set
	}{{false, l.loop4, l.dnat4, l.dnat4any, l.self4}, {true, l.loop6, l.dnat6, l.dnat6any, l.self6}} {
		s, a, lo := x.portElems(ports, fam.v6)
		steps := []struct {
			set *nftables.Set
			els []nftables.SetElement
		}{{fam.loop, lo}, {fam.dnat, s}, {fam.dnatAny, a}}
		if x.f.opts.UserlandProxy {
			steps = append(steps, struct {
				set *nftables.Set
				els []nftables.SetElement
			}{fam.self, x.selfElems(ports, fam.v6, add)})
		}
		if !add {
			slices.Reverse(steps)
		}
		for _, st := range steps {
			x.elems(st.set, add, st.els)
		}
	}
}

// selfElems are the self-set elements of ports of a family: the
// container's address, the protocol and the host port, once each. When
// deleting, an element another published port still needs is kept.
func (x *tx) selfElems(ports []Port, v6, add bool) []nftables.SetElement {
	key := func(p Port) string { return fmt.Sprintf("%s/%s/%d", p.Proto, p.ContainerIP, p.HostPort) }
	keep := map[string]bool{}
	if !add {
		for _, p := range x.f.ports {
			keep[key(p)] = true
		}
	}
	var out []nftables.SetElement
	for _, p := range ports {
		if p.OpenOnly || p.is6() != v6 || p.ContainerIP.Is6() != v6 || keep[key(p)] {
			continue
		}
		keep[key(p)] = true
		proto, _ := protoNum(p.Proto)
		out = append(out, nftables.SetElement{Key: slices.Concat(p.ContainerIP.AsSlice(), proto32(proto), port32(p.HostPort))})
	}
	return out
}

// setOpen adds or deletes the open-port elements of ports (one each).
func (x *tx) setOpen(ports []Port, add bool) {
	var e4, e6 []nftables.SetElement
	for _, p := range ports {
		proto, _ := protoNum(p.Proto)
		key := slices.Concat(p.ContainerIP.AsSlice(), proto32(proto), port32(p.ContainerPort))
		if p.ContainerIP.Is6() {
			e6 = append(e6, nftables.SetElement{Key: key})
		} else {
			e4 = append(e4, nftables.SetElement{Key: key})
		}
	}
	x.elems(x.l.open4, add, e4)
	x.elems(x.l.open6, add, e6)
}

func ifkey(name string) []byte {
	b := make([]byte, 16)
	copy(b, name)
	return b
}

// port32 and proto32 are a port and a protocol as concatenations hold
// them: network byte order, padded to 4 bytes.
func port32(p uint16) []byte {
	b := make([]byte, 4)
	binary.BigEndian.PutUint16(b, p)
	return b
}

func proto32(p byte) []byte { return []byte{p, 0, 0, 0} }

// addrProtoPortKey loads "ip daddr . meta l4proto . th dport".
func addrProtoPortKey() []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: reg32_00, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg32_01},
		&expr.Payload{DestRegister: reg32_02, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
	}
}

// addrProtoPortKey6 loads "ip6 daddr . meta l4proto . th dport": the
// address fills four 32-bit registers.
func addrProtoPortKey6() []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: reg32_00, Base: expr.PayloadBaseNetworkHeader, Offset: 24, Len: 16},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg32_04},
		&expr.Payload{DestRegister: reg32_05, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
	}
}

// notIP6Loopback is "ip6 daddr != ::1".
func notIP6Loopback() []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 24, Len: 16},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: netip.IPv6Loopback().AsSlice()},
	}
}

// saddrProtoPortKey loads "ip saddr . meta l4proto . th dport" (or ip6).
func saddrProtoPortKey(v6 bool) []expr.Any {
	src, _, l := addrOffsets(v6)
	protoReg, portReg := uint32(reg32_01), uint32(reg32_02)
	if v6 {
		protoReg, portReg = reg32_04, reg32_05
	}
	return []expr.Any{
		&expr.Payload{DestRegister: reg32_00, Base: expr.PayloadBaseNetworkHeader, Offset: src, Len: l},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: protoReg},
		&expr.Payload{DestRegister: portReg, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
	}
}

// notLinkLocalSaddr6 is "ip6 saddr != fe80::/10".
func notLinkLocalSaddr6() []expr.Any {
	m := prefixMatch(8, 16, netip.MustParsePrefix("fe80::/10"))
	m[len(m)-1].(*expr.Cmp).Op = expr.CmpOpNeq
	return m
}

// l4proto is "meta l4proto p".
func l4proto(p byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
	}
}

func lookup(s *nftables.Set, sreg uint32) []expr.Any {
	return []expr.Any{&expr.Lookup{SourceRegister: sreg, SetName: s.Name, SetID: s.ID}}
}

func lookupMap(s *nftables.Set, sreg, dreg uint32) []expr.Any {
	return []expr.Any{&expr.Lookup{SourceRegister: sreg, DestRegister: dreg, IsDestRegSet: true, SetName: s.Name, SetID: s.ID}}
}

// dnatReg is "dnat ip to" the address in register 1 and the port right
// after it, where a map lookup of "ipv4_addr . inet_service" leaves them.
func dnatReg() []expr.Any {
	return []expr.Any{&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: reg32_01, Specified: true}}
}

// dnatReg6 is "dnat ip6 to" the address in register 1 (16 bytes) and the
// port after it, where a lookup of "ipv6_addr . inet_service" leaves them.
func dnatReg6() []expr.Any {
	return []expr.Any{&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV6, RegAddrMin: 1, RegProtoMin: reg32_04, Specified: true}}
}

func ifnameIn(key uint32, s *nftables.Set) []expr.Any {
	return cat([]expr.Any{&expr.Meta{Key: expr.MetaKey(key), Register: 1}}, lookup(s, 1))
}

func ipDaddrPrefix(p netip.Prefix) []expr.Any {
	_, dst, l := addrOffsets(p.Addr().Is6())
	return prefixMatch(dst, l, p)
}

func cat(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func verdict(k expr.VerdictKind) []expr.Any { return []expr.Any{&expr.Verdict{Kind: k}} }

func ctState(bits uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutilNative(bits), Xor: binaryutilNative(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutilNative(0)},
	}
}

// ctStatus matches connections with any of the conntrack status bits.
func ctStatus(bits uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutilNative(bits), Xor: binaryutilNative(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutilNative(0)},
	}
}

func binaryutilNative(v uint32) []byte {
	b := make([]byte, 4)
	binary.NativeEndian.PutUint32(b, v)
	return b
}

// ifname matches an interface name exactly (eq) or anything else (!eq).
func ifname(key uint32, name string, eq bool) []expr.Any {
	b := make([]byte, 16)
	copy(b, name)
	op := expr.CmpOpEq
	if !eq {
		op = expr.CmpOpNeq
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKey(key), Register: 1},
		&expr.Cmp{Op: op, Register: 1, Data: b},
	}
}

func nfproto(v6 bool) []expr.Any {
	p := byte(unix.NFPROTO_IPV4)
	if v6 {
		p = unix.NFPROTO_IPV6
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
	}
}

func addrOffsets(v6 bool) (src, dst, l uint32) {
	if v6 {
		return 8, 24, 16
	}
	return 12, 16, 4
}

func ipSaddr(p netip.Prefix) []expr.Any {
	src, _, l := addrOffsets(p.Addr().Is6())
	return prefixMatch(src, l, p)
}

func prefixMatch(off, l uint32, p netip.Prefix) []expr.Any {
	p = p.Masked()
	a := p.Addr()
	mask := make([]byte, l)
	for i := 0; i < p.Bits(); i++ {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: l},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: l, Mask: mask, Xor: make([]byte, l)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a.AsSlice()},
	}
}

// localDaddr matches packets addressed to any local address (nft's
// `fib daddr type local`), which is what publishing on 0.0.0.0 means.
func localDaddr() []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutilNative(unix.RTN_LOCAL)},
	}
}

func protoNum(p string) (byte, error) {
	switch p {
	case "tcp", "":
		return unix.IPPROTO_TCP, nil
	case "udp":
		return unix.IPPROTO_UDP, nil
	case "sctp":
		return unix.IPPROTO_SCTP, nil
	}
	return 0, fmt.Errorf("unsupported protocol %q", p)
}

// ipsDstNAT is the kernel's IPS_DST_NAT conntrack status bit.
const ipsDstNAT = 1 << 5
