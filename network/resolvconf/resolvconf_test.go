package resolvconf

import (
	"net/netip"
	"strings"
	"testing"
)

const systemdStub = "# managed by systemd-resolved\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch corp.example\n"

func lines(b []byte) []string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

func eq(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLegacyDropsLoopbackStubAndFallsBack(t *testing.T) {
	r := Build(Params{Host: []byte(systemdStub)})
	eq(t, lines(r.Content), "nameserver 8.8.8.8", "nameserver 8.8.4.4", "search corp.example", "options edns0 trust-ad")
	r = Build(Params{Host: []byte(systemdStub), IPv6: true})
	if !strings.Contains(string(r.Content), "nameserver 2001:4860:4860::8888") {
		t.Fatalf("IPv6 defaults missing:\n%s", r.Content)
	}
}

func TestLegacyKeepsRealServersAndFiltersIPv6(t *testing.T) {
	host := "nameserver 192.0.2.53\nnameserver 2001:db8::53\nnameserver 127.0.0.1\nsearch a.example b.example\nsortlist 10.0.0.0\n"
	r := Build(Params{Host: []byte(host)})
	eq(t, lines(r.Content), "nameserver 192.0.2.53", "search a.example b.example", "sortlist 10.0.0.0")
	r = Build(Params{Host: []byte(host), IPv6: true})
	eq(t, lines(r.Content), "nameserver 192.0.2.53", "nameserver 2001:db8::53", "search a.example b.example", "sortlist 10.0.0.0")
}

func TestInternalResolver(t *testing.T) {
	r := Build(Params{Host: []byte(systemdStub), HostPath: "/etc/resolv.conf", Mode: ModeInternal})
	eq(t, lines(r.Content), "nameserver 127.0.0.11", "search corp.example", "options edns0 trust-ad ndots:0")
	if len(r.Upstreams) != 1 || r.Upstreams[0] != (Upstream{Addr: netip.MustParseAddr("127.0.0.53"), HostNS: true}) {
		t.Fatalf("upstreams %v", r.Upstreams)
	}
	if !strings.Contains(string(r.Content), "# ExtServers: [host(127.0.0.53)]") || !strings.Contains(string(r.Content), "(internal resolver)") {
		t.Fatalf("comments:\n%s", r.Content)
	}
}

func TestOverrides(t *testing.T) {
	r := Build(Params{
		Host:       []byte(systemdStub),
		DNS:        []netip.Addr{netip.MustParseAddr("198.51.100.1")},
		DNSSearch:  []string{"."},
		DNSOptions: []string{"ndots:2", "timeout:1"},
	})
	eq(t, lines(r.Content), "nameserver 198.51.100.1", "options ndots:2 timeout:1")
	r = Build(Params{Host: []byte(systemdStub), DNS: []netip.Addr{netip.MustParseAddr("198.51.100.1")}, DNSOptions: []string{"ndots:3"}, Mode: ModeInternal})
	eq(t, lines(r.Content), "nameserver 127.0.0.11", "search corp.example", "options ndots:3")
	// --dns servers are asked from the container's namespace.
	if len(r.Upstreams) != 1 || r.Upstreams[0] != (Upstream{Addr: netip.MustParseAddr("198.51.100.1")}) || !r.NdotsSet {
		t.Fatalf("upstreams %v", r.Upstreams)
	}
}

func TestParse(t *testing.T) {
	f := Parse([]byte("; comment\ndomain x.example\nnameserver bogus\nnameserver 10.0.0.2 \noptions a b\noptions c\n"))
	if len(f.Nameservers) != 1 || f.Search[0] != "x.example" || strings.Join(f.Options, ",") != "a,b,c" {
		t.Fatalf("%+v", f)
	}
}

// dockerd's test hook names the host file, for moby's suite.
func TestHostPathTestHook(t *testing.T) {
	t.Setenv(EnvTestPath, "/tmp/some-resolv.conf")
	if got := HostPath(); got != "/tmp/some-resolv.conf" {
		t.Fatalf("HostPath() = %q", got)
	}
}
