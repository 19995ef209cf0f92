package ipam

import (
	"net/netip"
	"testing"
)

func TestNoGateway(t *testing.T) {
	a, _ := open(t, []Pool{{Base: pfx("10.77.0.0/16"), Size: 24}}, nil)
	// A requested subnet without gateway, and one with a gateway given,
	// which is kept.
	subs, err := a.AddNetwork("n1", []Request{{Subnet: pfx("10.78.0.0/24"), NoGateway: true}}, true, false)
	if err != nil || subs[0].Gateway.IsValid() {
		t.Fatalf("requested subnet: %v %+v", err, subs)
	}
	subs, err = a.AddNetwork("n2", []Request{{Subnet: pfx("10.78.1.0/24"), Gateway: ip("10.78.1.254"), NoGateway: true}}, true, false)
	if err != nil || subs[0].Gateway != ip("10.78.1.254") {
		t.Fatalf("given gateway: %v %+v", err, subs)
	}
	// A subnet-less request carries NoGateway to the pool's subnets.
	subs, err = a.AddNetwork("n3", []Request{{NoGateway: true}}, true, false)
	if err != nil || len(subs) != 1 || subs[0].Prefix != pfx("10.77.0.0/24") || subs[0].Gateway.IsValid() {
		t.Fatalf("pool subnet: %v %+v", err, subs)
	}
	// The first address is then the first one given out.
	p, err := a.RequestAddress("n3", false, netip.Addr{}, "ep")
	if err != nil || p.Addr() != ip("10.77.0.1") {
		t.Fatalf("first address: %v %v", p, err)
	}
	// Without NoGateway the pool's subnet has its gateway as before.
	subs, _ = a.AddNetwork("n4", nil, true, false)
	if subs[0].Gateway != ip("10.77.1.1") {
		t.Fatalf("default gateway: %+v", subs)
	}
}
