package firewall

import (
	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
)

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
//	    for local destinations (in output, not to 127.0.0.0/8 while the
//	    userland proxy is on: the port's socket takes those, as
//	    dockerd's docker-proxy does); the same through dnat6 and dnat6any, but
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
