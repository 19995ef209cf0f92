package ipam

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// bruteFirstFree is the pick as it was: every candidate against every
// subnet.
func bruteFirstFree(a *Allocator, pool Pool) (netip.Prefix, bool) {
	for i := uint64(0); i < subnetCount(pool.Base, pool.Size); i++ {
		cand := nthSubnet(pool.Base, pool.Size, i)
		if !pool.Base.Contains(cand.Addr()) {
			break
		}
		if !a.overlapsAny(cand) {
			return cand, true
		}
	}
	return netip.Prefix{}, false
}

// The span-based pick agrees with the brute-force one, with subnets of
// every size inside, around and across the pool, in both families.
func TestPickMatchesBruteForce(t *testing.T) {
	for _, pool := range []Pool{
		{Base: pfx("10.40.0.0/16"), Size: 24},
		{Base: pfx("10.40.0.0/20"), Size: 26},
		{Base: pfx("fd12:3400::/52"), Size: 64},
	} {
		r := rand.New(rand.NewPCG(1, uint64(pool.Size)))
		for round := 0; round < 100; round++ {
			a, _ := open(t, []Pool{pool}, []Pool{pool})
			k := r.IntN(40)
			for j := 0; j < k; j++ {
				// A random subnet somewhere in or near the pool.
				bits := pool.Base.Bits() - 2 + r.IntN(pool.Size-pool.Base.Bits()+8)
				bits = min(bits, pool.Base.Addr().BitLen())
				off := uint64(r.IntN(1 << 12))
				addr := nthSubnet(netip.PrefixFrom(pool.Base.Addr(), pool.Base.Bits()-2), pool.Base.Addr().BitLen(), off<<(pool.Base.Addr().BitLen()-pool.Size-2)).Addr()
				p := netip.PrefixFrom(addr, bits).Masked()
				if a.overlapsAny(p) {
					continue
				}
				a.st.Networks[fmt.Sprint(j)] = append(a.st.Networks[fmt.Sprint(j)], &Subnet{Prefix: p})
			}
			want, ok := bruteFirstFree(a, pool)
			got, err := a.pickFromPools([]Pool{pool})
			if ok != (err == nil) || ok && got != want {
				t.Fatalf("pool %v with %v: pick %v %v, brute force %v %v", pool, a.st.Networks, got, err, want, ok)
			}
		}
	}
}

// The 1000th pick costs what the first does (no scan over every network
// per candidate).
func BenchmarkPickWithManyNetworks(b *testing.B) {
	a, _ := open(b, []Pool{{Base: pfx("10.0.0.0/8"), Size: 24}}, nil)
	for i := 0; i < 1000; i++ {
		p, err := a.pickFromPools(a.pools4)
		if err != nil {
			b.Fatal(err)
		}
		a.st.Networks[fmt.Sprint(i)] = []*Subnet{{Prefix: p}}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := a.pickFromPools(a.pools4); err != nil {
			b.Fatal(err)
		}
	}
}
