package etchosts

import (
	"net/netip"
	"testing"
)

func TestBuild(t *testing.T) {
	gw := []netip.Addr{netip.MustParseAddr("172.17.0.1")}
	var extra []Entry
	for _, s := range []string{"db:10.1.2.3", "v6host:2001:db8::5", "host.docker.internal:host-gateway", "new=192.0.2.9"} {
		e, err := ParseExtraHost(s, gw)
		if err != nil {
			t.Fatal(err)
		}
		extra = append(extra, e...)
	}
	got := string(Build(Params{IPv6: true, Extra: extra, Self: []netip.Addr{netip.MustParseAddr("172.17.0.2")}, Hostname: "abc123def456"}))
	want := "127.0.0.1\tlocalhost\n" +
		"::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::\tip6-localnet\n" +
		"ff00::\tip6-mcastprefix\n" +
		"ff02::1\tip6-allnodes\n" +
		"ff02::2\tip6-allrouters\n" +
		"10.1.2.3\tdb\n" +
		"2001:db8::5\tv6host\n" +
		"172.17.0.1\thost.docker.internal\n" +
		"192.0.2.9\tnew\n" +
		"172.17.0.2\tabc123def456\n"
	if got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
	got = string(Build(Params{Hostname: "web", Domainname: "example.org", Self: []netip.Addr{netip.MustParseAddr("10.0.0.5")}}))
	if got != "127.0.0.1\tlocalhost\n10.0.0.5\tweb.example.org web\n" {
		t.Fatalf("no ipv6, domain: %q", got)
	}
	if got := string(Build(Params{Hostname: "none-mode"})); got != "127.0.0.1\tlocalhost\n" {
		t.Fatalf("no addresses: %q", got)
	}
}

func TestParseExtraHostErrors(t *testing.T) {
	for _, s := range []string{"noaddr", "x:not-an-ip", ":1.2.3.4"} {
		if _, err := ParseExtraHost(s, nil); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	if _, err := ParseExtraHost("h:host-gateway", nil); err == nil {
		t.Error("host-gateway without a gateway accepted")
	}
}

func TestHostname(t *testing.T) {
	if string(Hostname("abc")) != "abc\n" {
		t.Fatal()
	}
}
