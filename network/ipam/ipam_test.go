package ipam

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/berthd/berth/pkg/errdefs"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ip(s string) netip.Addr    { return netip.MustParseAddr(s) }

func open(t testing.TB, pools4, pools6 []Pool) (*Allocator, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ipam")
	a, err := Open(path, pools4, pools6)
	if err != nil {
		t.Fatal(err)
	}
	return a, path
}

func TestDefaultPoolsPickInOrderAndSkipHostRoutes(t *testing.T) {
	a, _ := open(t, DefaultPools(), nil)
	a.HostConflict = func(p netip.Prefix) bool { return p.Overlaps(pfx("172.18.5.0/24")) }
	s1, err := a.AddNetwork("n1", nil, true, false)
	if err != nil {
		t.Fatal(err)
	}
	if s1[0].Prefix != pfx("172.17.0.0/16") || s1[0].Gateway != ip("172.17.0.1") {
		t.Fatalf("first network got %+v", s1[0])
	}
	s2, err := a.AddNetwork("n2", nil, true, false)
	if err != nil {
		t.Fatal(err)
	}
	if s2[0].Prefix != pfx("172.19.0.0/16") {
		t.Fatalf("second network should skip the host's 172.18.5.0/24, got %s", s2[0].Prefix)
	}
}

func TestConfiguredPoolsAndExhaustion(t *testing.T) {
	a, _ := open(t, []Pool{{Base: pfx("10.10.0.0/23"), Size: 24}}, nil)
	for i, want := range []string{"10.10.0.0/24", "10.10.1.0/24"} {
		s, err := a.AddNetwork(string(rune('a'+i)), nil, true, false)
		if err != nil || s[0].Prefix != pfx(want) {
			t.Fatalf("network %d: %v %v", i, s, err)
		}
	}
	if _, err := a.AddNetwork("c", nil, true, false); err != ErrNoMoreSubnets {
		t.Fatalf("want ErrNoMoreSubnets, got %v", err)
	}
	if _, ok := a.st.Networks["c"]; ok {
		t.Fatal("failed network left state behind")
	}
}

func TestRequestedSubnetOverlap(t *testing.T) {
	a, _ := open(t, DefaultPools(), nil)
	if _, err := a.AddNetwork("n1", []Request{{Subnet: pfx("10.1.0.0/16")}}, true, false); err != nil {
		t.Fatal(err)
	}
	_, err := a.AddNetwork("n2", []Request{{Subnet: pfx("10.1.2.0/24")}}, true, false)
	if err == nil || err.Error() != "invalid pool request: Pool overlaps with other one on this address space" || !errdefs.Is(err, errdefs.Forbidden) {
		t.Fatalf("overlap: %v", err)
	}
	// A default-pool pick must avoid the user's subnet too.
	a2, _ := open(t, []Pool{{Base: pfx("10.1.0.0/15"), Size: 16}}, nil)
	a2.AddNetwork("u", []Request{{Subnet: pfx("10.1.0.0/16")}}, true, false)
	s, err := a2.AddNetwork("auto", nil, true, false)
	if err != nil || s[0].Prefix != pfx("10.0.0.0/16") {
		t.Fatalf("auto pick: %v %v", s, err)
	}
}

