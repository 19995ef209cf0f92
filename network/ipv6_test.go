package network

import (
	"net/netip"
	"strings"
	"testing"
)

func TestValidateIPv6Subnet(t *testing.T) {
	for s, want := range map[string]string{
		"fd12:3456::/64":      "",
		"fd12:3456::/80":      "", // dockerd 28 takes prefixes longer than /64
		"fe80::/64":           "",
		"fe80::/80":           "'fe80::/80' clashes with the Link-Local prefix 'fe80::/64'",
		"fe80::/10":           "'fe80::/10' clashes with the Link-Local prefix 'fe80::/64'",
		"ff05::/64":           "multicast subnet 'ff05::/64' is not allowed",
		"10.0.0.0/24":         "'10.0.0.0/24' is not a valid IPv6 subnet",
		"::ffff:10.0.0.0/120": "'::ffff:10.0.0.0/120' is not a valid IPv6 subnet",
	} {
		err := ValidateIPv6Subnet(netip.MustParsePrefix(s))
		if (err == nil) != (want == "") || err != nil && err.Error() != want {
			t.Errorf("%s: got %v, want %q", s, err, want)
		}
	}
}

// Which host addresses a port is published on, as dockerd decides.
func TestBindTargets(t *testing.T) {
	if !ipv6Listenable() {
		t.Skip("host without IPv6")
	}
	v4 := netip.MustParsePrefix("10.1.2.3/24")
	v6 := netip.MustParsePrefix("fd12::3/64")
	show := func(ts []bindTarget) string {
		var out []string
		for _, tg := range ts {
			s := tg.hostIP.String() + ">" + tg.ctrIP.String()
			switch {
			case tg.open:
				s += "(open)"
			case !tg.nat:
				s += "(proxy)"
			}
			out = append(out, s)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		ep     Endpoint
		proxy  bool
		hostIP string
		want   string
		gw4    string
		gw6    string
	}{
		{Endpoint{IPv4: v4, IPv6: v6}, true, "", "0.0.0.0>10.1.2.3 ::>fd12::3", "", ""},
		{Endpoint{IPv4: v4}, true, "", "0.0.0.0>10.1.2.3 ::>10.1.2.3(proxy)", "", ""},
		{Endpoint{IPv4: v4}, false, "", "0.0.0.0>10.1.2.3", "", ""},
		{Endpoint{IPv6: v6}, true, "", "::>fd12::3", "", ""},
		{Endpoint{IPv4: v4, IPv6: v6}, true, "127.0.0.1", "127.0.0.1>10.1.2.3", "", ""},
		{Endpoint{IPv4: v4, IPv6: v6}, true, "::1", "::1>fd12::3", "", ""},
		{Endpoint{IPv4: v4, IPv6: v6}, true, "0.0.0.0", "0.0.0.0>10.1.2.3", "", ""},
		{Endpoint{IPv6: v6}, true, "0.0.0.0", "", "", ""},
		{Endpoint{IPv4: v4}, false, "::", "", "", ""},
		// Gateway mode routed maps nothing on the host for its family;
		// its binding comes after the mapped ones (dockerd's inspect).
		{Endpoint{IPv4: v4, IPv6: v6}, true, "", "0.0.0.0>10.1.2.3 ::>fd12::3(open)", "nat", "routed"},
		{Endpoint{IPv4: v4, IPv6: v6}, true, "", "::>fd12::3 0.0.0.0>10.1.2.3(open)", "routed", "nat"},
		{Endpoint{IPv4: v4, IPv6: v6}, true, "", "0.0.0.0>10.1.2.3(open) ::>fd12::3(open)", "routed", "routed"},
		{Endpoint{IPv4: v4}, true, "", "0.0.0.0>10.1.2.3(open)", "routed", ""},
		{Endpoint{IPv4: v4, IPv6: v6}, true, "", "0.0.0.0>10.1.2.3 ::>fd12::3", "nat-unprotected", "nat-unprotected"},
		{Endpoint{IPv4: v4, IPv6: v6}, true, "::", "::>fd12::3(open)", "nat", "routed"},
	} {
		m := &Manager{cfg: Config{UserlandProxy: tc.proxy}}
		var h netip.Addr
		if tc.hostIP != "" {
			h = netip.MustParseAddr(tc.hostIP)
		}
		r := &Record{Options: map[string]string{}}
		if tc.gw4 != "" {
			r.Options[OptGwModeIPv4] = tc.gw4
		}
		if tc.gw6 != "" {
			r.Options[OptGwModeIPv6] = tc.gw6
		}
		if got := show(m.bindTargets(r, &tc.ep, h)); got != tc.want {
			t.Errorf("%+v proxy=%v host %q modes %q/%q: got %q, want %q", tc.ep, tc.proxy, tc.hostIP, tc.gw4, tc.gw6, got, tc.want)
		}
	}
}

// :: and 0.0.0.0 are different sockets (IPV6_V6ONLY): publishing one does
// not make the other "already allocated".
func TestAllocatedByFamily(t *testing.T) {
	m := &Manager{pubs: map[string][]*publication{"c": {{bindings: []PortBinding{
		{PortSpec: PortSpec{Proto: "tcp", HostIP: netip.IPv4Unspecified(), HostPort: 8080}},
	}}}}}
	for h, want := range map[string]bool{"0.0.0.0": true, "127.0.0.1": true, "::": false, "::1": false} {
		if got := m.allocatedLocked("tcp", netip.MustParseAddr(h), 8080, &publication{}); got != want {
			t.Errorf("%s: allocated %v, want %v", h, got, want)
		}
	}
}
