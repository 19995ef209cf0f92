package etchosts

import (
	"net/netip"
	"strings"
	"testing"
)

// The container's own line holds its fully qualified name and the bare
// hostname, also when the hostname itself has the dots.
func TestSelfNamesDottedHostname(t *testing.T) {
	self := []netip.Addr{netip.MustParseAddr("10.0.0.5")}
	for _, tc := range []struct{ host, domain, want string }{
		{"c1.invalid", "", "10.0.0.5\tc1.invalid c1\n"},
		{"a.b", "c.example", "10.0.0.5\ta.b.c.example a\n"},
		{"web", "", "10.0.0.5\tweb\n"},
	} {
		got := string(Build(Params{Hostname: tc.host, Domainname: tc.domain, Self: self}))
		if !strings.HasSuffix(got, tc.want) {
			t.Errorf("hostname %q domain %q:\n%s\nwant last line %q", tc.host, tc.domain, got, tc.want)
		}
	}
}

// A container without IPv6 gets no IPv6 extra entries (host-gateway's
// IPv6 address among them).
func TestNoIPv6DropsIPv6Extras(t *testing.T) {
	extra := []Entry{
		{Addr: netip.MustParseAddr("192.0.2.1"), Names: []string{"hg"}},
		{Addr: netip.MustParseAddr("fd00::1"), Names: []string{"hg"}},
	}
	got := string(Build(Params{Extra: extra}))
	if !strings.Contains(got, "192.0.2.1\thg\n") || strings.Contains(got, "fd00::1") {
		t.Fatalf("without IPv6:\n%s", got)
	}
	if got := string(Build(Params{IPv6: true, Extra: extra})); !strings.Contains(got, "fd00::1\thg\n") {
		t.Fatalf("with IPv6:\n%s", got)
	}
}
