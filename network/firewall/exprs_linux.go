package firewall

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

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

// notIPDaddrPrefix matches packets whose destination is outside p.
func notIPDaddrPrefix(p netip.Prefix) []expr.Any {
	m := ipDaddrPrefix(p)
	m[len(m)-1].(*expr.Cmp).Op = expr.CmpOpNeq
	return m
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
