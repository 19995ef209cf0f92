package ipam

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
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

// One file per network; the single file of older versions is moved in.
func TestPerNetworkFilesAndMigration(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ipam")
	legacy := `{"networks":{"old1":[{"prefix":"10.77.1.0/24","gateway":"10.77.1.1","addrs":{"10.77.1.1":"gateway","10.77.1.2":"ep1"}}]}}`
	if err := os.WriteFile(dir+".json", []byte(legacy), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := Open(dir, []Pool{{Base: pfx("10.77.0.0/16"), Size: 24}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if subs := a.Subnets("old1"); len(subs) != 1 || subs[0].Prefix != pfx("10.77.1.0/24") {
		t.Fatalf("migrated subnets: %+v", subs)
	}
	if _, err := os.Stat(dir + ".json"); !os.IsNotExist(err) {
		t.Fatalf("the old state file is still there: %v", err)
	}
	if _, err := a.AddNetwork("new1", nil, true, false); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"old1", "new1"} {
		if _, err := os.Stat(filepath.Join(dir, id+".json")); err != nil {
			t.Fatalf("no file for %s: %v", id, err)
		}
	}
	if err := a.RemoveNetwork("old1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "old1.json")); !os.IsNotExist(err) {
		t.Fatalf("a removed network's file stayed: %v", err)
	}
	b, err := Open(dir, []Pool{{Base: pfx("10.77.0.0/16"), Size: 24}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Subnets("old1")) != 0 || len(b.Subnets("new1")) != 1 {
		t.Fatalf("reopened: old1 %v new1 %v", b.Subnets("old1"), b.Subnets("new1"))
	}
	if got := b.Subnets("new1")[0].Prefix; got == pfx("10.77.1.0/24") {
		t.Fatalf("new1 got the migrated network's subnet %s", got)
	}
}
