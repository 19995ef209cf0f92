package firewall

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/google/nftables"
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
