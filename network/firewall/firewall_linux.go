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
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
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
}

// Port is one published port.
type Port struct {
	// Proto is "tcp", "udp" or "sctp".
	Proto string
	// HostIP is the address the port is published on; zero means every
	// local address.
	HostIP   netip.Addr
	HostPort uint16
	// Bridge is the container's network's bridge.
	Bridge        string
	ContainerIP   netip.Addr
	ContainerPort uint16
}

func (p Port) key() string {
	return fmt.Sprintf("%s/%s/%d/%s", p.Proto, p.HostIP, p.HostPort, p.ContainerIP)
}

// Firewall keeps the desired rules and programs them into the table.
type Firewall struct {
	mu       sync.Mutex
	table    string
	networks map[string]Network
	ports    map[string]Port
	// applied is true once the table exists in the kernel.
	applied bool
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
	f.networks[n.ID] = n
	if err := f.apply(); err != nil {
		if had {
			f.networks[n.ID] = old
		} else {
			delete(f.networks, n.ID)
		}
		return err
	}
	return nil
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
	for k, p := range f.ports {
		if p.Bridge == n.Bridge {
			delete(f.ports, k)
		}
	}
	return f.apply()
}

// AddPorts publishes ports; on error none of them is.
func (f *Firewall) AddPorts(ports ...Port) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range ports {
		if _, err := protoNum(p.Proto); err != nil {
			return err
		}
		if p.HostIP.IsValid() && p.HostIP.Is4() != p.ContainerIP.Is4() {
			return fmt.Errorf("port %d: host address %s and container address %s differ in family", p.HostPort, p.HostIP, p.ContainerIP)
		}
	}
	prev := maps.Clone(f.ports)
	for _, p := range ports {
		f.ports[p.key()] = p
	}
	if err := f.apply(); err != nil {
		f.ports = prev
		return err
	}
	return nil
}

// RemovePorts unpublishes ports.
func (f *Firewall) RemovePorts(ports ...Port) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range ports {
		delete(f.ports, p.key())
	}
	return f.apply()
}

// Apply (re)writes the table from the current state, for daemon start.
func (f *Firewall) Apply() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.apply()
}

// Remove deletes berth's table and forgets nothing: a later Apply puts it
// back. Used at daemon shutdown and by tests.
func (f *Firewall) Remove() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = false
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

// Chain priorities as nft names them: dstnat -100, filter 0, srcnat 100.
var (
	prioDstNAT = nftables.ChainPriorityRef(*nftables.ChainPriorityNATDest)
	prioFilter = nftables.ChainPriorityRef(*nftables.ChainPriorityFilter)
	prioSrcNAT = nftables.ChainPriorityRef(*nftables.ChainPriorityNATSource)
)

