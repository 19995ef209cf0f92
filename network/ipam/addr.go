package ipam

import (
	"encoding/binary"
	"net/netip"
)

// u128 is an address as a 128-bit integer, enough to step through IPv4 and
// IPv6 prefixes with the same code.
type u128 struct{ hi, lo uint64 }

func toU128(a netip.Addr) u128 {
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func fromU128(v u128, is4 bool) netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], v.hi)
	binary.BigEndian.PutUint64(b[8:], v.lo)
	a := netip.AddrFrom16(b)
	if is4 {
		return a.Unmap()
	}
	return a
}

func (v u128) add(w u128) u128 {
	lo := v.lo + w.lo
	hi := v.hi + w.hi
	if lo < v.lo {
		hi++
	}
	return u128{hi, lo}
}

func (v u128) sub(w u128) u128 {
	lo := v.lo - w.lo
	hi := v.hi - w.hi
	if v.lo < w.lo {
		hi--
	}
	return u128{hi, lo}
}

func (v u128) shr(s int) u128 {
	switch {
	case s <= 0:
		return v
	case s >= 128:
		return u128{}
	case s >= 64:
		return u128{0, v.hi >> (s - 64)}
	default:
		return u128{v.hi >> s, v.lo>>s | v.hi<<(64-s)}
	}
}

// subnetIndex is the index (as nthSubnet counts) of the prefix of length
// size inside base that holds a, which must be in base; capped at limit.
func subnetIndex(base netip.Prefix, size int, a netip.Addr, limit uint64) uint64 {
	d := toU128(a).sub(toU128(base.Masked().Addr())).shr(base.Addr().BitLen() - size)
	if d.hi != 0 || d.lo > limit {
		return limit
	}
	return d.lo
}

func (v u128) or(w u128) u128 { return u128{v.hi | w.hi, v.lo | w.lo} }

// hostMask is the mask of the host bits of a prefix of the given length
// within a 128-bit address.
func hostMask(bits128 int) u128 {
	switch {
	case bits128 <= 0:
		return u128{^uint64(0), ^uint64(0)}
	case bits128 >= 128:
		return u128{}
	case bits128 >= 64:
		return u128{0, ^uint64(0) >> (bits128 - 64)}
	default:
		return u128{^uint64(0) >> bits128, ^uint64(0)}
	}
}

// bits128 is the prefix length counted within the 16-byte form.
func bits128(p netip.Prefix) int {
	if p.Addr().Is4() {
		return p.Bits() + 96
	}
	return p.Bits()
}

// lastAddr is the highest address in p (the IPv4 broadcast address).
func lastAddr(p netip.Prefix) netip.Addr {
	p = p.Masked()
	return fromU128(toU128(p.Addr()).or(hostMask(bits128(p))), p.Addr().Is4())
}

// nthSubnet returns the i-th prefix of length size inside base.
func nthSubnet(base netip.Prefix, size int, i uint64) netip.Prefix {
	is4 := base.Addr().Is4()
	shift := base.Addr().BitLen() - size
	step := u128{0, i}
	// i << shift within 128 bits.
	if shift >= 64 {
		step = u128{i << (shift - 64), 0}
	} else if shift > 0 {
		step = u128{i >> (64 - shift), i << shift}
	}
	a := fromU128(toU128(base.Masked().Addr()).add(step), is4)
	return netip.PrefixFrom(a, size)
}

// subnetCount is how many prefixes of length size fit in base, capped so
// that an IPv6 pool does not make a loop run for ever.
func subnetCount(base netip.Prefix, size int) uint64 {
	n := size - base.Bits()
	if n >= 32 {
		return 1 << 32
	}
	return 1 << n
}
