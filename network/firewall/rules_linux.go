package firewall

import (
	"maps"
	"net/netip"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

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
		// With the userland proxy, the host's own connections to
		// 127.0.0.0/8 are not DNATed: the published port's socket takes
		// them and its proxy connects to the container, as dockerd's
		// docker-proxy does (its rules skip loopback unless the proxy is
		// off). The proxy also waits for a container still starting its
		// server, where NAT would have the connection refused, and no
		// bridge needs route_localnet.
		var v4 []expr.Any
		if ch == l.out && x.f.opts.UserlandProxy {
			v4 = notIPDaddrPrefix(loopNet)
		}
		x.rule(ch, "", cat(nfproto(false), v4, addrProtoPortKey(), lookupMap(l.dnat4, reg32_00, 1), dnatReg())...)
		x.rule(ch, "", cat(nfproto(false), v4, localDaddr(), []expr.Any{
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