func (f *Firewall) apply() error {
	if len(f.networks) == 0 && len(f.ports) == 0 {
		// Nothing to enforce: no table at all, so a daemon with no
		// networks leaves the ruleset exactly as it found it.
		if !f.applied {
			return nil
		}
		f.applied = false
		return DeleteTable(f.table)
	}
	c, err := nftables.New()
	if err != nil {
		return err
	}
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: f.table}
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	accept := nftables.ChainPolicyAccept
	forward := c.AddChain(&nftables.Chain{Name: "forward", Table: t, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookForward, Priority: prioFilter, Policy: &accept})
	pre := c.AddChain(&nftables.Chain{Name: "prerouting", Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPrerouting, Priority: prioDstNAT, Policy: &accept})
	out := c.AddChain(&nftables.Chain{Name: "output", Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookOutput, Priority: prioDstNAT, Policy: &accept})
	post := c.AddChain(&nftables.Chain{Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPostrouting, Priority: prioSrcNAT, Policy: &accept})

	rule := func(ch *nftables.Chain, exprs ...expr.Any) {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: exprs})
	}
	ids := slices.Sorted(maps.Keys(f.networks))
	bridges := map[string]bool{}
	for _, id := range ids {
		bridges[f.networks[id].Bridge] = true
	}

	// Forward filter. Replies to connections a container opened (or that
	// were published) pass first, so the drops below only stop new flows.
	rule(forward, cat(ctState(expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED), verdict(expr.VerdictAccept))...)
	for _, id := range ids {
		n := f.networks[id]
		if n.Internal {
			rule(forward, cat(ifname(unix.NFT_META_IIFNAME, n.Bridge, true), ifname(unix.NFT_META_OIFNAME, n.Bridge, false), verdict(expr.VerdictDrop))...)
			rule(forward, cat(ifname(unix.NFT_META_OIFNAME, n.Bridge, true), ifname(unix.NFT_META_IIFNAME, n.Bridge, false), verdict(expr.VerdictDrop))...)
		}
		if !n.ICC {
			rule(forward, cat(ifname(unix.NFT_META_IIFNAME, n.Bridge, true), ifname(unix.NFT_META_OIFNAME, n.Bridge, true), verdict(expr.VerdictDrop))...)
		}
		// Isolation: nothing from this bridge reaches another of berth's
		// bridges, whichever way round.
		for _, other := range ids {
			ob := f.networks[other].Bridge
			if ob == n.Bridge {
				continue
			}
			rule(forward, cat(ifname(unix.NFT_META_IIFNAME, n.Bridge, true), ifname(unix.NFT_META_OIFNAME, ob, true), verdict(expr.VerdictDrop))...)
		}
	}

	// Published ports.
	for _, k := range slices.Sorted(maps.Keys(f.ports)) {
		p := f.ports[k]
		proto, _ := protoNum(p.Proto)
		v6 := p.ContainerIP.Is6()
		var match []expr.Any
		match = append(match, nfproto(v6)...)
		if p.HostIP.IsValid() && !p.HostIP.IsUnspecified() {
			match = append(match, ipDaddr(p.HostIP)...)
		} else {
			match = append(match, localDaddr()...)
		}
		match = append(match, l4dport(proto, p.HostPort)...)
		dnat := dnatTo(p.ContainerIP, p.ContainerPort)
		rule(pre, cat(match, dnat)...)
		rule(out, cat(match, dnat)...)
		// Hairpin: a container reaching its own published port through
		// the host needs its source rewritten, or the reply would go
		// straight back without un-DNAT.
		rule(post, cat(nfproto(v6), ipSaddr(netip.PrefixFrom(p.ContainerIP, p.ContainerIP.BitLen())), ipDaddrExact(p.ContainerIP), l4dport(proto, p.ContainerPort), []expr.Any{&expr.Masq{}})...)
	}

	// Source NAT.
	for _, id := range ids {
		n := f.networks[id]
		if !n.Internal {
			// Traffic DNATed from 127.0.0.1 keeps its loopback source;
			// rewrite it so the container can answer (route_localnet).
			rule(post, cat(nfproto(false), ipSaddr(netip.MustParsePrefix("127.0.0.0/8")), ifname(unix.NFT_META_OIFNAME, n.Bridge, true), []expr.Any{&expr.Masq{}})...)
		}
		// Hairpin between containers: one container reaching another's
		// published port through the host's address is DNATed back out
		// of the same bridge; without a new source the reply would go
		// straight between the two and never be un-DNATed.
		for _, s := range n.Subnets {
			rule(post, cat(nfproto(s.Addr().Is6()), ctStatus(ipsDstNAT), ipSaddr(s), ifname(unix.NFT_META_OIFNAME, n.Bridge, true), []expr.Any{&expr.Masq{}})...)
		}
		if !n.Masquerade || n.Internal {
			continue
		}
		for _, s := range n.Subnets {
			rule(post, cat(nfproto(s.Addr().Is6()), ipSaddr(s), ifname(unix.NFT_META_OIFNAME, n.Bridge, false), []expr.Any{&expr.Masq{}})...)
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("program nftables table %s: %w", f.table, err)
	}
	f.applied = true
	return nil
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

func ipDaddr(a netip.Addr) []expr.Any {
	return ipDaddrExact(a)
}

func ipDaddrExact(a netip.Addr) []expr.Any {
	_, dst, l := addrOffsets(a.Is6())
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: dst, Len: l},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a.AsSlice()},
	}
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

func l4dport(proto byte, port uint16) []expr.Any {
	pb := make([]byte, 2)
	binary.BigEndian.PutUint16(pb, port)
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: pb},
	}
}

func dnatTo(a netip.Addr, port uint16) []expr.Any {
	pb := make([]byte, 2)
	binary.BigEndian.PutUint16(pb, port)
	fam := uint32(unix.NFPROTO_IPV4)
	if a.Is6() {
		fam = unix.NFPROTO_IPV6
	}
	return []expr.Any{
		&expr.Immediate{Register: 1, Data: a.AsSlice()},
		&expr.Immediate{Register: 2, Data: pb},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: fam, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
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