func TestDynamicStaticNoDoubleAllocation(t *testing.T) {
	a, _ := open(t, nil, nil)
	_, err := a.AddNetwork("n", []Request{{
		Subnet:  pfx("192.168.50.0/24"),
		IPRange: pfx("192.168.50.128/30"),
		Gateway: ip("192.168.50.254"),
		Aux:     map[string]netip.Addr{"router": ip("192.168.50.129")},
	}}, true, false)
	if err != nil {
		t.Fatal(err)
	}
	// Range .128/30: .128 .129(aux) .130 .131 — .128 is usable inside the
	// subnet since only the subnet's own network address is excluded.
	var got []netip.Addr
	for i := 0; i < 3; i++ {
		p, err := a.RequestAddress("n", false, netip.Addr{}, "ep")
		if err != nil {
			t.Fatalf("alloc %d: %v", i, err)
		}
		if p.Bits() != 24 {
			t.Fatalf("prefix length %d", p.Bits())
		}
		got = append(got, p.Addr())
	}
	want := []netip.Addr{ip("192.168.50.128"), ip("192.168.50.130"), ip("192.168.50.131")}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("dynamic addresses %v, want %v", got, want)
		}
	}
	if _, err := a.RequestAddress("n", false, netip.Addr{}, "ep"); err != ErrNoAvailableIP {
		t.Fatalf("exhausted range: %v", err)
	}
	// Static addresses may lie outside the ip-range but not outside the subnet.
	if p, err := a.RequestAddress("n", false, ip("192.168.50.10"), "static"); err != nil || p.Addr() != ip("192.168.50.10") {
		t.Fatalf("static: %v %v", p, err)
	}
	if _, err := a.RequestAddress("n", false, ip("192.168.50.10"), "other"); err != ErrIPInUse {
		t.Fatalf("double static: %v", err)
	}
	for _, taken := range []string{"192.168.50.254", "192.168.50.129"} {
		if _, err := a.RequestAddress("n", false, ip(taken), "x"); err != ErrIPInUse {
			t.Fatalf("gateway/aux %s given out: %v", taken, err)
		}
	}
	if _, err := a.RequestAddress("n", false, ip("10.0.0.1"), "x"); !errdefs.Is(err, errdefs.InvalidParameter) {
		t.Fatalf("foreign static: %v", err)
	}
	if _, err := a.RequestAddress("n", false, ip("192.168.50.255"), "x"); !errdefs.Is(err, errdefs.InvalidParameter) {
		t.Fatalf("broadcast static: %v", err)
	}
	// A released address is handed out again at once, as dockerd does:
	// the lowest free one.
	if err := a.ReleaseAddress("n", ip("192.168.50.130")); err != nil {
		t.Fatal(err)
	}
	p, err := a.RequestAddress("n", false, netip.Addr{}, "ep")
	if err != nil || p.Addr() != ip("192.168.50.130") {
		// Only .130 is free in the range, so it must come back now.
		t.Fatalf("after release: %v %v", p, err)
	}
	// The gateway cannot be released by an endpoint.
	a.ReleaseAddress("n", ip("192.168.50.254"))
	if _, err := a.RequestAddress("n", false, ip("192.168.50.254"), "x"); err != ErrIPInUse {
		t.Fatalf("gateway released: %v", err)
	}
}

