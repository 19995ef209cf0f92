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
