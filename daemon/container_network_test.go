package daemon

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	ctr "github.com/berthd/berth/container"
	berthnet "github.com/berthd/berth/network"
)

func TestPortSpecs(t *testing.T) {
	cfg := &container.Config{ExposedPorts: network.PortSet{
		network.MustParsePort("7000/tcp"): {}, network.MustParsePort("8080/tcp"): {},
	}}
	hc := &container.HostConfig{PublishAllPorts: true, PortBindings: network.PortMap{
		network.MustParsePort("8080/tcp"): {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "18080"}, {HostPort: ""}},
		network.MustParsePort("53/udp"):   {{HostPort: "5300-5310"}},
		network.MustParsePort("9/sctp"):   {{HostPort: "9009"}},
	}}
	reqs, err := portSpecs(cfg, hc)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range reqs {
		got = append(got, fmt.Sprintf("%s %s %d-%d", r.port, r.hostIP, r.hostStart, r.hostEnd))
	}
	want := []string{"53/udp invalid IP 5300-5310", "7000/tcp invalid IP 0-0", "8080/tcp 127.0.0.1 18080-18080", "8080/tcp invalid IP 0-0", "9/sctp invalid IP 9009-9009"}
	if !slices.Equal(got, want) {
		t.Fatalf("portSpecs:\n got %q\nwant %q", got, want)
	}
	for _, bad := range []string{"x", "10-5", "70000"} {
		hc := &container.HostConfig{PortBindings: network.PortMap{network.MustParsePort("80/tcp"): {{HostPort: bad}}}}
		if _, err := portSpecs(&container.Config{}, hc); err == nil {
			t.Errorf("host port %q accepted", bad)
		}
	}
}

func TestValidateEndpointSettings(t *testing.T) {
	def := &berthnet.Record{Name: "bridge", Driver: "bridge", Predefined: true}
	user := &berthnet.Record{Name: "u", Driver: "bridge", IPAMConfig: []network.IPAMConfig{{Subnet: netip.MustParsePrefix("10.5.0.0/24")}}}
	cases := []struct {
		r    *berthnet.Record
		es   network.EndpointSettings
		want string
	}{
		{def, network.EndpointSettings{IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: netip.MustParseAddr("172.17.0.9")}}, "invalid endpoint settings:\nuser specified IP address is supported on user defined networks only"},
		{def, network.EndpointSettings{Aliases: []string{"a"}}, "network-scoped alias is supported only for containers in user defined networks"},
		{def, network.EndpointSettings{Aliases: []string{"a"}, IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: netip.MustParseAddr("172.17.0.9")}}, "invalid endpoint settings:\n* user specified IP address is supported on user defined networks only\n* network-scoped alias"},
		{user, network.EndpointSettings{IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: netip.MustParseAddr("10.6.0.1")}}, "no configured subnet or ip-range contain the IP address 10.6.0.1"},
		{user, network.EndpointSettings{IPAMConfig: &network.EndpointIPAMConfig{IPv6Address: netip.MustParseAddr("fd00::1")}}, "IPv6 is not enabled on network u"},
		{user, network.EndpointSettings{IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: netip.MustParseAddr("10.5.0.9")}, Aliases: []string{"a"}}, ""},
	}
	for i, c := range cases {
		err := validateEndpointSettings(c.r, &c.es)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%d: %v", i, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%d: got %v, want %q", i, err, c.want)
		}
	}
}

func TestPortSummaries(t *testing.T) {
	c := &ctr.Container{NetworkSettings: &container.NetworkSettings{Ports: network.PortMap{
		network.MustParsePort("80/tcp"):  {{HostIP: netip.MustParseAddr("0.0.0.0"), HostPort: "8080"}, {HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "9090"}},
		network.MustParsePort("53/udp"):  nil,
		network.MustParsePort("80/sctp"): nil,
	}}}
	got := portSummaries(c)
	if len(got) != 4 || got[0].PrivatePort != 53 || got[1].Type != "sctp" || got[2].PublicPort != 8080 || got[3].PublicPort != 9090 || got[3].IP.String() != "127.0.0.1" {
		t.Fatalf("portSummaries: %+v", got)
	}
}

func TestNetworkNamesPrimaryFirst(t *testing.T) {
	c := &ctr.Container{HostConfig: &container.HostConfig{NetworkMode: "zeta"}, NetworkConfig: &network.NetworkingConfig{
		EndpointsConfig: map[string]*network.EndpointSettings{"beta": {}, "alpha": {}, "zeta": {}},
	}}
	if got := networkNames(c); !slices.Equal(got, []string{"zeta", "alpha", "beta"}) {
		t.Fatalf("networkNames: %v", got)
	}
	c.HostConfig.NetworkMode = "bridge"
	c.NetworkConfig.EndpointsConfig = map[string]*network.EndpointSettings{"default": {}}
	if got := networkNames(c); !slices.Equal(got, []string{"bridge"}) {
		t.Fatalf("networkNames with the CLI's \"default\": %v", got)
	}
}
