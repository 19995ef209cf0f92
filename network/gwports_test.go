package network

import (
	"net/netip"
	"testing"
)

// Which host families each endpoint of a container maps, by dockerd's
// rule: the IPv4 gateway maps IPv4, the IPv6 gateway IPv6, and the IPv4
// gateway IPv6 too (proxied) while there is no IPv6 gateway; an endpoint
// that is neither maps nothing.
func TestHostFamiliesFollowGateways(t *testing.T) {
	ep := func(net string, v4, v6 bool) *Record {
		e := &Endpoint{ID: "ep-" + net, ContainerID: "c"}
		if v4 {
			e.IPv4, e.Gateway4 = netip.MustParsePrefix("10.0.0.2/24"), netip.MustParseAddr("10.0.0.1")
		}
		if v6 {
			e.IPv6, e.Gateway6 = netip.MustParsePrefix("fd00::2/64"), netip.MustParseAddr("fd00::1")
		}
		return &Record{ID: "id-" + net, Name: net, Driver: DriverBridge, Endpoints: map[string]*Endpoint{e.ID: e}}
	}
	for _, tc := range []struct {
		name string
		nets []*Record
		want map[string]hostFamilies
	}{
		{"IPv4 only", []*Record{ep("net4", true, false)},
			map[string]hostFamilies{"net4": {v4: true, v6: true}}},
		{"IPv6-only network joined", []*Record{ep("net4", true, false), ep("net6", false, true)},
			map[string]hostFamilies{"net4": {v4: true}, "net6": {v6: true}}},
		{"dual-stack network joined", []*Record{ep("net4", true, false), ep("net46", true, true)},
			map[string]hostFamilies{"net4": {}, "net46": {v4: true, v6: true}}},
		{"internal (no gateway) only", []*Record{ep("int", false, false)},
			map[string]hostFamilies{"int": {}}},
	} {
		m := &Manager{nets: map[string]*Record{}}
		for _, r := range tc.nets {
			m.nets[r.ID] = r
		}
		for _, r := range tc.nets {
			for _, e := range r.Endpoints {
				if got := m.hostFamiliesLocked("c", e); got != tc.want[r.Name] {
					t.Errorf("%s: %s maps %+v, want %+v", tc.name, r.Name, got, tc.want[r.Name])
				}
			}
		}
	}
}