func TestPersistedAcrossRestart(t *testing.T) {
	a, path := open(t, DefaultPools(), []Pool{DefaultV6Pool("engine")})
	if _, err := a.AddNetwork("n", nil, true, true); err != nil {
		t.Fatal(err)
	}
	p4, _ := a.RequestAddress("n", false, netip.Addr{}, "ep1")
	p6, err := a.RequestAddress("n", true, netip.Addr{}, "ep1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(path, DefaultPools(), []Pool{DefaultV6Pool("engine")})
	if err != nil {
		t.Fatal(err)
	}
	subs := b.Subnets("n")
	if len(subs) != 2 || subs[0].Is6() || !subs[1].Is6() {
		t.Fatalf("subnets after reopen: %+v", subs)
	}
	if subs[0].Addrs[p4.Addr()] != "ep1" || subs[1].Addrs[p6.Addr()] != "ep1" {
		t.Fatalf("allocations lost: %+v", subs)
	}
	next, _ := b.RequestAddress("n", false, netip.Addr{}, "ep2")
	if next.Addr() == p4.Addr() {
		t.Fatal("address given twice after restart")
	}
	freed, err := b.ReleaseOwner("n", "ep1")
	if err != nil || len(freed) != 2 {
		t.Fatalf("release owner: %v %v", freed, err)
	}
	if err := b.RemoveNetwork("n"); err != nil {
		t.Fatal(err)
	}
	c, _ := Open(path, nil, nil)
	if len(c.Networks()) != 0 {
		t.Fatal("removed network persisted")
	}
}

func TestIPv6(t *testing.T) {
	pool := DefaultV6Pool("x")
	if pool.Base.Bits() != 48 || pool.Base.Addr().As16()[0] != 0xfd || pool.Size != 64 {
		t.Fatalf("v6 pool %v", pool)
	}
	if DefaultV6Pool("x") != pool || DefaultV6Pool("y") == pool {
		t.Fatal("v6 pool must be stable per seed and differ between seeds")
	}
	a, _ := open(t, nil, []Pool{pool})
	s, err := a.AddNetwork("n", []Request{{Subnet: pfx("2001:db8:1::/64"), Gateway: ip("2001:db8:1::fe")}}, false, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 1 || s[0].Gateway != ip("2001:db8:1::fe") {
		t.Fatalf("%+v", s)
	}
	p, err := a.RequestAddress("n", true, netip.Addr{}, "ep")
	if err != nil || p != pfx("2001:db8:1::1/64") {
		t.Fatalf("v6 dynamic: %v %v", p, err)
	}
	if _, err := a.AddNetwork("m", []Request{{Subnet: pfx("2001:db8:1::/48")}}, false, true); err != ErrPoolOverlap {
		t.Fatalf("v6 overlap: %v", err)
	}
	s2, err := a.AddNetwork("auto", nil, false, true)
	if err != nil || s2[0].Prefix != netip.PrefixFrom(pool.Base.Addr(), 64) {
		t.Fatalf("auto v6: %v %v", s2, err)
	}
	// A v6 request on a network without IPv6 is ignored, as dockerd does.
	s3, err := a.AddNetwork("v4only", []Request{{Subnet: pfx("2001:db8:9::/64")}}, false, false)
	if err != nil || len(s3) != 0 {
		t.Fatalf("ignored v6: %v %v", s3, err)
	}
}

func TestNthSubnetAndLast(t *testing.T) {
	if got := nthSubnet(pfx("192.168.0.0/16"), 20, 3); got != pfx("192.168.48.0/20") {
		t.Fatal(got)
	}
	if got := nthSubnet(pfx("fd00:1:2::/48"), 64, 0x102); got != pfx("fd00:1:2:102::/64") {
		t.Fatal(got)
	}
	if got := lastAddr(pfx("10.0.0.0/8")); got != ip("10.255.255.255") {
		t.Fatal(got)
	}
	if got := lastAddr(pfx("fd00::/120")); got != ip("fd00::ff") {
		t.Fatal(got)
	}
}

func TestStatus(t *testing.T) {
	a, _ := open(t, nil, nil)
	a.AddNetwork("n", []Request{{Subnet: pfx("10.9.0.0/24")}}, true, false)
	a.RequestAddress("n", false, netip.Addr{}, "ep")
	st := a.Status("n")[pfx("10.9.0.0/24")]
	// 256 - network - broadcast - gateway - one endpoint.
	if st[0] != 2 || st[1] != 252 {
		t.Fatalf("status %v", st)
	}
}

// The lowest free address goes out, so a new container takes the address
// of one just removed, as with dockerd's local networks.
func TestLowestFreeAddress(t *testing.T) {
	a, _ := open(t, nil, nil)
	if _, err := a.AddNetwork("n", []Request{{Subnet: pfx("172.24.10.0/24"), Gateway: ip("172.24.10.1")}}, true, false); err != nil {
		t.Fatal(err)
	}
	first, err := a.RequestAddress("n", false, netip.Addr{}, "a")
	if err != nil || first.Addr() != ip("172.24.10.2") {
		t.Fatalf("first: %v %v", first, err)
	}
	if p, err := a.RequestAddress("n", false, netip.Addr{}, "b"); err != nil || p.Addr() != ip("172.24.10.3") {
		t.Fatalf("second: %v %v", p, err)
	}
	if err := a.ReleaseAddress("n", first.Addr()); err != nil {
		t.Fatal(err)
	}
	if p, err := a.RequestAddress("n", false, netip.Addr{}, "c"); err != nil || p != first {
		t.Fatalf("after release: %v %v, want %v", p, err, first)
	}
}

// A /31 without a gateway (gateway mode isolated, or internal with
// inhibit_ipv4) gives both its addresses to containers, as dockerd does.
func TestPointToPointSubnet(t *testing.T) {
	a, _ := open(t, nil, nil)
	if _, err := a.AddNetwork("n", []Request{{Subnet: pfx("192.168.135.0/31"), NoGateway: true}}, true, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"192.168.135.0", "192.168.135.1"} {
		if p, err := a.RequestAddress("n", false, netip.Addr{}, "ep"); err != nil || p.Addr() != ip(want) {
			t.Fatalf("got %v %v, want %s", p, err, want)
		}
	}
	// Only the pool subnets of the family asked for go without a gateway.
	b, _ := open(t, []Pool{{Base: pfx("10.9.0.0/16"), Size: 24}}, []Pool{{Base: pfx("fd00:9::/48"), Size: 64}})
	subs, err := b.AddNetwork("m", []Request{{NoGateway: true, Family: 6}}, true, true)
	if err != nil || len(subs) != 2 {
		t.Fatalf("%v %v", subs, err)
	}
	for _, s := range subs {
		if s.Gateway.IsValid() == s.Is6() {
			t.Errorf("%s: gateway %v", s.Prefix, s.Gateway)
		}
	}
}
