package ipam

import (
	"net/netip"
	"testing"
)

// dockerd's local IPAM hands out the lowest free address: one released
// comes back at once (a container reconnected to a network gets its old
// address again), ahead of higher ones never used.
func TestLowestFreeAddressFirst(t *testing.T) {
	a, _ := open(t, DefaultPools(), nil)
	if _, err := a.AddNetwork("n", nil, true, false); err != nil {
		t.Fatal(err)
	}
	var got []netip.Addr
	for _, owner := range []string{"a", "b", "c"} {
		p, err := a.RequestAddress("n", false, netip.Addr{}, owner)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.Addr())
	}
	if got[0] != ip("172.17.0.2") || got[2] != ip("172.17.0.4") {
		t.Fatalf("first addresses: %v", got)
	}
	if err := a.ReleaseAddress("n", got[0]); err != nil {
		t.Fatal(err)
	}
	if p, err := a.RequestAddress("n", false, netip.Addr{}, "d"); err != nil || p.Addr() != got[0] {
		t.Fatalf("after releasing %s: %v %v", got[0], p, err)
	}
	if p, err := a.RequestAddress("n", false, netip.Addr{}, "e"); err != nil || p.Addr() != ip("172.17.0.5") {
		t.Fatalf("next: %v %v", p, err)
	}
}
